//! Event-to-view lag with everything running: orders arrive at a steady rate and each
//! order-view write records how long after its command the view had it.
//!
//! `cargo run --release -p eats-bench --bin lag -- --mode embedded --orders 2000 --rate 100`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use clap::Parser;
use eats_bench::{fresh, percentile, Mode, Pipeline};
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_projections::order_view::OrderViewProjection;
use eats_projections::Projector;
use eats_store::testing::scenario::{self, Stage};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Embedded (SQLite) or distributed (Postgres + NATS).
    #[arg(long, value_enum)]
    mode: Mode,
    /// Orders to place.
    #[arg(long, default_value_t = 2_000)]
    orders: usize,
    /// Orders per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
}

/// The order view projector, timing each event from its command to its committed view row.
struct Timed {
    inner: Projector<OrderViewProjection>,
    lags_ms: Mutex<Vec<f64>>,
}

impl Timed {
    fn record(&self, events: &[FeedEvent]) {
        let now = Utc::now();
        let mut lags = self.lags_ms.lock().expect("lock");
        for event in events {
            if let Some(at) = event.occurred_at() {
                lags.push((now - at).num_microseconds().unwrap_or_default() as f64 / 1e3);
            }
        }
    }
}

#[async_trait]
impl EventHandler for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aggregate_types(&self) -> &[&'static str] {
        self.inner.aggregate_types()
    }
    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.inner.handle(event).await?;
        self.record(std::slice::from_ref(event));
        Ok(())
    }
    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        self.inner.handle_batch(events).await?;
        self.record(events);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (test, nats) = fresh(args.mode).await?;
    let db = test.db.clone();
    let aggregates = scenario::aggregates(&db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;

    let timed = Arc::new(Timed {
        inner: Projector::new(OrderViewProjection, db.clone()),
        lags_ms: Mutex::new(Vec::new()),
    });
    let mut handlers = eats_projections::all(&db);
    handlers[0] = timed.clone();
    let pipeline = Pipeline::start(&db, nats.as_ref(), handlers)?;
    pipeline.wait_caught_up(Duration::from_secs(60)).await?;
    timed.lags_ms.lock().expect("lock").clear();

    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.orders {
        tick.tick().await;
        let aggregates = aggregates.clone();
        tasks.spawn(async move {
            scenario::drive_order(&aggregates, store, customer, 1, Stage::Placed).await;
        });
    }
    while let Some(result) = tasks.join_next().await {
        result?;
    }
    pipeline.wait_caught_up(Duration::from_secs(300)).await?;
    pipeline.stop().await;

    let mut lags = timed.lags_ms.lock().expect("lock").clone();
    lags.sort_by(f64::total_cmp);
    let summary = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "orders": args.orders,
        "rate_per_sec": args.rate,
        "events_timed": lags.len(),
        "lag_ms_p50": percentile(&lags, 50.0),
        "lag_ms_p90": percentile(&lags, 90.0),
        "lag_ms_p99": percentile(&lags, 99.0),
        "lag_ms_max": lags.last().copied().unwrap_or_default(),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some((jetstream, topology)) = nats {
        let _ = jetstream.delete_stream(&topology.stream).await;
    }
    test.cleanup().await;
    Ok(())
}
