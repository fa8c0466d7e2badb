//! What operators see: any aggregate's events, an order's whole story, dead letters (and
//! retrying or discarding them), projection status and consumer lag.

use eats_projections::audit;
use eats_projections::page::Page;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use crate::auth::{Role, User};
use crate::paging;
use crate::problem::{not_found, ApiError, Problem, ProblemKind};
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

    /// Messages the process managers gave up on and that no one has retried or discarded yet: newest
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
             WHERE replayed_at IS NULL AND discarded_at IS NULL {} ORDER BY id DESC LIMIT $1",
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

    /// An order's whole story from the event store: every event of its order, payment,
    /// delivery and customer effects in commit order, who did it, what caused it
    /// (`caused_by`: the `n` of the event a process manager reacted to; else a command),
    /// the state after it and the messages recorded about it. `as_of` stops at that time.
    #[oai(
        path = "/admin/orders/:order_id/story",
        method = "get",
        operation_id = "getOrderStory"
    )]
    async fn story(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<uuid::Uuid>,
        /// Only what had happened by then (RFC 3339).
        as_of: Query<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<Json<Vec<StoryEvent>>, ApiError> {
        user.require(Role::Admin)?;
        let entries = eats_projections::story::story(&state.db, &order_id.0.to_string(), as_of.0)
            .await
            .map_err(|e| match e {
                eats_projections::story::StoryError::Database(e) => ApiError::from(e),
                other => ApiError::from(sqlx::Error::Protocol(other.to_string())),
            })?;
        if entries.is_empty() && as_of.0.is_none() {
            return Err(not_found("order"));
        }
        Ok(Json(entries.into_iter().map(StoryEvent::from).collect()))
    }

    /// Each read model's rows, the aggregates and events it has applied, and the events of
    /// the types it reads in the event store; tables a killed rebuild left behind.
    #[oai(
        path = "/admin/projections/status",
        method = "get",
        operation_id = "getReadModelStatus"
    )]
    async fn read_model_status(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
    ) -> Result<Json<Vec<ReadModelStatus>>, ApiError> {
        user.require(Role::Admin)?;
        let mut out = Vec::new();
        for model in eats_projections::read_models(&state.db) {
            let status = model.status().await.map_err(|e| match e {
                eats_projections::ProjectionError::Database(e) => ApiError::from(e),
                other => ApiError::from(sqlx::Error::Protocol(other.to_string())),
            })?;
            out.push(ReadModelStatus {
                read_model: status.read_model,
                rows: status
                    .rows
                    .into_iter()
                    .map(|t| TableRows {
                        table: t.table,
                        rows: t.rows,
                    })
                    .collect(),
                aggregates: status.aggregates,
                applied: status.applied,
                events: status.events,
                behind: (status.events - status.applied).max(0),
                leftovers: status.leftovers,
            });
        }
        Ok(Json(out))
    }

    /// One dead letter in full: the reason, the attempts, what became of it and the event.
    #[oai(
        path = "/admin/dead-letters/:id",
        method = "get",
        operation_id = "getDeadLetter"
    )]
    async fn dead_letter(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        id: Path<i64>,
    ) -> Result<Json<DeadLetterDetail>, ApiError> {
        user.require(Role::Admin)?;
        let letter = eats_saga::dead_letters::get(&state.db, id.0)
            .await
            .map_err(dead_letter_error)?;
        Ok(Json(letter.into()))
    }

    /// Runs a dead letter through the process manager again, once (after fixing its
    /// cause): 200 with it marked retried; 409 if it was retried or discarded already or is
    /// being retried, or if it failed again (it stays parked with the new error).
    #[oai(
        path = "/admin/dead-letters/:id/retry",
        method = "post",
        operation_id = "retryDeadLetter"
    )]
    async fn retry_dead_letter(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        id: Path<i64>,
    ) -> Result<Json<DeadLetterDetail>, ApiError> {
        user.require(Role::Admin)?;
        let Some(handler) = state.dead_letter_retry.as_ref() else {
            return Err(Problem::new(
                ProblemKind {
                    status: 503,
                    slug: "dead-letter-retry-unavailable",
                    title: "Temporarily unavailable",
                    field: None,
                },
                "this process cannot run follow-ups; use `eats dead-letters retry`",
            )
            .into());
        };
        let letter = eats_saga::dead_letters::replay(&state.db, id.0, handler.as_ref())
            .await
            .map_err(dead_letter_error)?;
        Ok(Json(letter.into()))
    }

    /// Gives up on a dead letter for good, with a note: 200; 409 if it was retried or
    /// discarded already or is being retried.
    #[oai(
        path = "/admin/dead-letters/:id/discard",
        method = "post",
        operation_id = "discardDeadLetter"
    )]
    async fn discard_dead_letter(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        id: Path<i64>,
        body: Json<DiscardDeadLetter>,
    ) -> Result<Json<DeadLetterDetail>, ApiError> {
        user.require(Role::Admin)?;
        let letter = eats_saga::dead_letters::discard(&state.db, id.0, &body.0.note)
            .await
            .map_err(dead_letter_error)?;
        Ok(Json(letter.into()))
    }
}

