//! Rebuilding read models from the event store, on real Postgres and real SQLite: the
//! keyset replay reads every event once and the rebuilt views agree with the aggregates.

use eats_projections::verify::verify;
use eats_store::testing::TestDatabase;
use eats_store::{on_pool, Database};

use eats_store::testing::scenario::history;

async fn event_count(db: &Database) -> i64 {
    on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
    })
    .expect("count")
}

async fn rebuilt_views_agree_with_the_events(db: &Database) {
    history(db, 12).await;
    let events = event_count(db).await;
    let mut read_by_all = 0;
    for model in eats_projections::read_models(db) {
        // A batch smaller than one aggregate's history: pages end mid-aggregate.
        read_by_all += model.rebuild(3).await.expect("rebuild");
    }
    let report = verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(report.checked > 12);
    assert!(
        read_by_all >= events as u64,
        "every event read by some model"
    );

    // Damage, then rebuild one model by name: repaired, and a second rebuild is the same.
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM order_view")
            .execute(pool)
            .await
            .map(drop)
    })
    .expect("damage");
    assert!(!verify(db).await.expect("verify").mismatches.is_empty());
    let order_view = eats_projections::read_models(db)
        .into_iter()
        .find(|model| model.name() == "order_view")
        .expect("order_view");
    let first = order_view.rebuild(500).await.expect("rebuild");
    assert_eq!(order_view.rebuild(500).await.expect("again"), first);
    let report = verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_rebuilt_views_agree_with_the_events() {
    let test = TestDatabase::postgres().await;
    rebuilt_views_agree_with_the_events(&test.db).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_rebuilt_views_agree_with_the_events() {
    let test = TestDatabase::sqlite().await;
    rebuilt_views_agree_with_the_events(&test.db).await;
    test.cleanup().await;
}
