//! The store order queue: a store's orders by status. An order appears once it is paid: the
//! store never sees an unpaid order.

use chrono::{DateTime, Utc};
use eats_domain::order::{Order, OrderEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use serde::Serialize;

use crate::page::{OrderKey, Page, ACTIVE};
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

/// One paid order of the queue, or `None` while it is unpaid or unknown.
pub async fn fetch(db: &Database, order_id: &str) -> Result<Option<QueuedOrder>, sqlx::Error> {
    const SQL: &str =
        "SELECT order_id, status, total, lines, placed_at, updated_at FROM store_queue \
         WHERE order_id = $1 AND visible = 1";
    on_pool!(db, |pool| {
        match sqlx::query(SQL).bind(order_id).fetch_optional(pool).await? {
            Some(row) => Ok(Some(decode(&row)?)),
            None => Ok(None),
        }
    })
}

/// Which of a store's orders a queue read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueFilter {
    /// What the kitchen must act on: paid, accepted, cooking, ready for pickup.
    Kitchen,
    /// Every paid order, active or finished (the store's history).
    All,
    /// Only orders in this status.
    Status(String),
}

/// The statuses of [`QueueFilter::Kitchen`].
pub const KITCHEN_STATUSES: [&str; 4] = ["paid", "accepted", "cooking", "ready_for_pickup"];

/// One page of a store's paid orders: active first, then newest placed, then by order id
/// (see [`OrderKey`]), starting after `after`.
///
/// One indexed range read of `limit + 1` rows whatever the store's history: the kitchen
/// filter seeks straight to the active rows, a single status to that status's rows.
pub async fn page(
    db: &Database,
    store_id: &str,
    filter: &QueueFilter,
    after: Option<&OrderKey>,
    limit: i64,
) -> Result<Page<QueuedOrder, OrderKey>, sqlx::Error> {
    let (sql, args) = page_query(store_id, filter, after, limit);
    let rows = on_pool!(db, |pool| {
        crate::bind_args!(sqlx::query(&sql), &args)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Page::from_rows(rows, limit, |q| {
        OrderKey::of(&q.status, q.placed_at, &q.order_id)
    }))
}

/// The statement [`page`] runs and its arguments (it reads `limit + 1` rows), so that tools
/// can show its plan.
pub fn page_query(
    store_id: &str,
    filter: &QueueFilter,
    after: Option<&OrderKey>,
    limit: i64,
) -> (String, Vec<Arg>) {
    let status = match filter {
        QueueFilter::Status(s) => Some(s.as_str()),
        _ => None,
    };
    let status_clause = match filter {
        QueueFilter::Kitchen => format!(
            "AND {ACTIVE} = 1 AND status IN ('{}')",
            KITCHEN_STATUSES.join("', '")
        ),
        QueueFilter::All => String::new(),
        QueueFilter::Status(_) => "AND status = $3".to_string(),
    };
    // When the filter pins the first key (the kitchen's statuses are all active, one status
    // is one value), the sort and the cursor leave it out: the planner then reads the
    // matching index as one range instead of filtering or sorting.
    let pinned = !matches!(filter, QueueFilter::All);
    let (order, after_clause) = if pinned {
        let first = if status.is_some() { 4 } else { 3 };
        (
            "placed_at DESC, order_id DESC".to_string(),
            format!("AND (placed_at, order_id) < (${first}, ${})", first + 1),
        )
    } else {
        (
            format!("{ACTIVE} DESC, placed_at DESC, order_id DESC"),
            format!("AND ({ACTIVE}, placed_at, order_id) < ($3, $4, $5)"),
        )
    };
    let after_clause = if after.is_some() {
        after_clause
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT order_id, status, total, lines, placed_at, updated_at FROM store_queue \
         WHERE store_id = $1 AND visible = 1 AND placed_at IS NOT NULL {status_clause} \
         {after_clause} ORDER BY {order} LIMIT $2"
    );
    let mut args = vec![Arg::from(store_id), Arg::from(limit + 1)];
    if let Some(status) = status {
        args.push(status.into());
    }
    if let Some(key) = after {
        if !pinned {
            args.push(key.active.into());
        }
        args.push(Some(key.placed_at).into());
        args.push(key.order_id.as_str().into());
    }
    (sql, args)
}

/// The store whose queue an order's event changed. Only `OrderPlaced` names the store, so
/// the later events find it in the row the projection has just written.
pub struct QueueTopics(pub Database);

#[async_trait::async_trait]
impl crate::live::Topics for QueueTopics {
    async fn topic(&self, event: &FeedEvent) -> Result<Option<crate::live::Topic>, sqlx::Error> {
        Ok(self.topics(std::slice::from_ref(event)).await?.pop())
    }

    async fn topics(&self, events: &[FeedEvent]) -> Result<Vec<crate::live::Topic>, sqlx::Error> {
        let orders: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
        let stores =
            crate::live::look_up(&self.0, "store_queue", "order_id", "store_id", &orders).await?;
        Ok(stores
            .iter()
            .map(|store| crate::live::Topic::store(store))
            .collect())
    }
}
