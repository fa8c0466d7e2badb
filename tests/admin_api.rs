//! The admin role's API for what an operator wants over HTTP: an order's story, the read
//! models' status, one dead letter, retrying and discarding (against a running server).

use common::api::{
    embedded, eventually, open_store, order_status, place, registered_customer, Caller,
};
use eats_api::Role;
use serde_json::json;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_an_orders_story_and_the_read_models_status_over_the_api() {
    let (server, data) = embedded(&[]);
    let (_owner, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let order = place(&customer, &store, &item).await;
    let (s, body) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_1"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    order_status(&customer, &order, "paid").await;
    let admin = Caller::new(&server, Role::Admin);

    let (s, story) = admin.get(&format!("/admin/orders/{order}/story")).await;
    assert_eq!(s, 200, "{story}");
    let events = story.as_array().expect("a list");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["OrderPlaced", "PaymentApproved", "OrderPaid"]);
    assert_eq!(
        events[2]["caused_by"], 2,
        "OrderPaid follows from PaymentApproved"
    );
    assert!(events[0].get("caused_by").is_none(), "a command placed it");
    assert_eq!(events[2]["state"]["order"], "paid");
    let placed_at = events[0]["occurred_at"].as_str().expect("time");
    let (s, earlier, _) = common::api::answer(
        admin
            .request(
                reqwest::Method::GET,
                &format!("/admin/orders/{order}/story"),
            )
            .query(&[("as_of", placed_at)]),
    )
    .await;
    assert_eq!(s, 200, "{earlier}");
    assert_eq!(
        earlier.as_array().map(Vec::len),
        Some(1),
        "as of its placing: {earlier}"
    );
    assert_eq!(earlier[0]["state"]["order"], "awaiting_payment");
    let (s, body) = customer.get(&format!("/admin/orders/{order}/story")).await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = admin
        .get(&format!("/admin/orders/{}/story", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(s, 404);

    let status = eventually("every read model caught up", || async {
        let (s, status) = admin.get("/admin/projections/status").await;
        assert_eq!(s, 200, "{status}");
        status
            .as_array()
            .is_some_and(|all| all.len() == 6 && all.iter().all(|m| m["behind"] == 0))
            .then_some(status)
    })
    .await;
    let order_view = status
        .as_array()
        .and_then(|all| all.iter().find(|m| m["read_model"] == "order_view"))
        .expect("order_view");
    assert_eq!(
        order_view["rows"][0],
        json!({"table": "order_view", "rows": 1})
    );

    let (s, _) = admin.get("/admin/dead-letters/999").await;
    assert_eq!(s, 404);
    let (s, _) = admin.post("/admin/dead-letters/999/retry", json!({})).await;
    assert_eq!(s, 404);
    let (s, _) = admin
        .post("/admin/dead-letters/999/discard", json!({"note": "gone"}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = admin
        .post("/admin/dead-letters/999/discard", json!({"note": ""}))
        .await;
    assert_eq!(s, 422);
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}
