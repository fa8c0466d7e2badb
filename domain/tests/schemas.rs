//! `schemas/events/` is generated from the code: these tests fail when the two drift, and
//! prove every event's wire form round-trips and matches its checked-in schema.
//!
//! Regenerate with `EATS_UPDATE_SCHEMAS=1 cargo test -p eats-domain --test schemas`
//! (or `just schemas`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use eats_domain::customer::*;
use eats_domain::delivery::*;
use eats_domain::order::*;
use eats_domain::payment::*;
use eats_domain::store::*;
use eats_domain::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

/// The checked-in form of one schema: the generated schema plus where the event lives.
fn document(schema: &EventSchema) -> Value {
    let mut doc = serde_json::to_value(&schema.schema).expect("schema is JSON");
    if let Value::Object(fields) = &mut doc {
        fields.insert(
            "$id".into(),
            json!(format!("urn:eats:schemas:events:{}", schema.file_name())),
        );
        fields.insert(
            "x-eats".into(),
            json!({
                "aggregate_type": schema.aggregate_type,
                "event_type": schema.event_type,
                "event_version": schema.version,
                "stored_as": format!("{{\"{}\": <this payload>}}", schema.event_type),
            }),
        );
    }
    doc
}

fn generated() -> BTreeMap<String, String> {
    event_catalog()
        .iter()
        .map(|schema| {
            let text = serde_json::to_string_pretty(&document(schema)).expect("serialise") + "\n";
            (schema.file_name(), text)
        })
        .collect()
}

fn checked_in() -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(schema_dir()) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("readable schema");
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn checked_in_event_schemas_match_the_code() {
    let generated = generated();
    if std::env::var_os("EATS_UPDATE_SCHEMAS").is_some() {
        let dir = schema_dir();
        std::fs::create_dir_all(&dir).expect("create schemas/events");
        for stale in checked_in()
            .keys()
            .filter(|name| !generated.contains_key(*name))
        {
            std::fs::remove_file(dir.join(stale)).expect("remove stale schema");
        }
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).expect("write schema");
        }
    }
    let on_disk = checked_in();
    let missing: Vec<&String> = generated
        .keys()
        .filter(|k| !on_disk.contains_key(*k))
        .collect();
    let stale: Vec<&String> = on_disk
        .keys()
        .filter(|k| !generated.contains_key(*k))
        .collect();
    let changed: Vec<&String> = generated
        .iter()
        .filter(|(k, v)| on_disk.get(*k).is_some_and(|disk| disk != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty() && changed.is_empty(),
        "schemas/events/ has drifted from the code (missing {missing:?}, stale {stale:?}, \
         changed {changed:?}); regenerate with `just schemas` and review the diff"
    );
}

/// The stored form of `event`, the externally tagged enum, and its inner payload.
fn wire<E: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    event: &E,
) -> (String, Value) {
    let stored = serde_json::to_value(event).expect("serialise");
    let back: E = serde_json::from_value(stored.clone()).expect("deserialise");
    assert_eq!(&back, event, "round trip");
    let Value::Object(tagged) = stored else {
        panic!("events are stored as {{\"Type\": payload}}");
    };
    let (event_type, payload) = tagged.into_iter().next().expect("one key");
    (event_type, payload)
}

fn p() -> GeoPoint {
    GeoPoint::new(37.5665, 126.978).expect("valid")
}

