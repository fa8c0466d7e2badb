//! `eats replay --projection NAME ...` repairs one read model from the event store and
//! nothing else: after replaying a cancelled, refunded order (by aggregate, by type, by time)
//! the damaged view row is right again, while no event was appended, no second refund made
//! and no notification recorded. On SQLite and on Postgres with NATS.

use std::process::Command;
use std::time::Duration;

use common::api::{
    delete_nats_stream, distributed, eventually, namespace, open_store, order_status, place,
    registered_customer,
};
use common::{Server, EATS};
use eats_store::testing::TestDatabase;
use eats_store::{on_pool, Database};
use serde_json::{json, Value};

mod common;

async fn scalar(db: &Database, sql: &str) -> i64 {
    on_pool!(db, |pool| { sqlx::query_scalar(sql).fetch_one(pool).await })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn execute(db: &Database, sql: &str) {
    on_pool!(db, |pool| {
        sqlx::query(sql).execute(pool).await.map(drop)
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn replay(env: &[(&str, String)], args: &[&str]) -> Value {
    let output = Command::new(EATS)
        .arg("replay")
        .args(args)
        .arg("--json")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run eats replay");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

async fn a_replay_repairs_the_view_and_triggers_nothing(
    server: &Server,
    db: &Database,
    env: Vec<(&'static str, String)>,
) {
    let started = chrono::Utc::now();
    let (_owner, store, item) = open_store(server).await;
    let customer = registered_customer(server).await;
    let order = place(&customer, &store, &item).await;
    let (s, body) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_1"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    order_status(&customer, &order, "paid").await;
    let (s, body) = customer
        .post(
            &format!("/orders/{order}/cancel"),
            json!({"reason": "잘못 주문"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    eventually("the refund in the view", || async {
        let (_, view) = customer.get(&format!("/orders/{order}")).await;
        (view["payment_status"] == "refunded").then_some(())
    })
    .await;
    let refunded = "SELECT count(*) FROM events WHERE event_type = 'PaymentRefunded'";
    let messages = "SELECT count(*) FROM notifications";
    // The notifier records the refund's message after the view shows it: wait until it has.
    eventually("the refund's message recorded", || async {
        let refund_message = format!(
            "SELECT count(*) FROM notifications WHERE order_id = '{order}' AND event_key LIKE 'Payment-%'"
        );
        (scalar(&db.for_notifications(), &refund_message).await > 0).then_some(())
    })
    .await;
    let before = (
        scalar(db, "SELECT count(*) FROM events").await,
        scalar(db, refunded).await,
        scalar(&db.for_notifications(), messages).await,
    );
    assert_eq!(before.1, 1);

    // The view is damaged; replaying the order's own events repairs the order's part.
    execute(
        db,
        &format!("UPDATE order_view SET status = 'paid', payment_status = NULL, reason = NULL WHERE order_id = '{order}'"),
    )
    .await;
    let report = replay(&env, &["--projection", "order_view", "--aggregate", &order]);
    assert_eq!(
        (report["aggregates"].as_u64(), report["events"].as_u64()),
        (Some(1), Some(3)),
        "{report}"
    );
    let (_, view) = customer.get(&format!("/orders/{order}")).await;
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("cancelled"), Some("잘못 주문"))
    );
    assert!(
        view["payment_status"].is_null(),
        "the payment's part is the Payment aggregate's: {view}"
    );
    // The payments' part, by type; then everything since the test began, by time.
    let report = replay(&env, &["--projection", "order_view", "--type", "Payment"]);
    assert!(report["aggregates"].as_u64() >= Some(1), "{report}");
    let (_, view) = customer.get(&format!("/orders/{order}")).await;
    assert_eq!(view["payment_status"], "refunded");
    let since = started.to_rfc3339();
    let report = replay(&env, &["--projection", "order_view", "--since", &since]);
    assert!(report["events"].as_u64() >= Some(5), "{report}");
    let report = replay(&env, &["--projection", "audit_timeline", "--since", &since]);
    assert!(report["aggregates"].as_u64() >= Some(3), "{report}");
    let report = eats_projections::verify::verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);

    // Nothing downstream heard of it: give a process manager or the notifier time to react.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = (
        scalar(db, "SELECT count(*) FROM events").await,
        scalar(db, refunded).await,
        scalar(&db.for_notifications(), messages).await,
    );
    assert_eq!(
        after, before,
        "(events, refunds, messages) changed by a replay"
    );

    let refused = Command::new(EATS)
        .args(["replay", "--projection", "order_view", "--type", "Store"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run eats replay");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not read Store events"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_replay_repairs_the_view_and_triggers_nothing() {
    let test = TestDatabase::sqlite().await;
    let folder = test
        .data_dir
        .clone()
        .expect("folder")
        .to_str()
        .expect("utf-8")
        .to_string();
    let server = Server::start(&[("EATS_DATA_DIR", folder.as_str())]);
    a_replay_repairs_the_view_and_triggers_nothing(
        &server,
        &test.db,
        vec![("EATS_DATA_DIR", folder.clone())],
    )
    .await;
    assert!(server.terminate());
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_replay_repairs_the_view_and_triggers_nothing() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let ns = namespace("admin_replay_");
    let server = distributed(&url, &ns, &[]);
    a_replay_repairs_the_view_and_triggers_nothing(
        &server,
        &test.db,
        vec![("EATS_DATABASE_URL", url.clone())],
    )
    .await;
    assert!(server.terminate());
    delete_nats_stream(&ns).await;
    test.cleanup().await;
}
