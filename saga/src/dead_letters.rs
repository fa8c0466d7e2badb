//! Messages a process manager gave up on: parked with the error, listed, retried or
//! discarded by an operator (`eats dead-letters list|show|retry|discard`), never blocking
//! the messages behind them.
//!
//! A retry first claims the letter with a lease (`retrying_until`), so two operators retrying
//! at once run it once; it is marked replayed only after the handler succeeded, and a
//! failure releases it with the new error. The process managers' follow-ups are idempotent
//! (their targets derive from the order and refuse what is already done), so a retry that
//! died after the handler ran and is retried again when its lease ran out has no second
//! effect.

use chrono::{DateTime, Utc};
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_store::{on_pool, Database};
use serde::Serialize;
use sqlx::Row;

/// One parked message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Its id, for replay.
    pub id: i64,
    /// The consumer that gave up.
    pub consumer: String,
    /// `<aggregate>-<id>-<sequence>` of the event.
    pub event_key: String,
    /// The event.
    pub event: serde_json::Value,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was parked.
    pub failed_at: DateTime<Utc>,
    /// When an operator replayed it successfully.
    pub replayed_at: Option<DateTime<Utc>>,
    /// When an operator discarded it instead.
    pub discarded_at: Option<DateTime<Utc>>,
    /// The operator's note on discarding it.
    pub note: Option<String>,
}

/// Why a dead letter could not be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The database failed.
    #[error("dead letters: {0}")]
    Database(#[from] sqlx::Error),
    /// No such dead letter.
    #[error("no dead letter {0}")]
    NotFound(i64),
    /// It was replayed already.
    #[error("dead letter {0} was already replayed")]
    AlreadyReplayed(i64),
    /// It was discarded.
    #[error("dead letter {0} was discarded")]
    Discarded(i64),
    /// Another retry of it is running.
    #[error("dead letter {0} is being retried by someone else; try again in a minute")]
    BeingRetried(i64),
    /// The stored event no longer parses.
    #[error("dead letter {0} holds an unreadable event: {1}")]
    Unreadable(i64, serde_json::Error),
    /// The handler failed again; it stays parked.
    #[error(transparent)]
    Failed(#[from] HandlerError),
}

/// Parks `event` for `consumer` with the `error` after `attempts`.
pub async fn park(
    db: &Database,
    consumer: &str,
    event: &FeedEvent,
    error: &str,
    attempts: u32,
) -> Result<(), sqlx::Error> {
    let body = serde_json::to_string(event).unwrap_or_default();
    on_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO dead_letters (consumer, event_key, event, error, attempts, failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(consumer)
        .bind(event.key())
        .bind(&body)
        .bind(error)
        .bind(i64::from(attempts))
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(drop)
    })?;
    metrics::counter!("eats_dead_letters_total", "consumer" => consumer.to_string()).increment(1);
    tracing::error!(consumer, event = %event.key(), error, "parked as a dead letter");
    Ok(())
}

const COLUMNS: &str =
    "id, consumer, event_key, event, error, attempts, failed_at, replayed_at, discarded_at, note";

/// How long a retry holds its claim: far longer than one follow-up takes.
const RETRY_LEASE_MS: i64 = 60_000;

fn decode<R>(row: &R) -> Result<DeadLetter, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let event: String = row.try_get("event")?;
    let event = serde_json::from_str(&event).map_err(|e| sqlx::Error::ColumnDecode {
        index: "event".into(),
        source: Box::new(e),
    })?;
    Ok(DeadLetter {
        id: row.try_get("id")?,
        consumer: row.try_get("consumer")?,
        event_key: row.try_get("event_key")?,
        event,
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        failed_at: row.try_get("failed_at")?,
        replayed_at: row.try_get("replayed_at")?,
        discarded_at: row.try_get("discarded_at")?,
        note: row.try_get("note")?,
    })
}