fn dead_letter_error(error: eats_saga::dead_letters::DeadLetterError) -> ApiError {
    use eats_saga::dead_letters::DeadLetterError as E;
    let conflict = |slug: &'static str, detail: String| -> ApiError {
        Problem::new(
            ProblemKind {
                status: 409,
                slug,
                title: "Conflict",
                field: None,
            },
            detail,
        )
        .into()
    };
    match error {
        E::NotFound(_) => not_found("dead letter"),
        E::Database(e) => e.into(),
        e @ (E::AlreadyReplayed(_) | E::Discarded(_) | E::BeingRetried(_)) => {
            conflict("dead-letter-closed", e.to_string())
        }
        e @ E::Failed(_) => conflict("dead-letter-retry-failed", e.to_string()),
        e @ E::Unreadable(..) => conflict("dead-letter-unreadable", e.to_string()),
    }
}

/// One event of an order's story.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StoryEvent {
    /// Its place in the story, from 1.
    pub n: i64,
    /// `<aggregate>-<id>-<sequence>`.
    pub key: String,
    /// The stable id process managers name as the causation of what they do about it.
    pub event_id: String,
    /// Order, Payment, Delivery or Customer.
    pub aggregate_type: String,
    /// The aggregate.
    pub aggregate_id: String,
    /// Its position in the aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The stored version.
    pub event_version: String,
    /// Who (`role:uuid` or `system`).
    pub actor: Option<String>,
    /// When.
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The command or event that caused it.
    pub causation_id: Option<String>,
    /// The `n` of the event that caused it, when a process manager reacted to one.
    pub caused_by: Option<i64>,
    /// The state of the order's aggregates after it.
    pub state: StoryState,
    /// The stored payload.
    pub payload: serde_json::Value,
    /// Messages recorded about it.
    pub notifications: Vec<StoryMessage>,
}

/// The state of an order's aggregates at one point of its story.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StoryState {
    /// The order's status.
    pub order: Option<String>,
    /// The payment's.
    pub payment: Option<String>,
    /// The delivery job's.
    pub delivery: Option<String>,
    /// The customer's grade and completed orders.
    pub customer: Option<String>,
}

/// A message recorded about an event of the story.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct StoryMessage {
    /// The record.
    pub id: String,
    /// Who it is for.
    pub recipient: String,
    /// The channel.
    pub channel: String,
    /// Which message.
    pub template: String,
    /// queued, sending, sent, failed, shed or skipped.
    pub state: String,
    /// Why it was shed, skipped or failed.
    pub reason: Option<String>,
    /// Provider calls so far.
    pub attempts: i64,
}

impl From<eats_projections::story::Entry> for StoryEvent {
    fn from(e: eats_projections::story::Entry) -> Self {
        Self {
            n: e.n as i64,
            key: e.key,
            event_id: e.event_id,
            aggregate_type: e.event.aggregate_type,
            aggregate_id: e.event.aggregate_id,
            sequence: e.event.sequence as i64,
            event_type: e.event.event_type,
            event_version: e.event.event_version,
            actor: e.actor,
            occurred_at: e.occurred_at,
            causation_id: e.causation_id,
            caused_by: e.caused_by.map(|n| n as i64),
            state: StoryState {
                order: e.state.order,
                payment: e.state.payment,
                delivery: e.state.delivery,
                customer: e.state.customer,
            },
            payload: e.event.payload,
            notifications: e
                .notifications
                .into_iter()
                .map(|m| StoryMessage {
                    id: m.id,
                    recipient: m.recipient,
                    channel: m.channel,
                    template: m.template,
                    state: m.state,
                    reason: m.reason,
                    attempts: m.attempts,
                })
                .collect(),
        }
    }
}

/// A read model's state.
#[derive(Object, Debug)]
pub struct ReadModelStatus {
    /// The read model.
    pub read_model: String,
    /// Rows of each of its tables.
    pub rows: Vec<TableRows>,
    /// Aggregates it has applied events of.
    pub aggregates: i64,
    /// Events it has applied.
    pub applied: i64,
    /// Events of the types it reads in the event store.
    pub events: i64,
    /// Events stored but not applied.
    pub behind: i64,
    /// Tables of rebuilds that did not finish, to drop.
    pub leftovers: Vec<String>,
}

/// A table's row count.
#[derive(Object, Debug)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: i64,
}

/// A dead letter in full.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct DeadLetterDetail {
    /// Its id.
    pub id: i64,
    /// The consumer that gave up.
    pub consumer: String,
    /// The event's key.
    pub event_key: String,
    /// The last error.
    pub error: String,
    /// Attempts made, retries included.
    pub attempts: i64,
    /// When it was parked.
    pub failed_at: chrono::DateTime<chrono::Utc>,
    /// When a retry succeeded.
    pub retried_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was discarded.
    pub discarded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The note it was discarded with.
    pub note: Option<String>,
    /// The event as stored.
    pub event: serde_json::Value,
}

impl From<eats_saga::dead_letters::DeadLetter> for DeadLetterDetail {
    fn from(l: eats_saga::dead_letters::DeadLetter) -> Self {
        Self {
            id: l.id,
            consumer: l.consumer,
            event_key: l.event_key,
            error: l.error,
            attempts: l.attempts,
            failed_at: l.failed_at,
            retried_at: l.replayed_at,
            discarded_at: l.discarded_at,
            note: l.note,
            event: l.event,
        }
    }
}

/// Why a dead letter is given up on.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct DiscardDeadLetter {
    /// The operator's note, kept with it.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub note: String,
}
