//! The embedded feed driving all five projections on a real SQLite file: restarts, kills
//! and live traffic, checked row by row against the event store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eats_feed::{DecodeError, EmbeddedFeed, EventHandler, FeedEvent};
use eats_projections::sql::Write;
use eats_projections::verify::verify;
use eats_projections::{Projection, Projector};
use eats_store::testing::TestDatabase;
use eats_store::{Backend, Database};
use tokio_util::sync::CancellationToken;

use eats_store::testing::scenario::history;

/// Adds one per applied event, so a double application would show.
struct Tally;

impl Projection for Tally {
    const NAME: &'static str = "tally";
    const AGGREGATE_TYPES: &'static [&'static str] =
        &["Order", "Payment", "Delivery", "Store", "Customer"];
    const TABLES: &'static [&'static str] = &["tally"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        Ok(vec![Write::new(
            "INSERT INTO tally (aggregate_id, applied) VALUES ($1, 1) \
             ON CONFLICT (aggregate_id) DO UPDATE SET applied = tally.applied + 1",
            vec![event.aggregate_id.as_str().into()],
        )])
    }
}

fn sqlite(db: &Database) -> &sqlx::SqlitePool {
    match db.backend() {
        Backend::Sqlite(pool) => pool,
        Backend::Postgres(_) => panic!("sqlite"),
    }
}

fn consumers(db: &Database) -> Vec<Arc<dyn EventHandler>> {
    let mut all = eats_projections::all(db);
    all.push(Arc::new(Projector::new(Tally, db.clone())));
    all
}

/// Runs every consumer on the embedded feed until `shutdown`.
fn start(db: &Database, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    start_polling(db, shutdown, Duration::from_millis(500))
}

/// Like [`start`], looking for commits by other processes every `poll`.
fn start_polling(
    db: &Database,
    shutdown: CancellationToken,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    let feed = EmbeddedFeed::new(db)
        .expect("embedded")
        .with_batch(16)
        .with_poll(poll);
    let handlers = consumers(db);
    tokio::spawn(async move {
        let runs = handlers
            .iter()
            .map(|h| feed.run(h.as_ref(), shutdown.clone()));
        futures::future::join_all(runs).await;
    })
}

/// The consumers still behind, with how far (an unreadable lag counts as behind).
async fn behind(db: &Database) -> Vec<String> {
    let feed = EmbeddedFeed::new(db).expect("embedded");
    let mut behind = Vec::new();
    for handler in consumers(db) {
        match feed.lag(handler.name(), handler.aggregate_types()).await {
            Ok(lag) if lag.events == 0 => {}
            Ok(lag) => behind.push(format!("{}: {} events", handler.name(), lag.events)),
            Err(error) => behind.push(format!("{}: {error}", handler.name())),
        }
    }
    behind
}

async fn caught_up(db: &Database) -> bool {
    behind(db).await.is_empty()
}

/// Waits for every consumer to reach the end of the log. The bound is generous (a loaded CI
/// machine fsyncs slowly); the panic names who is behind and the log shows why.
async fn wait_caught_up(db: &Database) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let behind = behind(db).await;
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections did not catch up: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh SQLite store with the tally table, logging to the test's output.
async fn tallied_sqlite() -> TestDatabase {
    log_to_test_output();
    let test = TestDatabase::sqlite().await;
    sqlx::query("CREATE TABLE tally (aggregate_id text PRIMARY KEY, applied integer NOT NULL)")
        .execute(sqlite(&test.db))
        .await
        .expect("tally table");
    test
}

/// Shows the consumers' warnings and errors in a failing test's output.
fn log_to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
}

