//! The request and response bodies of the API.
//!
//! Request bodies refuse fields they do not know (`deny_unknown_fields`: a typo is a 422
//! naming the field, not a silently dropped value). Free-text fields share one pattern: not
//! blank, no control characters and no Unicode format characters (soft hyphen, zero-width
//! and joiner characters, bidi embeddings, overrides and isolates, BOM), which would make a
//! store name look like another or reorder an address on the rider's screen.

use chrono::{DateTime, Utc};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, Enum, ExtractParamOptions, Object};

/// A position on earth.
#[derive(Object, Clone, Copy, Debug, PartialEq)]
#[oai(deny_unknown_fields)]
pub struct Location {
    /// Latitude in degrees, -90 to 90.
    #[oai(validator(minimum(value = "-90"), maximum(value = "90")))]
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    #[oai(validator(minimum(value = "-180"), maximum(value = "180")))]
    pub lng: f64,
}

/// Register yourself as a customer.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct RegisterCustomer {
    /// Display name, 1 to 50 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub name: String,
    /// Korean mobile number, e.g. `010-1234-5678`; KakaoTalk and SMS go here.
    #[oai(validator(
        min_length = 1,
        max_length = 30,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub phone: String,
    /// Default delivery address.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub address: String,
    /// Where that address is.
    pub location: Location,
}

/// A customer as they see themselves.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct CustomerProfile {
    /// The customer (the token's `sub`).
    pub customer_id: String,
    /// Display name.
    pub name: String,
    /// E.164 mobile number.
    pub phone: String,
    /// Default delivery address.
    pub address: String,
    /// Its location.
    pub location: Location,
    /// Orders delivered so far.
    pub completed_orders: i64,
    /// Loyalty grade: `basic`, `silver`, `gold` or `vip`.
    pub grade: String,
}

/// Register a store; you become its owner.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct RegisterStore {
    /// Display name, 1 to 80 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub name: String,
    /// Street address, 1 to 200 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub address: String,
    /// The pickup point.
    pub location: Location,
}

/// A store in the directory.
#[derive(Object, Debug)]
pub struct StoreSummary {
    /// The store.
    pub store_id: String,
    /// Display name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Pickup point.
    pub location: Location,
    /// Taking orders now.
    pub open: bool,
}

/// Add an item to a menu.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct NewMenuItem {
    /// Display name, 1 to 80 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub name: String,
    /// Price in KRW, 1 to 10,000,000.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub price: i64,
}

/// Change a menu item.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct MenuItemChange {
    /// Display name.
    #[oai(validator(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub name: String,
    /// Price in KRW.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub price: i64,
    /// Whether it can be ordered (false: sold out).
    pub available: bool,
}

/// An item on a menu.
#[derive(Object, Debug)]
pub struct MenuItem {
    /// The item.
    pub item_id: String,
    /// Display name.
    pub name: String,
    /// Price in KRW.
    pub price: i64,
    /// Orderable now.
    pub available: bool,
}

/// A line of a new order: which item, how many. Prices come from the menu.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct OrderLineInput {
    /// The menu item.
    pub item_id: uuid::Uuid,
    /// How many, 1 to 50.
    #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
    pub quantity: i64,
}

/// Where to deliver.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct DeliverTo {
    /// Street address and door.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub address: String,
    /// The drop-off point.
    pub location: Location,
}

/// Place an order.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct PlaceOrder {
    /// The store.
    pub store_id: uuid::Uuid,
    /// 1 to 30 lines, each item once.
    #[oai(validator(min_items = 1, max_items = 30))]
    pub lines: Vec<OrderLineInput>,
    /// Where to deliver; your registered address when absent.
    pub deliver_to: Option<DeliverTo>,
}

/// Pay for an order with the key the payment widget returned.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct PayOrder {
    /// The gateway's payment key.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub payment_key: String,
}

/// Why you cancel or reject.
#[derive(Object, Debug, Default)]
#[oai(deny_unknown_fields)]
pub struct Reason {
    /// Told to the other party; 1 to 300 characters.
    #[oai(validator(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub reason: Option<String>,
}

