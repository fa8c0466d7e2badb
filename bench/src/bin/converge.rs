//! Places many orders with the projectors stopped, starts them, and checks that every view
//! converges, row by row against the event store.
//!
//! `cargo run --release -p eats-bench --bin converge -- --mode distributed --orders 10000`

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use eats_bench::{fresh, Mode, Pipeline};
use eats_projections::verify::verify;
use eats_store::testing::scenario::{self, Stage};
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    /// Embedded (SQLite) or distributed (Postgres + NATS).
    #[arg(long, value_enum)]
    mode: Mode,
    /// Orders to place.
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// Commands in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// The same number of single-row autocommit inserts, at the same concurrency, on the same
/// database: what the hardware gives with no framework at all.
async fn raw_inserts_per_sec(
    db: &eats_store::Database,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let gate = Arc::new(Semaphore::new(concurrency));
    let create = "CREATE TABLE bench_raw (id text PRIMARY KEY, payload text NOT NULL)";
    let insert = "INSERT INTO bench_raw (id, payload) VALUES ($1, $2)";
    let payload =
        json!({"OrderPlaced": {"lines": [{"quantity": 1, "unit_price": 4500}], "total": 4500}})
            .to_string();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    eats_store::on_pool!(db, |pool| {
        sqlx::query(create).execute(pool).await.map(drop)
    })?;
    for _ in 0..n {
        let (db, gate, payload) = (db.clone(), gate.clone(), payload.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let id = uuid::Uuid::new_v4().to_string();
            eats_store::on_pool!(db, |pool| {
                sqlx::query(insert)
                    .bind(&id)
                    .bind(&payload)
                    .execute(pool)
                    .await
                    .map(drop)
            })
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (test, nats) = fresh(args.mode).await?;
    let db = test.db.clone();
    let aggregates = scenario::aggregates(&db);

    let mut stores = Vec::new();
    for _ in 0..20 {
        stores.push(scenario::open_store(&aggregates).await);
    }
    let mut customers = Vec::new();
    for _ in 0..200 {
        customers.push(scenario::register_customer(&aggregates).await);
    }

    // 60% placed only, 20% paid, 10% cancelled after payment, 10% delivered.
    let stages = [
        Stage::Placed,
        Stage::Placed,
        Stage::Placed,
        Stage::Placed,
        Stage::Placed,
        Stage::Placed,
        Stage::Paid,
        Stage::Paid,
        Stage::Cancelled,
        Stage::Delivered,
    ];
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.orders {
        let (aggregates, gate) = (aggregates.clone(), gate.clone());
        let (store, customer) = (stores[i % stores.len()], customers[i % customers.len()]);
        let stage = stages[i % stages.len()];
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            scenario::drive_order(&aggregates, store, customer, 1 + (i % 3) as u32, stage).await;
        });
    }
    while let Some(result) = tasks.join_next().await {
        result?;
    }
    let placing = started.elapsed();
    let events: i64 = eats_store::on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
    })?;
    let commands_per_sec = events as f64 / placing.as_secs_f64();

    let pipeline = Pipeline::start(&db, nats.as_ref(), eats_projections::all(&db))?;
    let catch_up = pipeline.wait_caught_up(Duration::from_secs(1_800)).await?;
    pipeline.stop().await;
    let report = verify(&db).await?;
    let raw = raw_inserts_per_sec(&db, 10_000, args.concurrency).await?;

    let summary = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "orders": args.orders,
        "events": events,
        "placing_seconds": placing.as_secs_f64(),
        "events_committed_per_sec": commands_per_sec,
        "raw_inserts_per_sec": raw,
        "events_per_sec_over_raw_inserts": commands_per_sec / raw,
        "catch_up_seconds": catch_up.as_secs_f64(),
        "events_projected_per_sec_per_view": events as f64 / catch_up.as_secs_f64(),
        "rows_checked": report.checked,
        "mismatches": report.mismatches.len(),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some((jetstream, topology)) = nats {
        let _ = jetstream.delete_stream(&topology.stream).await;
    }
    test.cleanup().await;
    anyhow::ensure!(
        report.mismatches.is_empty(),
        "views disagree with the event store: {:#?}",
        report.mismatches
    );
    Ok(())
}