/// One sample of every current event, as (aggregate type, event type, payload).
fn samples() -> Vec<(&'static str, String, Value)> {
    let (order, customer, store, owner, rider) = (
        OrderId::new(),
        CustomerId::new(),
        StoreId::new(),
        UserId::new(),
        RiderId::new(),
    );
    let payment = PaymentId::for_order(order);
    let item = MenuItemId::new();
    let orders: Vec<OrderEvent> = vec![
        OrderPlaced {
            order_id: order,
            customer_id: customer,
            store_id: store,
            store_owner: owner,
            lines: vec![OrderLine {
                item_id: item,
                name: "참치김밥".into(),
                unit_price: Won(4_500),
                quantity: 2,
                line_total: Won(9_000),
            }],
            total: Won(9_000),
            pickup: p(),
            deliver_to: DeliveryAddress {
                address: "서울 중구 을지로 12".into(),
                location: p(),
            },
        }
        .into(),
        OrderPaid {
            payment_id: payment,
            amount: Won(9_000),
        }
        .into(),
        OrderAccepted { by: owner }.into(),
        OrderRejected {
            by: Actor::System,
            reason: "no answer".into(),
            payment_id: payment,
            refund_owed: Won(9_000),
        }
        .into(),
        CookingStarted {}.into(),
        CookingFinished {}.into(),
        OrderPickedUp { rider_id: rider }.into(),
        OrderDelivered {
            customer_id: customer,
            rider_id: rider,
        }
        .into(),
        OrderCancelled {
            by: Actor::Customer(customer),
            reason: "changed my mind".into(),
            payment_id: None,
            refund_owed: Won::ZERO,
        }
        .into(),
    ];
    let payments: Vec<PaymentEvent> = vec![
        PaymentApproved {
            order_id: order,
            customer_id: customer,
            amount: Won(9_000),
            payment_key: "tgen_1".into(),
            attempt: 1,
        }
        .into(),
        PaymentDeclined {
            order_id: order,
            attempt: 1,
            code: "REJECT_CARD_COMPANY".into(),
            message: "거절".into(),
        }
        .into(),
        PaymentRefunded {
            order_id: order,
            amount: Won(9_000),
            reason: "cancelled".into(),
        }
        .into(),
        PaymentRefundFailed {
            order_id: order,
            attempt: 1,
            code: "NOT_CANCELABLE".into(),
            message: "불가".into(),
        }
        .into(),
    ];
    let deliveries: Vec<DeliveryEvent> = vec![
        DeliveryRequested {
            order_id: order,
            store_id: store,
            customer_id: customer,
            pickup: p(),
            dropoff: p(),
            radius_m: 2_000,
        }
        .into(),
        RiderAssigned {
            order_id: order,
            rider_id: rider,
            distance_m: 500,
        }
        .into(),
        DeliveryPickedUp {
            order_id: order,
            rider_id: rider,
        }
        .into(),
        DeliveryCompleted {
            order_id: order,
            rider_id: rider,
        }
        .into(),
        DeliveryCancelled {
            order_id: order,
            reason: "order cancelled".into(),
        }
        .into(),
        SearchRadiusWidened {
            order_id: order,
            radius_m: 4_000,
        }
        .into(),
    ];
    let stores: Vec<StoreEvent> = vec![
        StoreRegistered {
            store_id: store,
            owner,
            name: "김밥천국".into(),
            location: p(),
            address: "서울 중구 세종대로 110".into(),
        }
        .into(),
        MenuItemAdded {
            item_id: item,
            name: "참치김밥".into(),
            price: Won(4_500),
        }
        .into(),
        MenuItemChanged {
            item_id: item,
            name: "참치김밥".into(),
            price: Won(5_000),
            available: false,
        }
        .into(),
        MenuItemRemoved { item_id: item }.into(),
        StoreOpened {}.into(),
        StoreClosed {}.into(),
    ];
    let customers: Vec<CustomerEvent> = vec![
        CustomerRegistered {
            customer_id: customer,
            name: "김민지".into(),
            phone: PhoneNumber::parse("010-1234-5678").expect("valid"),
            address: "서울 중구 을지로 12".into(),
            location: p(),
        }
        .into(),
        CompletedOrderRecorded {
            order_id: order,
            completed_orders: 5,
        }
        .into(),
        GradeUpgraded {
            from: Grade::Basic,
            to: Grade::Silver,
            completed_orders: 5,
        }
        .into(),
    ];
    let mut all = Vec::new();
    let mut add = |aggregate: &'static str, wires: Vec<(String, Value)>| {
        all.extend(wires.into_iter().map(|(t, v)| (aggregate, t, v)));
    };
    add("Order", orders.iter().map(wire).collect());
    add("Payment", payments.iter().map(wire).collect());
    add("Delivery", deliveries.iter().map(wire).collect());
    add("Store", stores.iter().map(wire).collect());
    add("Customer", customers.iter().map(wire).collect());
    all
}

#[test]
fn every_current_event_round_trips_and_matches_its_schema() {
    let catalog = event_catalog();
    let samples = samples();
    let current: Vec<&EventSchema> = catalog
        .iter()
        .filter(|s| {
            !(s.aggregate_type == "Store"
                && s.event_type == "StoreRegistered"
                && s.version == "1.0.0")
        })
        .collect();
    assert_eq!(
        samples.len(),
        current.len(),
        "one sample per current event type"
    );
    for (aggregate, event_type, payload) in samples {
        let schema = current
            .iter()
            .find(|s| s.aggregate_type == aggregate && s.event_type == event_type)
            .unwrap_or_else(|| panic!("no schema for {aggregate}.{event_type}"));
        let validator = jsonschema::validator_for(&document(schema)).expect("valid schema");
        let errors: Vec<String> = validator
            .iter_errors(&payload)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{aggregate}.{event_type}: {errors:?}");
    }
}

#[test]
fn a_version_1_store_registration_matches_the_legacy_schema() {
    let legacy = event_catalog()
        .into_iter()
        .find(|s| s.event_type == "StoreRegistered" && s.version == "1.0.0")
        .expect("legacy schema listed");
    let v1 = json!({
        "store_id": StoreId::new(), "owner": UserId::new(), "name": "옛날 가게",
        "lat": 37.5665, "lng": 126.978, "address": "서울 중구 세종대로 110"
    });
    let validator = jsonschema::validator_for(&document(&legacy)).expect("valid schema");
    assert!(validator.is_valid(&v1));
    assert!(!validator.is_valid(&json!({"store_id": StoreId::new()})));
}
