//! `eats dead-letters list|show|retry|discard` on letters a running server parked: a
//! customer who ordered without registering cannot have the delivered order counted, so that
//! follow-up is parked. Retried before the cause is fixed it stays parked; retried after
//! (twice at once, then again) it takes effect exactly once; a discarded one is no longer
//! listed or retried. On SQLite and on Postgres with NATS.

use std::process::{Command, Output};

use common::api::{
    delete_nats_stream, distributed, eventually, namespace, open_store, order_status, Caller,
};
use common::{Server, EATS, SECRET};
use eats_api::Role;
use serde_json::{json, Value};

mod common;

/// `customer` (registered or not) orders and the order is delivered; returns its id.
async fn deliver(
    server: &Server,
    customer: &Caller,
    owner: &Caller,
    store: &str,
    item: &str,
) -> String {
    let (s, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}],
                   "deliver_to": {"address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}}),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let order = order["id"].as_str().expect("id").to_string();
    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_1"}),
        )
        .await;
    assert_eq!(s, 200, "{paid}");
    order_status(customer, &order, "paid").await;
    for step in ["accept", "start-cooking", "finish-cooking"] {
        let (s, body) = owner
            .post(&format!("/stores/{store}/orders/{order}/{step}"), json!({}))
            .await;
        assert_eq!(s, 200, "{step}: {body}");
    }
    let rider = Caller::new(server, Role::Rider);
    rider
        .put(
            "/riders/me/location",
            json!({"lat": 37.567, "lng": 126.979}),
        )
        .await;
    let delivery = eventually("the job", || async {
        let (_, jobs) = rider
            .get("/deliveries/available?lat=37.567&lng=126.979&radius_m=3000")
            .await;
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| j["order_id"] == order.as_str())
            .and_then(|j| j["delivery_id"].as_str().map(str::to_string))
    })
    .await;
    for step in ["claim", "pickup"] {
        let (s, body) = rider
            .post(&format!("/deliveries/{delivery}/{step}"), json!({}))
            .await;
        assert_eq!(s, 200, "{step}: {body}");
    }
    order_status(customer, &order, "in_delivery").await;
    let (s, body) = customer
        .post(&format!("/orders/{order}/confirm-delivery"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    order
}

fn eats(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(EATS)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run eats")
}

fn letters(env: &[(&str, &str)], all: bool) -> Vec<Value> {
    let mut args = vec!["dead-letters", "list", "--json"];
    if all {
        args.push("--all");
    }
    let output = eats(env, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn letter_of(letters: &[Value], order: &str) -> Option<Value> {
    letters
        .iter()
        .find(|l| {
            l["event_key"]
                .as_str()
                .is_some_and(|k| k.starts_with(&format!("Order-{order}-")))
        })
        .cloned()
}

/// How many times the customer's aggregate recorded a completed order.
fn completed(env: &[(&str, &str)], customer: &Caller) -> usize {
    let id = customer.id.to_string();
    let output = eats(env, &["audit", "aggregate", "Customer", &id, "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains("\"CompletedOrderRecorded\""))
        .count()
}

async fn a_dead_letter_retried_after_its_cause_is_fixed_takes_effect_once(
    server: &Server,
    env: &[(&str, &str)],
) {
    let (owner, store, item) = open_store(server).await;
    let forgetful = Caller::new(server, Role::Customer);
    let stuck = deliver(server, &forgetful, &owner, &store, &item).await;
    let other = Caller::new(server, Role::Customer);
    let abandoned = deliver(server, &other, &owner, &store, &item).await;
    let (parked, gone) = eventually("both parked", || async {
        let all = letters(env, false);
        Some((letter_of(&all, &stuck)?, letter_of(&all, &abandoned)?))
    })
    .await;
    assert!(
        parked["error"]
            .as_str()
            .is_some_and(|e| e.contains("not registered")),
        "{parked}"
    );
    let id = parked["id"].as_i64().expect("id").to_string();
    let attempts = parked["attempts"].as_i64().expect("attempts");

    let shown = eats(env, &["dead-letters", "show", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains("not registered") && shown.contains("OrderDelivered"),
        "{shown}"
    );
    let (ok, table) = {
        let o = eats(env, &["dead-letters", "list"]);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert!(
        ok && table.contains("attempts") && table.contains(&format!("Order-{stuck}-")),
        "{table}"
    );

    // Retried before the cause is fixed: still parked, one more attempt, the new error.
    let early = eats(env, &["dead-letters", "retry", &id]);
    assert!(!early.status.success());
    let still = letter_of(&letters(env, false), &stuck).expect("still parked");
    assert_eq!(still["attempts"].as_i64(), Some(attempts + 1));
    assert_eq!(completed(env, &forgetful), 0);

    // The cause fixed: the customer registers. Two operators retry at once: one runs it.
    let (s, body) = forgetful
        .post(
            "/customers",
            json!({"name": "늦은 가입", "phone": "010-9999-0000", "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = id.clone();
            std::thread::spawn(move || {
                Command::new(EATS)
                    .args(["dead-letters", "retry", &id])
                    .env_clear()
                    .envs(env)
                    .output()
                    .expect("run eats")
            })
        })
        .collect();
    let outcomes: Vec<Output> = racers
        .into_iter()
        .map(|r| r.join().expect("racer"))
        .collect();
    let won = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        outcomes
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect::<Vec<_>>()
    );
    let again = eats(env, &["dead-letters", "retry", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already replayed"));
    assert_eq!(completed(env, &forgetful), 1, "counted exactly once");
    eventually("the grade", || async {
        let (_, me) = forgetful.get("/customers/me").await;
        (me["completed_orders"] == 1).then_some(())
    })
    .await;
    assert!(letter_of(&letters(env, false), &stuck).is_none());
    let retried = letter_of(&letters(env, true), &stuck).expect("listed with --all");
    assert!(retried["replayed_at"].is_string(), "{retried}");

    // The other one is given up on: gone from the list, never retried.
    let gone_id = gone["id"].as_i64().expect("id").to_string();
    let discarded = eats(
        env,
        &[
            "dead-letters",
            "discard",
            &gone_id,
            "--note",
            "customer left",
        ],
    );
    assert!(
        discarded.status.success(),
        "{}",
        String::from_utf8_lossy(&discarded.stderr)
    );
    assert!(letter_of(&letters(env, false), &abandoned).is_none());
    let refused = eats(env, &["dead-letters", "retry", &gone_id]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("discarded"));
    assert_eq!(
        letter_of(&letters(env, true), &abandoned).expect("kept")["note"],
        "customer left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_dead_letter_retried_after_its_cause_is_fixed_takes_effect_once() {
    let data = common::api::scratch_folder();
    let folder = data.to_str().expect("utf-8").to_string();
    let server = Server::start(&[
        ("EATS_DATA_DIR", folder.as_str()),
        ("EATS_SAGA_MAX_ATTEMPTS", "2"),
    ]);
    a_dead_letter_retried_after_its_cause_is_fixed_takes_effect_once(
        &server,
        &[
            ("EATS_DATA_DIR", folder.as_str()),
            ("EATS_JWT_SECRET", SECRET),
        ],
    )
    .await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_dead_letter_retried_after_its_cause_is_fixed_takes_effect_once() {
    let test = eats_store::testing::TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let ns = namespace("admin_dead_");
    let server = distributed(&url, &ns, &[("EATS_SAGA_MAX_ATTEMPTS", "2")]);
    a_dead_letter_retried_after_its_cause_is_fixed_takes_effect_once(
        &server,
        &[
            ("EATS_DATABASE_URL", url.as_str()),
            ("EATS_JWT_SECRET", SECRET),
        ],
    )
    .await;
    assert!(server.terminate());
    delete_nats_stream(&ns).await;
    test.cleanup().await;
}
