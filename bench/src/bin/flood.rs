//! A notification flood must not slow orders. Thousands of status changes are committed in a
//! few seconds against a provider that answers each message in 2 s; while the notifier works
//! through that backlog (recording, claiming, shedding, sending), probe orders are placed and
//! their command latency is compared, in the same run, with probe orders placed before the
//! flood while the notifier was idle, and again after it drained. Then: messages sent and
//! shed (by reason), the process's memory during and after, and whether each order's last
//! message is its newest status.
//!
//! `cargo run --release -p eats-bench --bin flood -- --orders 500 --probes 300`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use eats_bench::{percentile, Pipeline};
use eats_domain::{Actor, EventMetadata, OrderId};
use eats_notify::provider::webhook::WebhookSender;
use eats_notify::{records, Dispatcher, Notifier, NotifySettings, Provider};
use eats_store::testing::scenario::{self, OpenStore, Stage};
use eats_store::testing::TestDatabase;
use eats_store::{Aggregates, Database};
use futures::StreamExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Response, Server};

#[derive(Parser)]
struct Args {
    /// Orders driven through their whole lifecycle in the flood (about 11 messages each).
    #[arg(long, default_value_t = 500)]
    orders: usize,
    /// Probe orders placed before and again during the flood.
    #[arg(long, default_value_t = 300)]
    probes: usize,
    /// How long the stand-in provider takes per message, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    provider_ms: u64,
}