/// The request bodies that refuse unknown fields. poem-openapi does not write
/// `additionalProperties: false` for `deny_unknown_fields`; [`close_objects`] does, so
/// clients and Schemathesis know that an extra field is refused.
pub const CLOSED_OBJECTS: &[&str] = &[
    "Location",
    "RegisterCustomer",
    "RegisterStore",
    "NewMenuItem",
    "MenuItemChange",
    "OrderLineInput",
    "DeliverTo",
    "PlaceOrder",
    "PayOrder",
    "Reason",
    "RiderLocation",
    "NotificationPreferences",
    "QuietHours",
    "DevLogin",
    "DiscardDeadLetter",
];

/// `spec` (poem-openapi's pretty JSON) with `additionalProperties: false` on each of
/// [`CLOSED_OBJECTS`]. Edited as text: re-serialising would reorder every key.
pub fn close_objects(mut spec: String) -> String {
    for name in CLOSED_OBJECTS {
        let open = format!("\"{name}\": {{\n        \"type\": \"object\",\n");
        if let Some(at) = spec.find(&open) {
            spec.insert_str(
                at + open.len(),
                "        \"additionalProperties\": false,\n",
            );
        }
    }
    spec
}

/// An optional JSON body: absent (no `Content-Type`, nothing sent), empty or `null` all mean
/// "nothing to say", so `POST .../cancel` works from a bare `curl -X POST`. A body that is
/// sent is parsed and validated like any other.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T> ApiExtractor<'a> for OptionalJson<T>
where
    T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Json<Option<T>> as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<Option<T>> as Payload>::CONTENT_TYPE,
                schema: <Json<Option<T>> as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type)
                if <Json<Option<T>> as Payload>::check_content_type(content_type) =>
            {
                let Json(value) =
                    <Json<Option<T>> as ParsePayload>::from_request(request, body).await?;
                Ok(Self(value))
            }
            Some(content_type) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
            None => {
                let data = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
                if data.is_empty() {
                    Ok(Self(None))
                } else {
                    Err(poem_openapi::error::ContentTypeError::ExpectContentType.into())
                }
            }
        }
    }
}

/// What a write did: the id and the new status. Read models follow; poll or stream them.
#[derive(Object, Debug)]
pub struct Accepted {
    /// The thing written.
    pub id: String,
    /// Its status now.
    pub status: String,
}

/// The outcome of a payment attempt.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct PaymentOutcome {
    /// The order.
    pub order_id: String,
    // `approved` (the order becomes paid) or `declined` (pay again, e.g. another card). A
    // plain comment: a doc line would wrap the enum reference in `allOf`, which SDK
    // generators mishandle.
    #[allow(missing_docs)]
    pub payment_status: PaymentStatus,
    /// The gateway's message when declined, or what happened to an approved payment whose
    /// order was cancelled meanwhile.
    pub message: Option<String>,
    /// The order's status when this answered: `cancelled` or `rejected` when the order lost
    /// a race to a cancel (the payment is then refunded); `awaiting_payment` or `paid` while
    /// an approved payment is being recorded.
    pub order_status: String,
}

/// A payment's result.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Captured.
    Approved,
    /// Refused by the card company.
    Declined,
    /// Captured, but the order was cancelled before the payment reached it: the charge is
    /// refunded (the refund may still be on its way).
    Refunded,
}

/// An order as the customer (or its store) sees it.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct OrderView {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer_id: String,
    /// From which store.
    pub store_id: String,
    /// `awaiting_payment`, `paid`, `accepted`, `rejected`, `cooking`, `ready_for_pickup`,
    /// `in_delivery`, `delivered` or `cancelled`.
    pub status: String,
    /// The priced lines.
    pub lines: Vec<OrderLine>,
    /// Total in KRW.
    pub total: i64,
    /// Delivery address.
    pub deliver_to: String,
    /// `approved`, `declined`, `refunded` or `refund_failed`.
    pub payment_status: Option<String>,
    /// Refund owed after a cancel or reject.
    pub refund_owed: Option<i64>,
    /// Refunded amount.
    pub refunded: Option<i64>,
    /// The rider, once assigned.
    pub rider_id: Option<String>,
    /// Why it was cancelled or rejected.
    pub reason: Option<String>,
    /// When it was placed.
    pub placed_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// When the store accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When cooking started.
    pub cooking_started_at: Option<DateTime<Utc>>,
    /// When it was ready.
    pub ready_at: Option<DateTime<Utc>>,
    /// When the rider picked it up.
    pub picked_up_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When it was rejected.
    pub rejected_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A priced line.
