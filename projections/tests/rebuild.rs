//! Rebuilding read models from the event store, on real Postgres and real SQLite: the keyset
//! replay reads every event of a model's aggregate types once, and the rebuilt tables are
//! row for row what the live consumers built, though they saw the aggregates in another order.

use eats_feed::FeedEvent;
use eats_projections::verify::verify;
use eats_projections::ReadModel;
use eats_store::testing::scenario::history;
use eats_store::testing::TestDatabase;
use eats_store::{on_pool, Database};

/// Every table the read models write.
const TABLES: [&str; 7] = [
    "order_view",
    "store_queue",
    "delivery_board",
    "customer_profile",
    "audit_timeline",
    "store_directory",
    "menu_items",
];

async fn execute(db: &Database, sql: &str) {
    on_pool!(db, |pool| {
        sqlx::query(sql).execute(pool).await.map(drop)
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(db: &Database, sql: &str) -> i64 {
    on_pool!(db, |pool| { sqlx::query_scalar(sql).fetch_one(pool).await })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn ids(db: &Database, aggregate_type: &str) -> Vec<String> {
    on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1 \
             ORDER BY aggregate_id DESC",
        )
        .bind(aggregate_type)
        .fetch_all(pool)
        .await
    })
    .expect("ids")
}

/// Feeds `model` every event the way a live consumer could see them: each aggregate's in
/// order, but the aggregates in the opposite order to the rebuild's, one event at a time.
async fn project_live(db: &Database, model: &dyn ReadModel) {
    for aggregate_type in model.aggregate_types().iter().rev() {
        for id in ids(db, aggregate_type).await {
            for stored in db.history(aggregate_type, &id).await.expect("history") {
                let event = FeedEvent::from_serialized(stored).expect("event");
                model.handle(&event).await.expect("apply");
            }
        }
    }
}

/// Both directions of `EXCEPT` are empty: the tables hold the same rows.
async fn assert_same_rows(db: &Database, table: &str, copy: &str) {
    for (a, b) in [(table, copy), (copy, table)] {
        let differing = count(
            db,
            &format!("SELECT count(*) FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b}) d"),
        )
        .await;
        assert_eq!(differing, 0, "{a} has rows {b} lacks");
    }
}

async fn rebuilt_tables_match_what_the_live_consumers_built(db: &Database) {
    history(db, 12).await;
    let models = eats_projections::read_models(db);
    for model in &models {
        project_live(db, model.as_ref()).await;
    }
    for table in TABLES {
        execute(
            db,
            &format!("CREATE TABLE live_{table} AS SELECT * FROM {table}"),
        )
        .await;
        assert!(count(db, &format!("SELECT count(*) FROM {table}")).await > 0);
    }

    for model in &models {
        // A page smaller than one aggregate's history: pages end mid-aggregate.
        let read = model.rebuild(3).await.expect("rebuild");
        let types = model
            .aggregate_types()
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let expected = count(
            db,
            &format!("SELECT count(*) FROM events WHERE aggregate_type IN ({types})"),
        )
        .await;
        assert_eq!(
            read,
            expected as u64,
            "{} reads each event once",
            model.name()
        );
    }
    for table in TABLES {
        assert_same_rows(db, table, &format!("live_{table}")).await;
    }
    let report = verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);

    // A damaged view, rebuilt by name: repaired to the same rows.
    execute(db, "UPDATE order_view SET status = 'delivered', total = 0").await;
    execute(db, "DELETE FROM order_view WHERE payment_status IS NULL").await;
    let order_view = models
        .iter()
        .find(|model| model.name() == "order_view")
        .expect("order_view");
    order_view.rebuild(500).await.expect("rebuild");
    assert_same_rows(db, "order_view", "live_order_view").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_rebuilt_tables_match_what_the_live_consumers_built() {
    let test = TestDatabase::postgres().await;
    rebuilt_tables_match_what_the_live_consumers_built(&test.db).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_rebuilt_tables_match_what_the_live_consumers_built() {
    let test = TestDatabase::sqlite().await;
    rebuilt_tables_match_what_the_live_consumers_built(&test.db).await;
    test.cleanup().await;
}

/// The order view applies a live batch in parts at once on Postgres (one per group of
/// orders): fed its events in mixed batches, it holds the rows a rebuild makes, and every
/// position is the aggregate's last event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_view_applied_in_split_batches_matches_its_rebuild() {
    let test = TestDatabase::postgres().await;
    let db = &test.db;
    history(db, 16).await;
    let models = eats_projections::read_models(db);
    let order_view = models
        .iter()
        .find(|model| model.name() == "order_view")
        .expect("order_view");
    // Each aggregate's events in order, the aggregates interleaved as a live stream has them.
    let mut histories = Vec::new();
    for aggregate_type in order_view.aggregate_types() {
        for id in ids(db, aggregate_type).await {
            let history = db.history(aggregate_type, &id).await.expect("history");
            histories.push(
                history
                    .into_iter()
                    .map(|e| FeedEvent::from_serialized(e).expect("event")),
            );
        }
    }
    let mut stream = Vec::new();
    while !histories.is_empty() {
        histories.retain_mut(|history| match history.next() {
            Some(event) => {
                stream.push(event);
                true
            }
            None => false,
        });
    }
    for batch in stream.chunks(40) {
        order_view.handle_batch(batch).await.expect("batch");
    }
    execute(
        db,
        "CREATE TABLE live_order_view AS SELECT * FROM order_view",
    )
    .await;
    let behind = count(
        db,
        "SELECT count(*) FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS last \
         FROM events WHERE aggregate_type IN ('Order', 'Payment', 'Delivery') \
         GROUP BY aggregate_type, aggregate_id) e LEFT JOIN projection_positions p \
         ON p.projection = 'order_view' AND p.aggregate_type = e.aggregate_type \
         AND p.aggregate_id = e.aggregate_id WHERE p.sequence IS DISTINCT FROM e.last",
    )
    .await;
    assert_eq!(
        behind, 0,
        "aggregates whose position is not their last event"
    );
    order_view.rebuild(500).await.expect("rebuild");
    assert_same_rows(db, "order_view", "live_order_view").await;
    test.cleanup().await;
}
