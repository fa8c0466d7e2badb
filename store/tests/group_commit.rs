//! SQLite appends that wait for the writer together are committed together, each still
//! atomic and under its own optimistic lock. A binary of its own: it installs the process's
//! metrics recorder to count the writer's turns.

use std::collections::HashMap;

use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use eats_domain::order::Order;
use eats_store::testing::{writer_turns, TestDatabase};
use eats_store::Backend;
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;

fn event(aggregate_id: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent {
        aggregate_id: aggregate_id.to_string(),
        sequence,
        aggregate_type: "Order".into(),
        event_type: "OrderPlaced".into(),
        event_version: "1".into(),
        payload: json!({ "n": sequence }),
        metadata: json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_waiting_for_the_writer_commit_in_one_turn_each_atomic_and_locked() {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this binary");
    let test = TestDatabase::sqlite().await;
    let db = test.db.clone();
    let repo = db.repository::<Order>();
    let before = writer_turns(&metrics.render(), "commands");

    // Another writer holds the turn while 20 appends arrive: two of them race for the same
    // sequence of one order, and one of them is two events.
    let turn = db.write_turn("test").await;
    let batches: Vec<Vec<SerializedEvent>> = (0..20)
        .map(|i| match i {
            0 => vec![event("raced", 1), event("raced", 2)],
            1 => vec![event("raced", 1)],
            _ => vec![event(&format!("order-{i}"), 1)],
        })
        .collect();
    let appending = {
        let repo = db.repository::<Order>();
        // `join_all` polls them in this order: they queue in this order.
        tokio::spawn(async move {
            futures::future::join_all(
                batches
                    .iter()
                    .map(|events| repo.persist::<Order>(events, None)),
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(turn);
    let outcomes = appending.await.expect("the appends' task");

    assert!(
        outcomes[0].is_ok(),
        "the first of the race wins: {:?}",
        outcomes[0]
    );
    assert!(
        matches!(outcomes[1], Err(PersistenceError::OptimisticLockError)),
        "the second of the race loses alone: {:?}",
        outcomes[1]
    );
    assert!(outcomes[2..].iter().all(Result::is_ok), "{outcomes:?}");
    let taken = writer_turns(&metrics.render(), "commands") - before;
    assert!(
        taken <= 2,
        "20 appends waiting together took {taken} turns of the writer, not one or two"
    );

    let Backend::Sqlite(pool) = db.backend() else {
        panic!("a SQLite store");
    };
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT aggregate_id, sequence FROM events ORDER BY rowid")
            .fetch_all(pool)
            .await
            .expect("reading the log");
    assert_eq!(
        stored.len(),
        20,
        "2 of the winner, none of the loser, 18 others"
    );
    let per_order: HashMap<&str, usize> = stored.iter().fold(HashMap::new(), |mut n, (id, _)| {
        *n.entry(id.as_str()).or_default() += 1;
        n
    });
    assert_eq!(per_order["raced"], 2);
    let raced = repo.get_events::<Order>("raced").await.expect("loading");
    assert_eq!(
        raced.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
        vec![json!({ "n": 1 }), json!({ "n": 2 })],
        "the winner's events, whole and in order"
    );
    test.cleanup().await;
}

#[test]
fn appends_go_on_after_the_runtime_that_opened_the_store_is_gone() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let opening = runtime();
    let test = opening.block_on(TestDatabase::sqlite());
    // The appender's task ends with the runtime it was started on.
    drop(opening);
    let later = runtime();
    later.block_on(async {
        let repo = test.db.repository::<Order>();
        repo.persist::<Order>(&[event("after", 1)], None)
            .await
            .expect("appended directly");
        let stored = repo.get_events::<Order>("after").await.expect("loading");
        assert_eq!(stored.len(), 1);
        test.cleanup().await;
    });
}
