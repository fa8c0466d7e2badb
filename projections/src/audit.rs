//! The audit timeline: every event caused by one order, across all aggregates.

use chrono::{DateTime, Utc};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use serde::Serialize;

use crate::row;
use crate::runner::Projection;
use crate::sql::Write;
use eats_store::on_pool;

/// The audit timeline projection.
pub struct AuditTimelineProjection;

const APPEND: &str = "INSERT INTO audit_timeline (correlation_id, aggregate_type, aggregate_id, \
     sequence, event_type, event_version, actor, occurred_at, payload) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (correlation_id, aggregate_type, aggregate_id, sequence) DO NOTHING";

impl Projection for AuditTimelineProjection {
    const NAME: &'static str = "audit_timeline";
    const AGGREGATE_TYPES: &'static [&'static str] =
        &["Order", "Payment", "Delivery", "Store", "Customer"];
    const TABLES: &'static [&'static str] = &["audit_timeline"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        Ok(vec![Write::new(
            APPEND,
            vec![
                event.correlation_id().into(),
                event.aggregate_type.as_str().into(),
                event.aggregate_id.as_str().into(),
                i64::try_from(event.sequence).unwrap_or(i64::MAX).into(),
                event.event_type.as_str().into(),
                event.event_version.as_str().into(),
                event.actor().map(str::to_string).into(),
                event.occurred_at().into(),
                event.payload.to_string().into(),
            ],
        )])
    }
}

/// One entry of an order's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The aggregate that emitted it.
    pub aggregate_type: String,
    /// Its id.
    pub aggregate_id: String,
    /// Its position in that aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The stored version.
    pub event_version: String,
    /// Who caused it.
    pub actor: Option<String>,
    /// When.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The stored payload.
    pub payload: serde_json::Value,
}

row! {
    fn decode(row) -> TimelineEntry {
        let payload: String = row.try_get("payload")?;
        TimelineEntry {
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            actor: row.try_get("actor")?,
            occurred_at: row.try_get("occurred_at")?,
            payload: serde_json::from_str(&payload).unwrap_or_default(),
        }
    }
}

/// Everything that happened because of `correlation_id`, in time order.
pub async fn timeline(
    db: &Database,
    correlation_id: &str,
) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    const SQL: &str =
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, actor, \
         occurred_at, payload FROM audit_timeline WHERE correlation_id = $1 \
         ORDER BY occurred_at, aggregate_type, sequence";
    on_pool!(db, |pool| {
        sqlx::query(SQL)
            .bind(correlation_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    })
}
