//! An embedded consumer saves its checkpoint at most every 200 ms, not after every batch,
//! whether it is behind or keeping up: each save is a turn of SQLite's one writer. A binary of its own: it installs the
//! process's metrics recorder to count the writer's turns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use eats_domain::order::Order;
use eats_feed::{EmbeddedFeed, EventHandler, FeedEvent, HandlerError};
use eats_store::testing::{writer_turns, TestDatabase};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Counting(AtomicUsize);

#[async_trait]
impl EventHandler for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn aggregate_types(&self) -> &[&'static str] {
        &["Order"]
    }

    async fn handle(&self, _: &FeedEvent) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The first event of order `i`.
fn placed(i: usize) -> SerializedEvent {
    SerializedEvent {
        aggregate_id: format!("order-{i}"),
        sequence: 1,
        aggregate_type: "Order".into(),
        event_type: "OrderPlaced".into(),
        event_version: "1".into(),
        payload: serde_json::json!({}),
        metadata: serde_json::json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_saves_its_checkpoint_in_time_not_per_batch_behind_or_keeping_up() {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this binary");
    let test = TestDatabase::sqlite().await;
    let repo = test.db.repository::<Order>();
    const EVENTS: usize = 60;
    for i in 0..EVENTS {
        repo.persist::<Order>(&[placed(i)], None)
            .await
            .expect("appended");
    }
    let before = writer_turns(&metrics.render(), "checkpoints");
    // One event per batch: 60 batches.
    let feed = EmbeddedFeed::new(&test.db).expect("embedded").with_batch(1);
    let handler = Arc::new(Counting::default());
    let shutdown = CancellationToken::new();
    let running = {
        let (feed, handler, shutdown) = (feed.clone(), handler.clone(), shutdown.clone());
        tokio::spawn(async move { feed.run(handler.as_ref(), shutdown).await })
    };
    let started = Instant::now();
    while feed.checkpoint("counting").await.expect("checkpoint") < EVENTS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    assert_eq!(handler.0.load(Ordering::SeqCst), EVENTS, "each event once");
    let saves = writer_turns(&metrics.render(), "checkpoints") - before;
    // One save per 200 ms of work, one when caught up, and a margin for a slow machine.
    let most = took.as_millis() as u64 / 200 + 3;
    assert!(
        saves <= most,
        "{saves} checkpoint saves for {EVENTS} batches in {took:?} (at most {most})"
    );

    // Keeping up with events that come one at a time: a read after each finds nothing, and
    // the checkpoint is still saved in time, not after every event.
    let before = writer_turns(&metrics.render(), "checkpoints");
    let started = Instant::now();
    for i in EVENTS..2 * EVENTS {
        repo.persist::<Order>(&[placed(i)], None)
            .await
            .expect("appended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while feed.checkpoint("counting").await.expect("checkpoint") < 2 * EVENTS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        2 * EVENTS,
        "each event once"
    );
    let saves = writer_turns(&metrics.render(), "checkpoints") - before;
    let most = took.as_millis() as u64 / 200 + 3;
    assert!(
        saves <= most,
        "{saves} checkpoint saves for {EVENTS} events kept up with in {took:?} (at most {most})"
    );

    shutdown.cancel();
    running.await.expect("stopped");
    test.cleanup().await;
}