/// Dead letters, oldest first; replayed and discarded ones only when `include_replayed`.
pub async fn list(db: &Database, include_replayed: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM dead_letters \
         WHERE ($1 OR (replayed_at IS NULL AND discarded_at IS NULL)) ORDER BY id"
    );
    on_pool!(db, |pool| {
        sqlx::query(&sql)
            .bind(include_replayed)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    })
}

/// Dead letter `id`, whatever became of it.
pub async fn get(db: &Database, id: i64) -> Result<DeadLetter, DeadLetterError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1");
    let letter: Option<DeadLetter> = on_pool!(db, |pool| {
        match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
            Some(row) => decode(&row).map(Some),
            None => Ok(None),
        }
    })?;
    letter.ok_or(DeadLetterError::NotFound(id))
}

/// Why `letter` cannot be claimed now.
fn refusal(letter: &DeadLetter) -> DeadLetterError {
    if letter.replayed_at.is_some() {
        DeadLetterError::AlreadyReplayed(letter.id)
    } else if letter.discarded_at.is_some() {
        DeadLetterError::Discarded(letter.id)
    } else {
        DeadLetterError::BeingRetried(letter.id)
    }
}

const OPEN: &str =
    "replayed_at IS NULL AND discarded_at IS NULL AND (retrying_until IS NULL OR retrying_until < $2)";

/// Hands dead letter `id` to `handler` again, once: claimed first, marked replayed if the
/// handler succeeds, released with the new error (and one more attempt) if it fails.
pub async fn replay(
    db: &Database,
    id: i64,
    handler: &dyn EventHandler,
) -> Result<DeadLetter, DeadLetterError> {
    let letter = get(db, id).await?;
    let event: FeedEvent = serde_json::from_value(letter.event.clone())
        .map_err(|e| DeadLetterError::Unreadable(id, e))?;
    let now = Utc::now().timestamp_millis();
    let claim = format!("UPDATE dead_letters SET retrying_until = $3 WHERE id = $1 AND {OPEN}");
    let claimed = on_pool!(db, |pool| {
        sqlx::query(&claim)
            .bind(id)
            .bind(now)
            .bind(now + RETRY_LEASE_MS)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
    })?;
    if !claimed {
        return Err(refusal(&get(db, id).await?));
    }
    match handler.handle(&event).await {
        Ok(()) => {
            let at = Utc::now();
            on_pool!(db, |pool| {
                sqlx::query(
                    "UPDATE dead_letters SET replayed_at = $2, retrying_until = NULL, \
                     attempts = attempts + 1 WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .execute(pool)
                .await
                .map(drop)
            })?;
            Ok(DeadLetter {
                replayed_at: Some(at),
                attempts: letter.attempts + 1,
                ..letter
            })
        }
        Err(failure) => {
            on_pool!(db, |pool| {
                sqlx::query(
                    "UPDATE dead_letters SET retrying_until = NULL, error = $2, \
                     attempts = attempts + 1 WHERE id = $1",
                )
                .bind(id)
                .bind(failure.to_string())
                .execute(pool)
                .await
                .map(drop)
            })?;
            Err(DeadLetterError::Failed(failure))
        }
    }
}

/// Gives up on dead letter `id` for good, with the operator's `note`; it is no longer listed
/// and can no longer be retried.
pub async fn discard(db: &Database, id: i64, note: &str) -> Result<DeadLetter, DeadLetterError> {
    let now = Utc::now();
    let sql =
        format!("UPDATE dead_letters SET discarded_at = $3, note = $4 WHERE id = $1 AND {OPEN}");
    let done = on_pool!(db, |pool| {
        sqlx::query(&sql)
            .bind(id)
            .bind(now.timestamp_millis())
            .bind(now)
            .bind(note)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
    })?;
    let letter = get(db, id).await?;
    if done {
        Ok(letter)
    } else {
        Err(refusal(&letter))
    }
}
