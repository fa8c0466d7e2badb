//! The order view: what the customer polls and streams, one row per order.
//!
//! Fed by Order, Payment and Delivery events. Every write is an upsert keyed by the order, so
//! a payment event applied before the order's own still lands; the per-aggregate position
//! guard keeps each aggregate's part of the row moving forward only.

use chrono::{DateTime, Utc};
use eats_domain::delivery::{Delivery, DeliveryEvent};
use eats_domain::order::{Order, OrderEvent};
use eats_domain::payment::{Payment, PaymentEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use serde::Serialize;

use crate::live::Topic;
use crate::page::{OrderKey, Page, ACTIVE};
use crate::row;
use crate::runner::Projection;
use crate::sql::{Arg, Write};
use eats_store::on_pool;

/// The order view projection.
pub struct OrderViewProjection;

/// The order whose view `event` changes: Order events are the order's own, Payment and
/// Delivery events carry it as their correlation id.
fn order_of(event: &FeedEvent) -> &str {
    match event.aggregate_type.as_str() {
        "Order" => &event.aggregate_id,
        _ => event.correlation_id(),
    }
}

/// The topic of the order whose status `event` changes: the order's own events only. The
/// one follower of an order's topic is its status stream, which reads the order's events;
/// woken by a payment's or delivery's event, it read and found nothing (a third of its reads
/// in a load run).
pub fn topic(event: &FeedEvent) -> Option<Topic> {
    (event.aggregate_type == "Order").then(|| Topic::order(&event.aggregate_id))
}

const PLACED: &str =
    "INSERT INTO order_view (order_id, customer_id, store_id, status, lines, total, \
     pickup_lat, pickup_lng, deliver_to, dropoff_lat, dropoff_lng, placed_at, updated_at) \
     VALUES ($1, $2, $3, 'awaiting_payment', $4, $5, $6, $7, $8, $9, $10, $11, $11) \
     ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, \
     store_id = excluded.store_id, status = excluded.status, lines = excluded.lines, \
     total = excluded.total, pickup_lat = excluded.pickup_lat, pickup_lng = excluded.pickup_lng, \
     deliver_to = excluded.deliver_to, dropoff_lat = excluded.dropoff_lat, \
     dropoff_lng = excluded.dropoff_lng, placed_at = excluded.placed_at, \
     updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";

/// An upsert of the status and the timestamp column of that step.
macro_rules! step {
    ($column:literal) => {
        concat!(
            "INSERT INTO order_view (order_id, status, ",
            $column,
            ", updated_at) ",
            "VALUES ($1, $2, $3, $3) ON CONFLICT (order_id) DO UPDATE SET ",
            "status = excluded.status, ",
            $column,
            " = excluded.",
            $column,
            ", updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END"
        )
    };
}

const CLOSED: &str = "INSERT INTO order_view (order_id, status, reason, refund_owed, rejected_at, \
     cancelled_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, \
     refund_owed = excluded.refund_owed, rejected_at = excluded.rejected_at, \
     cancelled_at = excluded.cancelled_at, updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";
const PICKED_UP: &str =
    "INSERT INTO order_view (order_id, status, rider_id, picked_up_at, updated_at) \
     VALUES ($1, 'in_delivery', $2, $3, $3) ON CONFLICT (order_id) DO UPDATE SET \
     status = excluded.status, rider_id = excluded.rider_id, picked_up_at = excluded.picked_up_at, \
     updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";
const PAYMENT: &str =
    "INSERT INTO order_view (order_id, payment_status, payment_attempts, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO UPDATE SET \
     payment_status = excluded.payment_status, payment_attempts = excluded.payment_attempts, \
     updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";
const REFUNDED: &str =
    "INSERT INTO order_view (order_id, payment_status, refunded, refunded_at, updated_at) \
     VALUES ($1, 'refunded', $2, $3, $3) ON CONFLICT (order_id) DO UPDATE SET \
     payment_status = excluded.payment_status, refunded = excluded.refunded, \
     refunded_at = excluded.refunded_at, updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";
const REFUND_FAILED: &str = "INSERT INTO order_view (order_id, payment_status, updated_at) \
     VALUES ($1, 'refund_failed', $2) ON CONFLICT (order_id) DO UPDATE SET \
     payment_status = excluded.payment_status, updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";
const RIDER: &str = "INSERT INTO order_view (order_id, rider_id, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (order_id) DO UPDATE SET rider_id = excluded.rider_id, \
     updated_at = CASE WHEN order_view.updated_at IS NULL \
     OR excluded.updated_at > order_view.updated_at THEN excluded.updated_at \
     ELSE order_view.updated_at END";

fn order_writes(event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
    let id = || Arg::from(event.aggregate_id.as_str());
    let at = || Arg::from(event.occurred_at());
    let step_write =
        |sql: &'static str, status: &str| Write::new(sql, vec![id(), status.into(), at()]);
    Ok(vec![match event.decode::<Order>()? {
        OrderEvent::OrderPlaced(e) => Write::new(
            PLACED,
            vec![
                id(),
                e.customer_id.to_string().into(),
                e.store_id.to_string().into(),
                serde_json::to_string(&e.lines).unwrap_or_default().into(),
                e.total.0.into(),
                e.pickup.lat.into(),
                e.pickup.lng.into(),
                e.deliver_to.address.into(),
                e.deliver_to.location.lat.into(),
                e.deliver_to.location.lng.into(),
                at(),
            ],
        ),
        OrderEvent::OrderPaid(_) => step_write(step!("paid_at"), "paid"),
        OrderEvent::OrderAccepted(_) => step_write(step!("accepted_at"), "accepted"),
        OrderEvent::CookingStarted(_) => step_write(step!("cooking_started_at"), "cooking"),
        OrderEvent::CookingFinished(_) => step_write(step!("ready_at"), "ready_for_pickup"),
        OrderEvent::OrderDelivered(_) => step_write(step!("delivered_at"), "delivered"),
        OrderEvent::OrderPickedUp(e) => {
            Write::new(PICKED_UP, vec![id(), e.rider_id.to_string().into(), at()])
        }
        OrderEvent::OrderRejected(e) => Write::new(
            CLOSED,
            vec![
                id(),
                "rejected".into(),
                e.reason.into(),
                e.refund_owed.0.into(),
                at(),
                Arg::Time(None),
                at(),
            ],
        ),
        OrderEvent::OrderCancelled(e) => Write::new(
            CLOSED,
            vec![
                id(),
                "cancelled".into(),
                e.reason.into(),
                e.refund_owed.0.into(),
                Arg::Time(None),
                at(),
                at(),
            ],
        ),
    }])
}

fn payment_writes(event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
    let at = || Arg::from(event.occurred_at());
    Ok(vec![match event.decode::<Payment>()? {
        PaymentEvent::PaymentApproved(e) => Write::new(
            PAYMENT,
            vec![
                e.order_id.to_string().into(),
                "approved".into(),
                e.attempt.into(),
                at(),
            ],
        ),
        PaymentEvent::PaymentDeclined(e) => Write::new(
            PAYMENT,
            vec![
                e.order_id.to_string().into(),
                "declined".into(),
                e.attempt.into(),
                at(),
            ],
        ),
        PaymentEvent::PaymentRefunded(e) => Write::new(
            REFUNDED,
            vec![e.order_id.to_string().into(), e.amount.0.into(), at()],
        ),
        PaymentEvent::PaymentRefundFailed(e) => {
            Write::new(REFUND_FAILED, vec![e.order_id.to_string().into(), at()])
        }
    }])
}

fn delivery_writes(event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
    Ok(match event.decode::<Delivery>()? {
        DeliveryEvent::RiderAssigned(e) => vec![Write::new(
            RIDER,
            vec![
                e.order_id.to_string().into(),
                e.rider_id.to_string().into(),
                event.occurred_at().into(),
            ],
        )],
        _ => vec![],
    })
}

impl Projection for OrderViewProjection {
    const NAME: &'static str = "order_view";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Order", "Payment", "Delivery"];
    const TABLES: &'static [&'static str] = &["order_view"];
    const PARTITIONS: usize = 4;

    /// Every event writes its order's row only.
    fn partition<'e>(&self, event: &'e FeedEvent) -> &'e str {
        order_of(event)
    }

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        match event.aggregate_type.as_str() {
            "Order" => order_writes(event),
            "Payment" => payment_writes(event),
            "Delivery" => delivery_writes(event),
            _ => Ok(vec![]),
        }
    }
}

