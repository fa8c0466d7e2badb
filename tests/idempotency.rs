//! `Idempotency-Key` against the real binary: a retry reaches the first attempt's effect even
//! when the process died between the commit and the recorded answer, every outcome replays
//! byte for byte, and keys expire.

use std::time::{Duration, Instant};

use common::api::{embedded, token, Caller};
use common::Server;
use eats_api::Role;
use eats_store::testing::{scenario, TestDatabase};
use eats_store::{on_pool, Database};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

mod common;

/// A customer calling the API with raw bodies, so tests control every byte.
struct Customer(Caller);

/// What came back: status, content type, body text, and whether it was a replay.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
    replayed: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

impl Customer {
    fn new(server: &Server) -> Self {
        Self(Caller::new(server, Role::Customer))
    }

    /// The same user (the same token) calling another server.
    fn with_token(server: &Server, token: String) -> Self {
        Self(Caller::with_token(server, token))
    }

    async fn post(&self, path: &str, key: &str, content_type: &str, body: &str) -> Answer {
        let response = self
            .0
            .request(Method::POST, path)
            .header("Idempotency-Key", key)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (status, content_type) = (response.status().as_u16(), header("content-type"));
        let replayed = header("idempotent-replayed") == "true";
        Answer {
            status,
            content_type,
            body: response.text().await.expect("body"),
            replayed,
        }
    }
}

async fn count(db: &Database, sql: &str) -> i64 {
    on_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await
    })
    .expect("count")
}