#[derive(Object, Debug, serde::Deserialize)]
pub struct OrderLine {
    /// The menu item.
    pub item_id: String,
    /// Its name when ordered.
    pub name: String,
    /// Its price when ordered.
    pub unit_price: i64,
    /// How many.
    pub quantity: i64,
    /// unit price × quantity.
    pub line_total: i64,
}

impl From<eats_projections::order_view::OrderView> for OrderView {
    fn from(v: eats_projections::order_view::OrderView) -> Self {
        Self {
            lines: serde_json::from_value(v.lines).unwrap_or_default(),
            order_id: v.order_id,
            customer_id: v.customer_id,
            store_id: v.store_id,
            status: v.status,
            total: v.total,
            deliver_to: v.deliver_to,
            payment_status: v.payment_status,
            refund_owed: v.refund_owed,
            refunded: v.refunded,
            rider_id: v.rider_id,
            reason: v.reason,
            placed_at: v.placed_at,
            paid_at: v.paid_at,
            accepted_at: v.accepted_at,
            cooking_started_at: v.cooking_started_at,
            ready_at: v.ready_at,
            picked_up_at: v.picked_up_at,
            delivered_at: v.delivered_at,
            cancelled_at: v.cancelled_at,
            rejected_at: v.rejected_at,
            updated_at: v.updated_at,
        }
    }
}

/// An order in a store's queue.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct QueuedOrder {
    /// The order.
    pub order_id: String,
    /// Its status.
    pub status: String,
    /// Total in KRW.
    pub total: i64,
    /// The priced lines.
    pub lines: Vec<OrderLine>,
    /// When it was placed.
    pub placed_at: Option<DateTime<Utc>>,
}

/// One status change of an order, as streamed.
#[derive(Object, Debug, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct StatusChange {
    /// The order event's sequence; also the SSE event id, for `Last-Event-ID`.
    pub sequence: i64,
    /// The status it moved to.
    pub status: String,
    /// The event behind it.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Where a rider is.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct RiderLocation {
    /// Latitude.
    #[oai(validator(minimum(value = "-90"), maximum(value = "90")))]
    pub lat: f64,
    /// Longitude.
    #[oai(validator(minimum(value = "-180"), maximum(value = "180")))]
    pub lng: f64,
}

/// An open delivery job near a rider.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct OpenJob {
    /// Claim it with this id.
    pub delivery_id: String,
    /// The order.
    pub order_id: String,
    /// The store.
    pub store_id: String,
    /// Pickup point.
    pub pickup: Location,
    /// Drop-off point.
    pub dropoff: Location,
    /// Your distance to the pickup, in metres.
    pub distance_m: u32,
}

/// A stored event, for audits.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StoredEvent {
    /// Position in the aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The stored version.
    pub event_version: String,
    /// The payload as stored.
    pub payload: serde_json::Value,
    /// Correlation, causation, actor, time, trace.
    pub metadata: serde_json::Value,
}

/// A message a process manager gave up on.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct DeadLetter {
    /// Its id.
    pub id: i64,
    /// The consumer.
    pub consumer: String,
    /// The event.
    pub event_key: String,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was parked.
    pub failed_at: DateTime<Utc>,
}

/// How far a consumer is behind.
#[derive(Object, Debug)]
pub struct ConsumerLag {
    /// The consumer (projection or process manager).
    pub consumer: String,
    /// Events not yet handled.
    pub events: u64,
    /// Age of the oldest, in seconds.
    pub seconds: f64,
}

// ---- Pages ----------------------------------------------------------------------------
//
// Every list answers `{ "items": [...], "next": "<cursor>" }`; `next` is absent on the last
// page (never null). Pass it back as `cursor` for the page after.