/// One order as the customer sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderView {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer_id: String,
    /// From which store.
    pub store_id: String,
    /// Lifecycle status, snake_case (`awaiting_payment`, `paid`, ...).
    pub status: String,
    /// The priced lines, as JSON.
    pub lines: serde_json::Value,
    /// Total in KRW.
    pub total: i64,
    /// Where it goes.
    pub deliver_to: String,
    /// `approved`, `declined`, `refunded`, `refund_failed`, or none yet.
    pub payment_status: Option<String>,
    /// Payment attempts so far.
    pub payment_attempts: Option<i64>,
    /// Refund owed after a cancel or reject.
    pub refund_owed: Option<i64>,
    /// Refunded amount.
    pub refunded: Option<i64>,
    /// The rider, once assigned.
    pub rider_id: Option<String>,
    /// Why it was cancelled or rejected.
    pub reason: Option<String>,
    /// When each step happened.
    pub placed_at: Option<DateTime<Utc>>,
    /// Paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Rejected.
    pub rejected_at: Option<DateTime<Utc>>,
    /// Cooking started.
    pub cooking_started_at: Option<DateTime<Utc>>,
    /// Cooking finished.
    pub ready_at: Option<DateTime<Utc>>,
    /// Picked up.
    pub picked_up_at: Option<DateTime<Utc>>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Refunded.
    pub refunded_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "order_id, customer_id, store_id, status, lines, total, deliver_to, \
     payment_status, payment_attempts, refund_owed, refunded, rider_id, reason, placed_at, paid_at, \
     accepted_at, rejected_at, cooking_started_at, ready_at, picked_up_at, delivered_at, \
     cancelled_at, refunded_at, updated_at";

