//! A whole order through the three roles: the store owner registers a store with a menu and
//! opens it, the customer orders and pays, the store cooks, a rider claims and picks up, the
//! customer confirms delivery.
//!
//! ```sh
//! EATS_URL=http://127.0.0.1:8080 \
//! EATS_OWNER_TOKEN=$(eats token --role store_owner --sub $(uuidgen)) \
//! EATS_TOKEN=$(eats token --role customer --sub $(uuidgen)) \
//! EATS_RIDER_TOKEN=$(eats token --role rider --sub $(uuidgen)) \
//! cargo run --example lifecycle
//! ```
use std::{num::NonZeroU64, time::Duration};

use eats_client::{authenticated, types, Client, Error};
use uuid::Uuid;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// Polls the order until it reaches `want`: read models follow the commands asynchronously,
/// so the order answers 404 until its view exists.
async fn until_status(c: &Client, order_id: Uuid, want: &str) -> Result<types::OrderView> {
    for _ in 0..300 {
        match c.get_order().order_id(order_id).send().await {
            Ok(view) if view.status == want => return Ok(view.into_inner()),
            Ok(_) => {}
            Err(Error::ErrorResponse(answer)) if answer.status() == 404 => {}
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("order {order_id} never became {want}").into())
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = env("EATS_URL")?;
    let owner = authenticated(&url, &env("EATS_OWNER_TOKEN")?)?;
    let customer = authenticated(&url, &env("EATS_TOKEN")?)?;
    let rider = authenticated(&url, &env("EATS_RIDER_TOKEN")?)?;
    let shop = types::Location {
        lat: 37.5665,
        lng: 126.978,
    };
    let home = types::Location {
        lat: 37.57,
        lng: 126.982,
    };

    let store = owner
        .register_store()
        .body(types::RegisterStore {
            name: "Example Bibimbap".parse()?,
            address: "Seoul".parse()?,
            location: shop.clone(),
        })
        .send()
        .await?
        .into_inner();
    let store_id: Uuid = store.id.parse()?;
    let item = owner
        .add_menu_item()
        .store_id(store_id)
        .body(types::NewMenuItem {
            name: "Bibimbap".parse()?,
            price: NonZeroU64::new(9000).ok_or("zero")?,
        })
        .send()
        .await?
        .into_inner();
    owner.open_store().store_id(store_id).send().await?;

    customer
        .register_customer()
        .body(types::RegisterCustomer {
            name: "Example".parse()?,
            phone: "010-1234-5678".parse()?,
            address: "Home".parse()?,
            location: home.clone(),
        })
        .send()
        .await?;
    let order = customer
        .place_order()
        .idempotency_key(Uuid::new_v4().to_string())
        .body(types::PlaceOrder {
            store_id,
            lines: vec![types::OrderLineInput {
                item_id: item.id.parse()?,
                quantity: NonZeroU64::new(1).ok_or("zero")?,
            }],
            deliver_to: Some(types::DeliverTo {
                address: "Home".parse()?,
                location: home,
            }),
        })
        .send()
        .await?
        .into_inner();
    let order_id: Uuid = order.id.parse()?;
    customer
        .pay_order()
        .order_id(order_id)
        .body(types::PayOrder {
            payment_key: "tgen_example".parse()?,
        })
        .send()
        .await?;
    until_status(&customer, order_id, "paid").await?;
    println!("order {order_id} paid");

    owner
        .accept_order()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await?;
    owner
        .start_cooking()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await?;
    owner
        .finish_cooking()
        .store_id(store_id)
        .order_id(order_id)
        .send()
        .await?;
    println!("cooked");

    rider
        .report_location()
        .body(types::RiderLocation {
            lat: shop.lat,
            lng: shop.lng,
        })
        .send()
        .await?;
    let mut job = None;
    for _ in 0..300 {
        let page = rider
            .list_available_deliveries()
            .lat(shop.lat)
            .lng(shop.lng)
            .radius_m(3000)
            .send()
            .await?;
        job = page
            .into_inner()
            .items
            .into_iter()
            .find(|j| j.order_id == order.id);
        if job.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivery_id: Uuid = job.ok_or("no delivery job appeared")?.delivery_id.parse()?;
    rider
        .claim_delivery()
        .delivery_id(delivery_id)
        .send()
        .await?;
    rider
        .pick_up_delivery()
        .delivery_id(delivery_id)
        .send()
        .await?;
    until_status(&customer, order_id, "in_delivery").await?;
    println!("picked up by the rider");

    customer
        .confirm_delivery()
        .order_id(order_id)
        .send()
        .await?;
    let done = until_status(&customer, order_id, "delivered").await?;
    println!("delivered: {} KRW, rider {:?}", done.total, done.rider_id);
    Ok(())
}
