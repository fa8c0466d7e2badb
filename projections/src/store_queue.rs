//! The store order queue: a store's orders by status. An order appears once it is paid: the
//! store never sees an unpaid order.

use chrono::{DateTime, Utc};
use eats_domain::order::{Order, OrderEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use serde::Serialize;

use crate::row;
use crate::runner::Projection;
use crate::sql::{Arg, Write};
use eats_store::on_pool;

/// The store queue projection.
pub struct StoreQueueProjection;

const PLACED: &str = "INSERT INTO store_queue (order_id, store_id, status, total, lines, visible, \
     placed_at, updated_at) VALUES ($1, $2, 'awaiting_payment', $3, $4, 0, $5, $5) \
     ON CONFLICT (order_id) DO NOTHING";
const PAID: &str =
    "UPDATE store_queue SET status = 'paid', visible = 1, updated_at = $2 WHERE order_id = $1";
const STATUS: &str = "UPDATE store_queue SET status = $2, updated_at = $3 WHERE order_id = $1";

impl Projection for StoreQueueProjection {
    const NAME: &'static str = "store_queue";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Order"];
    const TABLES: &'static [&'static str] = &["store_queue"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        let id = || Arg::from(event.aggregate_id.as_str());
        let at = || Arg::from(event.occurred_at());
        let status = |s: &str| Write::new(STATUS, vec![id(), s.into(), at()]);
        Ok(vec![match event.decode::<Order>()? {
            OrderEvent::OrderPlaced(e) => Write::new(
                PLACED,
                vec![
                    id(),
                    e.store_id.to_string().into(),
                    e.total.0.into(),
                    serde_json::to_string(&e.lines).unwrap_or_default().into(),
                    at(),
                ],
            ),
            OrderEvent::OrderPaid(_) => Write::new(PAID, vec![id(), at()]),
            OrderEvent::OrderAccepted(_) => status("accepted"),
            OrderEvent::OrderRejected(_) => status("rejected"),
            OrderEvent::CookingStarted(_) => status("cooking"),
            OrderEvent::CookingFinished(_) => status("ready_for_pickup"),
            OrderEvent::OrderPickedUp(_) => status("in_delivery"),
            OrderEvent::OrderDelivered(_) => status("delivered"),
            OrderEvent::OrderCancelled(_) => status("cancelled"),
        }])
    }
}

/// One order in a store's queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueuedOrder {
    /// The order.
    pub order_id: String,
    /// Status, snake_case.
    pub status: String,
    /// Total in KRW.
    pub total: i64,
    /// The priced lines, as JSON.
    pub lines: serde_json::Value,
    /// When it was placed.
    pub placed_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

row! {
    fn decode(row) -> QueuedOrder {
        let lines: Option<String> = row.try_get("lines")?;
        QueuedOrder {
            order_id: row.try_get("order_id")?,
            status: row.try_get::<Option<String>, _>("status")?.unwrap_or_default(),
            total: row.try_get::<Option<i64>, _>("total")?.unwrap_or_default(),
            lines: lines.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default(),
            placed_at: row.try_get("placed_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }
}

/// A store's paid orders, oldest first, optionally of one status only.
pub async fn list(
    db: &Database,
    store_id: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<QueuedOrder>, sqlx::Error> {
    const SQL: &str =
        "SELECT order_id, status, total, lines, placed_at, updated_at FROM store_queue \
         WHERE store_id = $1 AND visible = 1 AND ($2 IS NULL OR status = $2) \
         ORDER BY placed_at LIMIT $3";
    on_pool!(db, |pool| {
        sqlx::query(SQL)
            .bind(store_id)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    })
}