row! {
    fn decode_view(row) -> OrderView {
        let lines: Option<String> = row.try_get("lines")?;
        OrderView {
            order_id: row.try_get("order_id")?,
            customer_id: row.try_get::<Option<String>, _>("customer_id")?.unwrap_or_default(),
            store_id: row.try_get::<Option<String>, _>("store_id")?.unwrap_or_default(),
            status: row.try_get::<Option<String>, _>("status")?.unwrap_or_default(),
            lines: lines.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default(),
            total: row.try_get::<Option<i64>, _>("total")?.unwrap_or_default(),
            deliver_to: row.try_get::<Option<String>, _>("deliver_to")?.unwrap_or_default(),
            payment_status: row.try_get("payment_status")?,
            payment_attempts: row.try_get("payment_attempts")?,
            refund_owed: row.try_get("refund_owed")?,
            refunded: row.try_get("refunded")?,
            rider_id: row.try_get("rider_id")?,
            reason: row.try_get("reason")?,
            placed_at: row.try_get("placed_at")?,
            paid_at: row.try_get("paid_at")?,
            accepted_at: row.try_get("accepted_at")?,
            rejected_at: row.try_get("rejected_at")?,
            cooking_started_at: row.try_get("cooking_started_at")?,
            ready_at: row.try_get("ready_at")?,
            picked_up_at: row.try_get("picked_up_at")?,
            delivered_at: row.try_get("delivered_at")?,
            cancelled_at: row.try_get("cancelled_at")?,
            refunded_at: row.try_get("refunded_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }
}

/// One order, once its `OrderPlaced` has been projected.
pub async fn fetch(db: &Database, order_id: &str) -> Result<Option<OrderView>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM order_view WHERE order_id = $1 AND placed_at IS NOT NULL");
    on_pool!(db, |pool| {
        match sqlx::query(&sql)
            .bind(order_id)
            .fetch_optional(pool)
            .await?
        {
            Some(row) => Ok(Some(decode_view(&row)?)),
            None => Ok(None),
        }
    })
}

/// One page of a customer's orders: active first, then newest placed, then by order id (see
/// [`OrderKey`]), starting after `after`; one indexed range read of `limit + 1` rows.
pub async fn page_for_customer(
    db: &Database,
    customer_id: &str,
    after: Option<&OrderKey>,
    limit: i64,
) -> Result<Page<OrderView, OrderKey>, sqlx::Error> {
    let after_clause = match after {
        Some(_) => format!("AND ({ACTIVE}, placed_at, order_id) < ($3, $4, $5)"),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM order_view WHERE customer_id = $1 AND placed_at IS NOT NULL \
         {after_clause} ORDER BY {ACTIVE} DESC, placed_at DESC, order_id DESC LIMIT $2"
    );
    let rows = on_pool!(db, |pool| {
        let mut query = sqlx::query(&sql).bind(customer_id).bind(limit + 1);
        if let Some(key) = after {
            query = query
                .bind(key.active)
                .bind(key.placed_at)
                .bind(key.order_id.as_str());
        }
        query
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode_view)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Page::from_rows(rows, limit, |v| {
        OrderKey::of(&v.status, v.placed_at, &v.order_id)
    }))
}
