//! `eats audit order` on an order driven to delivered through a running server (process
//! managers, notifier and all): every event of every aggregate of the order appears once, in
//! commit order, with its causation chain; `--as-of` shows the earlier state; `audit verify`
//! finds the events, the aggregates and the read models in agreement. On Postgres with NATS
//! and on SQLite.

use std::process::Command;

use common::api::{
    delete_nats_stream, distributed, eventually, namespace, open_store, order_status,
    registered_customer, Caller,
};
use common::{Server, EATS};
use eats_api::Role;
use serde_json::{json, Value};

mod common;

/// Drives one order from placed to delivered; returns its id once the customer's grade
/// counts it.
async fn delivered_order(server: &Server) -> String {
    let (owner, store, item) = open_store(server).await;
    let customer = registered_customer(server).await;
    let (s, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 2}]}),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let order = order["id"].as_str().expect("id").to_string();
    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_20261204"}),
        )
        .await;
    assert_eq!(s, 200, "{paid}");
    order_status(&customer, &order, "paid").await;
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
    let delivery = eventually("a job nearby", || async {
        let (_, jobs) = rider
            .get("/deliveries/available?lat=37.567&lng=126.979&radius_m=3000")
            .await;
        jobs["items"][0]["delivery_id"].as_str().map(str::to_string)
    })
    .await;
    for step in ["claim", "pickup"] {
        let (s, body) = rider
            .post(&format!("/deliveries/{delivery}/{step}"), json!({}))
            .await;
        assert_eq!(s, 200, "{step}: {body}");
    }
    order_status(&customer, &order, "in_delivery").await;
    let (s, body) = customer
        .post(&format!("/orders/{order}/confirm-delivery"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    eventually("the grade upgrade", || async {
        let (_, me) = customer.get("/customers/me").await;
        (me["completed_orders"] == 1).then_some(())
    })
    .await;
    order
}

fn eats(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let output = Command::new(EATS)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run eats");
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn story(env: &[(&str, &str)], args: &[&str]) -> Vec<Value> {
    let (ok, out, err) = eats(env, args);
    assert!(ok, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn find<'a>(story: &'a [Value], event: &str) -> &'a Value {
    story
        .iter()
        .find(|e| e["event"]["event_type"] == event)
        .unwrap_or_else(|| panic!("no {event} in {story:#?}"))
}

async fn the_story_of_a_delivered_order_is_told_whole(server: &Server, env: &[(&str, &str)]) {
    let order = delivered_order(server).await;
    // The notifier records its messages after the events: wait for the last one's.
    let args = ["audit", "order", order.as_str(), "--json"];
    let story = eventually("the delivered message recorded", || async {
        let story = story(env, &args);
        story
            .iter()
            .any(|e| {
                e["event"]["event_type"] == "OrderDelivered"
                    && e["notifications"].as_array().is_some_and(|n| !n.is_empty())
            })
            .then_some(story)
    })
    .await;
    let types: Vec<&str> = story
        .iter()
        .map(|e| e["event"]["event_type"].as_str().expect("type"))
        .collect();
    for expected in [
        "OrderPlaced",
        "PaymentApproved",
        "OrderPaid",
        "OrderAccepted",
        "CookingStarted",
        "CookingFinished",
        "DeliveryRequested",
        "RiderAssigned",
        "DeliveryPickedUp",
        "OrderPickedUp",
        "OrderDelivered",
        "DeliveryCompleted",
        "CompletedOrderRecorded",
    ] {
        assert_eq!(
            types.iter().filter(|t| **t == expected).count(),
            1,
            "{expected} once in {types:?}"
        );
    }
    // Commit order: each aggregate's events in sequence, every effect after its cause.
    for (i, entry) in story.iter().enumerate() {
        assert_eq!(entry["n"], i + 1);
        if let Some(cause) = entry["caused_by"].as_u64() {
            assert!(
                (cause as usize) < i + 1,
                "#{} caused by a later #{cause}",
                i + 1
            );
        }
    }
    let order_events: Vec<u64> = story
        .iter()
        .filter(|e| e["event"]["aggregate_type"] == "Order")
        .map(|e| e["event"]["sequence"].as_u64().expect("sequence"))
        .collect();
    assert_eq!(
        order_events,
        (1..=order_events.len() as u64).collect::<Vec<_>>()
    );
    // The causation chain: what the process managers did, and because of what.
    for (effect, cause) in [
        ("OrderPaid", "PaymentApproved"),
        ("DeliveryRequested", "CookingFinished"),
        ("OrderPickedUp", "DeliveryPickedUp"),
        ("DeliveryCompleted", "OrderDelivered"),
        ("CompletedOrderRecorded", "OrderDelivered"),
    ] {
        assert_eq!(
            find(&story, effect)["caused_by"],
            find(&story, cause)["n"],
            "{effect} caused by {cause}"
        );
        assert_eq!(find(&story, effect)["actor"], "system");
    }
    for command in ["OrderPlaced", "OrderAccepted", "OrderDelivered"] {
        assert!(
            find(&story, command)["caused_by"].is_null(),
            "{command} came from a command"
        );
        assert!(find(&story, command)["actor"]
            .as_str()
            .is_some_and(|a| a != "system"));
    }
    // The state after each event.
    assert_eq!(
        find(&story, "OrderPlaced")["state"]["order"],
        "awaiting_payment"
    );
    assert_eq!(
        find(&story, "PaymentApproved")["state"]["payment"],
        "approved"
    );
    assert_eq!(
        find(&story, "RiderAssigned")["state"]["delivery"],
        "assigned"
    );
    let last = story.last().expect("events");
    assert_eq!(last["state"]["order"], "delivered");
    assert_eq!(last["state"]["delivery"], "completed");

    // As of the moment it was accepted: the state then, and nothing after.
    let accepted = find(&story, "OrderAccepted")["occurred_at"]
        .as_str()
        .expect("time")
        .to_string();
    let earlier = self::story(
        env,
        &["audit", "order", &order, "--as-of", &accepted, "--json"],
    );
    let last = earlier.last().expect("events by then");
    assert_eq!(last["state"]["order"], "accepted", "{last}");
    assert!(earlier.len() < story.len());
    assert!(earlier
        .iter()
        .all(|e| e["event"]["event_type"] != "CookingStarted"));

    // The table and the tree, for people.
    let (ok, table, err) = eats(env, &["audit", "order", &order]);
    assert!(ok, "{err}");
    assert!(
        table.contains("causation:") && table.contains("└─"),
        "{table}"
    );
    assert!(table.contains("state: order=delivered"), "{table}");
    let (ok, checks, err) = eats(env, &["audit", "verify", &order]);
    assert!(ok, "{checks}\n{err}");
    assert!(!checks.contains("MISMATCH"), "{checks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_story_of_a_delivered_order_is_told_whole() {
    let data = common::api::scratch_folder();
    let folder = data.to_str().expect("utf-8").to_string();
    let server = Server::start(&[("EATS_DATA_DIR", folder.as_str())]);
    the_story_of_a_delivered_order_is_told_whole(&server, &[("EATS_DATA_DIR", folder.as_str())])
        .await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_story_of_a_delivered_order_is_told_whole() {
    let test = eats_store::testing::TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let ns = namespace("admin_audit_");
    let server = distributed(&url, &ns, &[]);
    the_story_of_a_delivered_order_is_told_whole(&server, &[("EATS_DATABASE_URL", url.as_str())])
        .await;
    assert!(server.terminate());
    delete_nats_stream(&ns).await;
    test.cleanup().await;
}