/// A provider stand-in that answers every message after `delay`, counting them.
async fn slow_provider(delay: Duration, calls: Arc<AtomicU64>) -> anyhow::Result<String> {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = *acceptor.local_addr()[0]
        .as_socket_addr()
        .ok_or_else(|| anyhow::anyhow!("no socket address"))?;
    let endpoint = poem::endpoint::make(move |_request: poem::Request| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            Response::builder().body("{}")
        }
    });
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(endpoint).await });
    Ok(format!("http://{addr}/hook"))
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Places `n` orders one after another; returns each command's latency in ms, sorted.
async fn probe(aggregates: &Aggregates, store: OpenStore, n: usize) -> anyhow::Result<Vec<f64>> {
    let customer = scenario::register_customer(aggregates).await;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let order = OrderId::new();
        let metadata =
            EventMetadata::for_command(order.0, Actor::Customer(customer), chrono::Utc::now())
                .to_map();
        let started = Instant::now();
        aggregates
            .orders
            .execute_with_metadata(
                &order.to_string(),
                scenario::place_order(order, store, customer, 1),
                metadata,
            )
            .await?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

async fn count(db: &Database, sql: &str) -> anyhow::Result<Vec<(String, Option<String>, i64)>> {
    Ok(eats_store::on_pool!(db, |pool| sqlx::query_as(sql)
        .fetch_all(pool)
        .await)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let test = TestDatabase::sqlite().await;
    let db = test.db.clone();
    let aggregates = scenario::aggregates(&db);
    let store = scenario::open_store(&aggregates).await;

    let calls = Arc::new(AtomicU64::new(0));
    let url = slow_provider(Duration::from_millis(args.provider_ms), calls.clone()).await?;
    let provider: Arc<dyn Provider> =
        Arc::new(WebhookSender::new(&url, "bench", Duration::from_secs(10))?);
    let wake = Arc::new(tokio::sync::Notify::new());
    let notifier = Arc::new(Notifier::new(db.clone(), provider.clone(), wake.clone()));
    let settings = NotifySettings {
        concurrency: 64,
        ..NotifySettings::default()
    };
    let dispatcher = Dispatcher::new(db.clone(), provider, settings, wake);
    let pipeline = Pipeline::start(&db, None, vec![notifier])?;
    let shutdown = pipeline.shutdown.clone();
    let sender = tokio::spawn(async move { dispatcher.run(shutdown).await });

    let quiet = probe(&aggregates, store, args.probes).await?;
    pipeline.wait_caught_up(Duration::from_secs(300)).await?;
    let rss_before = rss_mib();

    let flood_started = Instant::now();
    let customers: Vec<_> = futures::stream::iter(0..args.orders.div_ceil(5))
        .then(|_| scenario::register_customer(&aggregates))
        .collect()
        .await;
    futures::stream::iter(0..args.orders)
        .map(|i| {
            scenario::drive_order(
                &aggregates,
                store,
                customers[i % customers.len()],
                1,
                Stage::Delivered,
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let events: i64 =
        eats_store::on_pool!(db, |pool| sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await)?;
    let backlog_at_probe = pipeline.backlog().await? as i64 + records::queue_depth(&db).await?;
    let flooded = probe(&aggregates, store, args.probes).await?;
    let backlog_after_probe = pipeline.backlog().await? as i64 + records::queue_depth(&db).await?;
    let rss_during = rss_mib();

    pipeline.wait_caught_up(Duration::from_secs(600)).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while records::queue_depth(&db).await? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the notifier did not drain within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_secs = flood_started.elapsed().as_secs_f64();
    let rss_after = rss_mib();
    // Idle again: a second idle sample after the flood, so a machine that got busier or
    // quieter during the run shows as a difference between the two idle samples.
    let quiet_after = probe(&aggregates, store, args.probes).await?;
    pipeline.wait_caught_up(Duration::from_secs(300)).await?;
    while records::queue_depth(&db).await? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline + Duration::from_secs(300),
            "the notifier did not drain the last probes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pipeline.stop().await;
    let _ = sender.await;

    // The notifier's records are in its own database (notify.db beside the event store).
    let records_db = db.for_notifications();
    let outcomes = count(&records_db, "SELECT state, reason, count(*) FROM notifications GROUP BY state, reason ORDER BY state, reason").await?;
    // Each order's newest message to its customer must have been sent.
    let newest_not_sent: i64 = eats_store::on_pool!(records_db, |pool| {
        sqlx::query_scalar(
        "SELECT count(*) FROM notifications n WHERE n.recipient LIKE 'customer:%' AND n.order_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM notifications m WHERE m.order_id = n.order_id AND m.recipient = n.recipient \
           AND (m.occurred_at > n.occurred_at OR (m.occurred_at = n.occurred_at AND m.rank > n.rank))) \
         AND n.state <> 'sent'"
    )
    .fetch_one(pool)
    .await
    })?;
    let orders_with_messages: i64 = eats_store::on_pool!(records_db, |pool| sqlx::query_scalar(
        "SELECT count(DISTINCT order_id) FROM notifications WHERE recipient LIKE 'customer:%'"
    )
    .fetch_one(pool)
    .await)?;

    let p = |v: &[f64], q| percentile(v, q);
    println!("flood: {} orders to delivered, {events} events committed in {flood_secs:.1} s; provider answers in {} ms", args.orders, args.provider_ms);
    println!("notifier backlog (events + queued messages) when the flooded probes started / ended: {backlog_at_probe} / {backlog_after_probe}");
    println!(
        "place-order latency, {} probes each, p50 / p99 ms:",
        args.probes
    );
    println!(
        "  notifier idle:    {:.2} / {:.2}",
        p(&quiet, 50.0),
        p(&quiet, 99.0)
    );
    println!(
        "  notifier flooded: {:.2} / {:.2}",
        p(&flooded, 50.0),
        p(&flooded, 99.0)
    );
    println!(
        "  notifier idle again after the flood: {:.2} / {:.2}",
        p(&quiet_after, 50.0),
        p(&quiet_after, 99.0)
    );
    let mut both_idle = [quiet.clone(), quiet_after.clone()].concat();
    both_idle.sort_by(f64::total_cmp);
    println!(
        "  ratio flooded / idle before: p50 {:.2}, p99 {:.2}",
        p(&flooded, 50.0) / p(&quiet, 50.0),
        p(&flooded, 99.0) / p(&quiet, 99.0)
    );
    println!(
        "  ratio flooded / both idle samples: p50 {:.2}, p99 {:.2}",
        p(&flooded, 50.0) / p(&both_idle, 50.0),
        p(&flooded, 99.0) / p(&both_idle, 99.0)
    );
    println!(
        "provider calls: {}; drained {drained_secs:.1} s after the flood began",
        calls.load(Ordering::Relaxed)
    );
    for (state, reason, n) in &outcomes {
        println!("  {state:<8} {:<14} {n}", reason.as_deref().unwrap_or("-"));
    }
    println!(
        "orders whose newest message was not sent: {newest_not_sent} of {orders_with_messages}"
    );
    println!("resident memory MiB: before the flood {rss_before:.1}, during {rss_during:.1}, after {rss_after:.1}");
    test.cleanup().await;
    Ok(())
}