async fn assert_exactly_once(db: &Database) {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT e.aggregate_id, count(*), COALESCE(max(t.applied), 0) FROM events e \
         LEFT JOIN tally t ON t.aggregate_id = e.aggregate_id GROUP BY e.aggregate_id",
    )
    .fetch_all(sqlite(db))
    .await
    .expect("tallies");
    assert!(!rows.is_empty());
    for (aggregate, events, applied) in rows {
        assert_eq!(
            applied, events,
            "{aggregate}: every event applied exactly once"
        );
    }
    let report = verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(report.checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_feed_survives_kills_and_restarts_and_applies_every_event_once() {
    log_to_test_output();
    let test = TestDatabase::sqlite().await;
    let data_dir = test.data_dir.clone().expect("folder");
    sqlx::query("CREATE TABLE tally (aggregate_id text PRIMARY KEY, applied integer NOT NULL)")
        .execute(sqlite(&test.db))
        .await
        .expect("tally table");
    history(&test.db, 30).await;

    let mut db = test.db.clone();
    for round in 0..12u64 {
        if caught_up(&db).await {
            break;
        }
        let task = start(&db, CancellationToken::new());
        tokio::time::sleep(Duration::from_millis(15 + (round * 17) % 50)).await;
        task.abort();
        let _ = task.await;
        if round % 3 == 2 {
            // A process restart: a new pool on the same file.
            db = Database::open_sqlite(&data_dir).await.expect("reopen");
        }
    }
    let shutdown = CancellationToken::new();
    let task = start(&db, shutdown.clone());
    wait_caught_up(&db).await;
    shutdown.cancel();
    task.await.expect("stops cleanly");

    assert_exactly_once(&db).await;
    let max_rowid: i64 = sqlx::query_scalar("SELECT max(rowid) FROM events")
        .fetch_one(sqlite(&db))
        .await
        .expect("max");
    let feed = EmbeddedFeed::new(&db).expect("embedded");
    assert_eq!(
        feed.checkpoint("order_view").await.expect("checkpoint"),
        max_rowid
    );
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_wake_running_consumers_and_every_view_converges() {
    let test = tallied_sqlite().await;
    let shutdown = CancellationToken::new();
    // No polling to fall back on: only the commits' wake-ups can move the consumers.
    let task = start_polling(&test.db, shutdown.clone(), Duration::from_secs(3600));
    history(&test.db, 10).await;
    wait_caught_up(&test.db).await;
    shutdown.cancel();
    task.await.expect("stops cleanly");
    assert_exactly_once(&test.db).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reports_a_view_that_disagrees_with_the_events() {
    let test = tallied_sqlite().await;
    history(&test.db, 5).await;
    let shutdown = CancellationToken::new();
    let task = start(&test.db, shutdown.clone());
    wait_caught_up(&test.db).await;
    shutdown.cancel();
    task.await.expect("stops");
    sqlx::query("UPDATE order_view SET status = 'delivered' WHERE status = 'paid'")
        .execute(sqlite(&test.db))
        .await
        .expect("tamper");
    let report = verify(&test.db).await.expect("verify");
    assert_eq!(report.mismatches.len(), 1, "{:#?}", report.mismatches);
    assert!(report.mismatches[0].contains("view says delivered, events say paid"));
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_while_consumers_run_and_orders_keep_coming_converges() {
    let test = tallied_sqlite().await;
    history(&test.db, 15).await;
    let shutdown = CancellationToken::new();
    let task = start(&test.db, shutdown.clone());
    wait_caught_up(&test.db).await;
    sqlx::query("CREATE TABLE order_view_before AS SELECT * FROM order_view")
        .execute(sqlite(&test.db))
        .await
        .expect("copy");
    // A damaged view, to be repaired by the rebuild.
    sqlx::query("UPDATE order_view SET status = 'delivered', total = 0")
        .execute(sqlite(&test.db))
        .await
        .expect("tamper");
    assert!(!verify(&test.db)
        .await
        .expect("verify")
        .mismatches
        .is_empty());

    // Rebuild every read model (small batches, so it interleaves with the live consumers)
    // while new orders are committed and projected.
    let writer = tokio::spawn({
        let db = test.db.clone();
        async move { history(&db, 10).await }
    });
    for model in eats_projections::read_models(&test.db) {
        let events = model.rebuild(7).await.expect("rebuild");
        assert!(events > 0, "{} read nothing", model.name());
    }
    writer.await.expect("writer");
    wait_caught_up(&test.db).await;
    shutdown.cancel();
    task.await.expect("stops cleanly");
    // Every view agrees with the events, the orders from before are row for row what the
    // live consumers had built, and the live consumers still applied each event exactly once
    // (the tally is not a read model the rebuild touches).
    assert_exactly_once(&test.db).await;
    let changed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT * FROM order_view_before EXCEPT SELECT * FROM order_view)",
    )
    .fetch_one(sqlite(&test.db))
    .await
    .expect("compare");
    assert_eq!(changed, 0);
    test.cleanup().await;
}