fn order_body(store: &scenario::OpenStore) -> String {
    json!({
        "store_id": store.id.to_string(),
        "lines": [{"item_id": store.item.to_string(), "quantity": 2}],
        "deliver_to": {"address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}},
    })
    .to_string()
}

/// A server whose first attempt at `path` under `key` commits `committed` (a count query
/// turning non-zero) and is then killed before its answer is recorded; returns the restarted
/// server and the retry's answer once the dead attempt's claim is stale.
async fn crash_then_retry(
    test: &TestDatabase,
    token: &str,
    path: &str,
    key: &str,
    body: &str,
    committed: &str,
) -> (Server, Customer, Answer) {
    let url = test.url.clone().expect("postgres url");
    // The first attempt's answer never gets recorded: the recording statement stalls until
    // the process is killed, exactly the window between the command's commit and the record.
    on_pool!(test.db, |pool| {
        sqlx::raw_sql(
            "CREATE OR REPLACE FUNCTION stall_answer() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.status IS NOT NULL THEN PERFORM pg_sleep(3600); END IF; RETURN NEW; END $$; \
             CREATE TRIGGER stall_answer BEFORE UPDATE ON idempotency_keys \
             FOR EACH ROW EXECUTE FUNCTION stall_answer();",
        )
        .execute(pool)
        .await
        .map(drop)
    })
    .expect("installing the stall");
    let env = [
        ("EATS_DATABASE_URL", url.as_str()),
        ("EATS_ROLES", "api"),
        ("EATS_IDEMPOTENCY_STALE_SECS", "1"),
    ];
    let server = Server::start(&env);
    let customer = Customer::with_token(&server, token.to_string());
    let first = {
        let (path, key, body) = (path.to_string(), key.to_string(), body.to_string());
        tokio::spawn(async move { customer.post(&path, &key, "application/json", &body).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&test.db, committed).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the first attempt never committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL: the answer is never recorded.
    if let Ok(answer) = first.await {
        panic!("the first attempt was answered, so nothing crashed: {answer:?}");
    }
    on_pool!(test.db, |pool| {
        sqlx::raw_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event = 'PgSleep'; \
             DROP TRIGGER stall_answer ON idempotency_keys;",
        )
        .execute(pool)
        .await
        .map(drop)
    })
    .expect("ending the dead process's statement");
    assert_eq!(
        count(
            &test.db,
            "SELECT count(*) FROM idempotency_keys WHERE status IS NULL"
        )
        .await,
        1,
        "the claim is left unfinished, as after a crash"
    );

    let server = Server::start(&env);
    let customer = Customer::with_token(&server, token.to_string());
    // The retry is told to wait while the dead attempt's claim is fresh, then takes it over.
    let deadline = Instant::now() + Duration::from_secs(90);
    let retry = loop {
        let answer = customer.post(path, key, "application/json", body).await;
        if answer.status != 409 || Instant::now() > deadline {
            break answer;
        }
        assert_eq!(
            answer.json()["type"],
            "urn:eats:problem:idempotent-request-in-progress"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    (server, customer, retry)
}

fn customer_token() -> String {
    token(Role::Customer, Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_commit_and_the_recorded_answer_lets_a_retry_reach_the_same_order() {
    let test = TestDatabase::postgres().await;
    let store = scenario::open_store(&scenario::aggregates(&test.db)).await;
    let body = order_body(&store);
    let placed = "SELECT count(*) FROM events WHERE aggregate_type = 'Order'";
    let (server, customer, retry) = crash_then_retry(
        &test,
        &customer_token(),
        "/orders",
        "dinner-1",
        &body,
        placed,
    )
    .await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    let order_id: String = on_pool!(test.db, |pool| {
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE aggregate_type = 'Order'")
            .fetch_one(pool)
            .await
    })
    .expect("the one order");
    assert_eq!(
        retry.json()["id"],
        order_id.as_str(),
        "the retry answers with the first order"
    );
    assert_eq!(count(&test.db, placed).await, 1, "one order, not two");
    let again = customer
        .post("/orders", "dinner-1", "application/json", &body)
        .await;
    assert!(again.replayed);
    assert_eq!((again.status, again.body), (201, retry.body));
    drop(server);
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_payment_committed_lets_the_retry_answer_with_that_payment() {
    let test = TestDatabase::postgres().await;
    let store = scenario::open_store(&scenario::aggregates(&test.db)).await;
    let token = customer_token();
    let url = test.url.clone().expect("postgres url");
    let order = {
        let server = Server::start(&[("EATS_DATABASE_URL", url.as_str()), ("EATS_ROLES", "api")]);
        let customer = Customer::with_token(&server, token.clone());
        let placed = customer
            .post(
                "/orders",
                "dinner-2",
                "application/json",
                &order_body(&store),
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        placed.json()["id"].as_str().expect("id").to_string()
    };
    let path = format!("/orders/{order}/payment");
    let body = r#"{"payment_key":"tgen_20261204"}"#;
    let charged = "SELECT count(*) FROM events WHERE aggregate_type = 'Payment'";
    let (server, _, retry) = crash_then_retry(&test, &token, &path, "pay-2", body, charged).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.json()["payment_status"], "approved", "{}", retry.body);
    assert_eq!(
        count(&test.db, charged).await,
        1,
        "one payment attempt, not a second one"
    );
    drop(server);
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_replays_with_its_first_status_content_type_and_body() {
    let (server, data) = embedded(&[]);
    let customer = Customer::new(&server);
    let cases = [
        // The framework refuses it (a number where a UUID belongs).
        (
            "wrong-type",
            "application/json",
            r#"{"store_id": 5, "lines": []}"#,
        ),
        // Not JSON at all.
        ("malformed", "application/json", "{not json"),
        // The wrong media type.
        ("media-type", "text/plain", "hello"),
        // Valid JSON the domain refuses (no such store).
        (
            "no-store",
            "application/json",
            r#"{"store_id":"00000000-0000-4000-8000-000000000000","lines":[{"item_id":"00000000-0000-4000-8000-000000000001","quantity":1}],"deliver_to":{"address":"서울","location":{"lat":37.5,"lng":127.0}}}"#,
        ),
    ];
    for (key, content_type, body) in cases {
        let first = customer.post("/orders", key, content_type, body).await;
        assert!(
            (400..500).contains(&first.status) && !first.replayed,
            "{key}: {first:?}"
        );
        assert!(
            first.content_type.starts_with("application/problem+json"),
            "{key}: {first:?}"
        );
        let replay = customer.post("/orders", key, content_type, body).await;
        assert!(replay.replayed, "{key}: {replay:?}");
        assert_eq!(
            (replay.status, &replay.content_type, &replay.body),
            (first.status, &first.content_type, &first.body),
            "{key}"
        );
    }
    // The same JSON laid out differently is the same request: replayed, not refused.
    let spaced = "{ \"lines\" : [ ],\n  \"store_id\": 5 }";
    let replay = customer
        .post("/orders", "wrong-type", "application/json", spaced)
        .await;
    assert!(replay.replayed, "{replay:?}");
    // Another body under a used key is refused.
    let other = customer
        .post(
            "/orders",
            "wrong-type",
            "application/json",
            r#"{"store_id": 6}"#,
        )
        .await;
    assert_eq!(other.status, 409);
    assert_eq!(
        other.json()["type"],
        "urn:eats:problem:idempotency-key-reused"
    );
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_and_are_purged_so_reusing_one_later_is_a_new_request() {
    let (server, data) = embedded(&[("EATS_IDEMPOTENCY_TTL_SECS", "1")]);
    let customer = Customer::new(&server);
    let body = r#"{"store_id": 5}"#;
    let first = customer
        .post("/orders", "short-lived", "application/json", body)
        .await;
    assert!(!first.replayed);
    assert!(
        customer
            .post("/orders", "short-lived", "application/json", body)
            .await
            .replayed
    );
    let db = Database::open_sqlite(&data)
        .await
        .expect("the server's store");
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&db, "SELECT count(*) FROM idempotency_keys").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the expired key was never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let later = customer
        .post("/orders", "short-lived", "application/json", body)
        .await;
    assert!(!later.replayed, "an expired key starts a new request");
    db.close().await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}