/// Declares the page type of one list.
macro_rules! page {
    ($(#[$doc:meta])* $name:ident of $item:ty) => {
        $(#[$doc])*
        #[derive(Object, Debug)]
        #[oai(skip_serializing_if_is_none)]
        pub struct $name {
            /// This page's rows, in the list's documented order.
            pub items: Vec<$item>,
            /// Opaque cursor of the next page (pass it as `cursor`); absent on the last page.
            pub next: Option<String>,
        }
    };
}

page!(
    /// A page of a store's order queue.
    QueuedOrderPage of QueuedOrder
);
page!(
    /// A page of the caller's orders.
    OrderViewPage of OrderView
);
page!(
    /// A page of open delivery jobs near a rider.
    OpenJobPage of OpenJob
);
page!(
    /// A page of unreplayed dead letters.
    DeadLetterPage of DeadLetter
);
page!(
    /// A page of the store directory.
    StoreSummaryPage of StoreSummary
);

#[cfg(test)]
mod tests {
    use super::CLOSED_OBJECTS;

    /// Every `deny_unknown_fields` object of the crate is in the list, so the document
    /// never promises a body that accepts what the server refuses (Schemathesis found one).
    #[test]
    fn every_object_that_refuses_unknown_fields_is_listed() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut unlisted = Vec::new();
        for file in std::fs::read_dir(&src).expect("src") {
            let text = std::fs::read_to_string(file.expect("entry").path()).expect("read");
            for (at, _) in text.match_indices("\n#[oai(deny_unknown_fields)]") {
                let name = text[at..]
                    .split("pub struct ")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_alphanumeric()).next())
                    .expect("a struct after the attribute");
                if !CLOSED_OBJECTS.contains(&name) {
                    unlisted.push(name.to_string());
                }
            }
        }
        assert!(unlisted.is_empty(), "not in CLOSED_OBJECTS: {unlisted:?}");
    }

    #[test]
    fn the_document_says_that_each_request_body_refuses_unknown_fields() {
        let spec: serde_json::Value = serde_json::from_str(&crate::openapi_json()).expect("JSON");
        for name in CLOSED_OBJECTS {
            assert_eq!(
                spec["components"]["schemas"][name]["additionalProperties"],
                serde_json::Value::Bool(false),
                "{name}"
            );
        }
    }
}

/// A store's kitchen queue as streamed: the whole queue after each change.
#[derive(Object, Debug)]
pub struct QueueSnapshot {
    /// Names this content (a hash of it); also the SSE event id. Sent as `Last-Event-ID`, the
    /// stream waits for the queue to differ from it instead of repeating it.
    pub version: String,
    /// The orders the kitchen must act on (`paid`, `accepted`, `cooking`,
    /// `ready_for_pickup`), as `GET /stores/{id}/orders` lists them, at most 200.
    pub items: Vec<QueuedOrder>,
}

/// The open jobs near a rider as streamed: the whole list after each change.
#[derive(Object, Debug)]
pub struct JobsSnapshot {
    /// Names this content (a hash of it); also the SSE event id. Sent as `Last-Event-ID`, the
    /// stream waits for the list to differ from it instead of repeating it.
    pub version: String,
    /// The jobs as `GET /deliveries/available` lists them (nearest first), at most 200.
    pub items: Vec<OpenJob>,
}

/// Development sign-in: who to be.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct DevLogin {
    /// The role the token carries.
    pub role: DevRole,
    /// A name; the same role and name always get the same user id, so signing in again
    /// finds your orders and stores.
    #[oai(validator(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    ))]
    pub name: StrictString,
}

/// A JSON string and only that: poem-openapi's `String` also takes a number or a boolean
/// (`false` becomes `"false"`), which the schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictString(pub String);

impl poem_openapi::types::Type for StrictString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl poem_openapi::types::ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::String(text) => Ok(Self(text)),
            other => Err(poem_openapi::types::ParseError::expected_type(other)),
        }
    }
}

impl poem_openapi::types::ToJSON for StrictString {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A role, as the development sign-in names it.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum DevRole {
    /// Orders food.
    Customer,
    /// Runs a store.
    StoreOwner,
    /// Delivers.
    Rider,
    /// Operates eats.
    Admin,
}

/// A development token.
#[derive(Object, Debug)]
pub struct DevToken {
    /// The bearer JWT.
    pub token: String,
    /// Its `sub`: the user.
    pub user_id: String,
    /// Its role.
    pub role: DevRole,
    /// The name signed in with.
    pub name: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Where the rider bringing your order is, as streamed after each report.
#[derive(Object, Debug)]
pub struct RiderPosition {
    /// Names this content (a hash of it); also the SSE event id, for `Last-Event-ID`.
    pub version: String,
    /// Latitude the rider last reported.
    pub lat: f64,
    /// Longitude the rider last reported.
    pub lng: f64,
    /// Metres from there to your delivery address, in a straight line.
    pub distance_m: u32,
    /// When they reported it.
    pub updated_at: DateTime<Utc>,
}
