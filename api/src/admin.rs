//! What operators see: any aggregate's events, dead letters, consumer lag.

use eats_projections::audit;
use eats_projections::page::Page;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, OpenApi};

use crate::auth::{Role, User};
use crate::paging;
use crate::problem::{not_found, ApiError};
use crate::state::ApiState;
use crate::types::*;
use crate::ApiTags;

/// Admin endpoints.
pub struct AdminApi;

/// The aggregate types.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateType {
    /// Orders.
    Order,
    /// Payments.
    Payment,
    /// Delivery jobs.
    Delivery,
    /// Stores.
    Store,
    /// Customers.
    Customer,
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// Every stored event of one aggregate, oldest first, as stored.
    #[oai(
        path = "/admin/aggregates/:aggregate_type/:aggregate_id/events",
        method = "get",
        operation_id = "getAggregateEvents"
    )]
    async fn events(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        aggregate_type: Path<AggregateType>,
        aggregate_id: Path<String>,
    ) -> Result<Json<Vec<StoredEvent>>, ApiError> {
        user.require(Role::Admin)?;
        let kind = format!("{:?}", aggregate_type.0);
        let events = state
            .db
            .history(&kind, &aggregate_id.0)
            .await
            .map_err(|e| ApiError::from(sqlx::Error::Protocol(e.to_string())))?;
        if events.is_empty() {
            return Err(not_found("aggregate"));
        }
        Ok(Json(
            events
                .into_iter()
                .map(|e| StoredEvent {
                    sequence: e.sequence as i64,
                    event_type: e.event_type,
                    event_version: e.event_version,
                    payload: e.payload,
                    metadata: e.metadata,
                })
                .collect(),
        ))
    }

    /// An order's timeline across all aggregates (read model).
    #[oai(
        path = "/admin/orders/:order_id/timeline",
        method = "get",
        operation_id = "getOrderTimeline"
    )]
    async fn timeline(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<uuid::Uuid>,
    ) -> Result<Json<Vec<StoredEvent>>, ApiError> {
        user.require(Role::Admin)?;
        let entries = audit::timeline(&state.db, &order_id.0.to_string()).await?;
        if entries.is_empty() {
            return Err(not_found("order"));
        }
        Ok(Json(
            entries
                .into_iter()
                .map(|e| StoredEvent {
                    sequence: e.sequence,
                    event_type: e.event_type,
                    event_version: e.event_version,
                    payload: e.payload,
                    metadata: serde_json::json!({
                        "aggregate_type": e.aggregate_type,
                        "aggregate_id": e.aggregate_id,
                        "actor": e.actor,
                        "occurred_at": e.occurred_at,
                    }),
                })
                .collect(),
        ))
    }

    /// Messages the process managers gave up on and that no one has replayed yet: newest
    /// first (by id). Page with `limit` and the `next` cursor of the previous page.
    #[oai(
        path = "/admin/dead-letters",
        method = "get",
        operation_id = "listDeadLetters"
    )]
    async fn dead_letters(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<DeadLetterPage>, ApiError> {
        const SCOPE: &str = "dead-letters";
        user.require(Role::Admin)?;
        let limit = paging::limit(limit.0, 50, 200)?;
        let after: Option<i64> = paging::after(SCOPE, cursor.0.as_deref())?;
        // One range read of the partial index on unreplayed letters (migration 0007).
        let sql = format!(
            "SELECT id, consumer, event_key, error, attempts, failed_at FROM dead_letters \
             WHERE replayed_at IS NULL {} ORDER BY id DESC LIMIT $1",
            if after.is_some() { "AND id < $2" } else { "" }
        );
        let letters = eats_store::on_pool!(state.db, |pool| {
            let query = sqlx::query_as::<
                _,
                (
                    i64,
                    String,
                    String,
                    String,
                    i64,
                    chrono::DateTime<chrono::Utc>,
                ),
            >(&sql)
            .bind(limit + 1);
            match after {
                Some(id) => query.bind(id),
                None => query,
            }
            .fetch_all(pool)
            .await
        })?;
        let page = Page::from_rows(letters, limit, |letter| letter.0);
        Ok(Json(DeadLetterPage {
            next: paging::next(SCOPE, page.next.as_ref())?,
            items: page
                .items
                .into_iter()
                .map(
                    |(id, consumer, event_key, error, attempts, failed_at)| DeadLetter {
                        id,
                        consumer,
                        event_key,
                        error,
                        attempts,
                        failed_at,
                    },
                )
                .collect(),
        }))
    }

    /// How far each projection and process manager is behind (last measurement).
    #[oai(
        path = "/admin/projections",
        method = "get",
        operation_id = "getProjectionStatus"
    )]
    async fn projections(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
    ) -> Result<Json<Vec<ConsumerLag>>, ApiError> {
        user.require(Role::Admin)?;
        Ok(Json(
            state
                .lag
                .all()
                .into_iter()
                .map(|(consumer, lag)| ConsumerLag {
                    consumer,
                    events: lag.events,
                    seconds: lag.seconds,
                })
                .collect(),
        ))
    }
}
