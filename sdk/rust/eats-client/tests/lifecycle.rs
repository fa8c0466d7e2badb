//! Full order lifecycle through the progenitor-generated Rust client.
//! Needs a running server: run via `sdk/run-server.sh cargo test` (exports EATS_URL,
//! EATS_JWT_SECRET, EATS_BIN).
use std::time::{Duration, Instant};

use eats_client::{types, Client};
use uuid::Uuid;

fn mint(role: &str) -> String {
    let bin = std::env::var("EATS_BIN").unwrap_or_else(|_| "../../target/debug/eats".to_string());
    let out = std::process::Command::new(bin)
        .args([
            "token",
            "--role",
            role,
            "--sub",
            &Uuid::new_v4().to_string(),
        ])
        .output()
        .expect("run eats token");
    assert!(
        out.status.success(),
        "eats token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn client(role: &str) -> Client {
    let url = std::env::var("EATS_URL").expect("EATS_URL is not set: run under sdk/run-server.sh");
    eats_client::authenticated(&url, &mint(role)).expect("client")
}

async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn order_status(c: &Client, order_id: Uuid, want: &str) -> types::OrderView {
    poll(&format!("order {order_id} to be {want}"), || async {
        let view = c
            .get_order()
            .order_id(order_id)
            .send()
            .await
            .ok()?
            .into_inner();
        (view.status == want).then_some(view)
    })
    .await
}

fn loc(lat: f64, lng: f64) -> types::Location {
    types::Location { lat, lng }
}

fn id(s: &str) -> Uuid {
    s.parse().expect("uuid")
}

#[tokio::test]
async fn full_lifecycle() {
    let (owner, customer, rider) = (client("store_owner"), client("customer"), client("rider"));
    let (store_at, home) = ((37.5665, 126.978), (37.57, 126.982));

    let store = owner
        .register_store()
        .body(types::RegisterStore {
            name: "SDK Rust Bibimbap".parse().expect("valid"),
            address: "Seoul".parse().expect("valid"),
            location: loc(store_at.0, store_at.1),
        })
        .send()
        .await
        .expect("register store")
        .into_inner();
    let store_id = id(&store.id);
    let item = owner
        .add_menu_item()
        .store_id(store_id)
        .body(types::NewMenuItem {
            name: "Bibimbap".parse().expect("valid"),
            price: std::num::NonZeroU64::new(9000).expect("positive"),
        })
        .send()
        .await
        .expect("add menu item")
        .into_inner();
    owner
        .open_store()
        .store_id(store_id)
        .send()
        .await
        .expect("open store");

    customer
        .register_customer()
        .body(types::RegisterCustomer {
            name: "Rust".parse().expect("valid"),
            phone: "010-1234-5678".parse().expect("valid"),
            address: "Home".parse().expect("valid"),
            location: loc(home.0, home.1),
        })
        .send()
        .await
        .expect("register customer");
    let order = customer
        .place_order()
        .idempotency_key(Uuid::new_v4().to_string())
        .body(types::PlaceOrder {
            store_id,
            lines: vec![types::OrderLineInput {
                item_id: id(&item.id),
                quantity: std::num::NonZeroU64::new(1).expect("positive"),
            }],
            deliver_to: Some(types::DeliverTo {
                address: "Home".parse().expect("valid"),
                location: loc(home.0, home.1),
            }),
        })
        .send()
        .await
        .expect("place order")
        .into_inner();
    assert_eq!(order.status, "awaiting_payment");
    let order_id = id(&order.id);
    let paid = customer
        .pay_order()
        .order_id(order_id)
        .body(types::PayOrder {
            payment_key: "tgen_x".parse().expect("valid"),
        })
        .send()
        .await
        .expect("pay")
        .into_inner();
    assert_eq!(paid.payment_status, types::PaymentStatus::Approved);
    assert!(["awaiting_payment", "paid"].contains(&paid.order_status.as_str()));
    assert_eq!(order_status(&customer, order_id, "paid").await.total, 9000);

    owner
        .accept_order()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await
        .expect("accept");
    owner
        .start_cooking()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await
        .expect("start cooking");
    owner
        .finish_cooking()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await
        .expect("finish cooking");

    rider
        .report_location()
        .body(types::RiderLocation {
            lat: store_at.0,
            lng: store_at.1,
        })
        .send()
        .await
        .expect("report location");
    let job = poll("the delivery job", || async {
        let jobs = rider
            .list_available_deliveries()
            .lat(store_at.0)
            .lng(store_at.1)
            .radius_m(3000)
            .send()
            .await
            .expect("list deliveries")
            .into_inner()
            .items;
        jobs.into_iter().find(|j| j.order_id == order.id)
    })
    .await;
    let delivery_id = id(&job.delivery_id);
    rider
        .claim_delivery()
        .delivery_id(delivery_id)
        .send()
        .await
        .expect("claim");
    rider
        .pick_up_delivery()
        .delivery_id(delivery_id)
        .send()
        .await
        .expect("pickup");

    order_status(&customer, order_id, "in_delivery").await;
    customer
        .confirm_delivery()
        .order_id(order_id)
        .send()
        .await
        .expect("confirm delivery");
    let done = order_status(&customer, order_id, "delivered").await;
    assert!(done.rider_id.is_some());
}

#[tokio::test]
async fn errors_are_typed_problems() {
    let customer = client("customer");
    match customer.get_order().order_id(Uuid::new_v4()).send().await {
        Err(eats_client::Error::ErrorResponse(resp)) => {
            assert_eq!(resp.status().as_u16(), 404);
            assert_eq!(resp.into_inner().status, 404);
        }
        other => panic!("expected a 404 problem, got {other:?}"),
    }
}
