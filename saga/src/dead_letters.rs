//! Messages a process manager gave up on: parked with the error, listed and replayed by an
//! operator (`eats dead-letters list|replay`), never blocking the messages behind them.

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

const COLUMNS: &str = "id, consumer, event_key, event, error, attempts, failed_at, replayed_at";

fn decode<R>(row: &R) -> Result<DeadLetter, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let event: String = row.try_get("event")?;
    Ok(DeadLetter {
        id: row.try_get("id")?,
        consumer: row.try_get("consumer")?,
        event_key: row.try_get("event_key")?,
        event: serde_json::from_str(&event).unwrap_or_default(),
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        failed_at: row.try_get("failed_at")?,
        replayed_at: row.try_get("replayed_at")?,
    })
}

/// Dead letters, oldest first; replayed ones only when `include_replayed`.
pub async fn list(db: &Database, include_replayed: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM dead_letters WHERE ($1 OR replayed_at IS NULL) ORDER BY id");
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

/// Hands dead letter `id` to `handler` again; marks it replayed if that succeeds.
pub async fn replay(
    db: &Database,
    id: i64,
    handler: &dyn EventHandler,
) -> Result<DeadLetter, DeadLetterError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1");
    let letter: Option<DeadLetter> = on_pool!(db, |pool| {
        match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
            Some(row) => decode(&row).map(Some),
            None => Ok(None),
        }
    })?;
    let letter = letter.ok_or(DeadLetterError::NotFound(id))?;
    if letter.replayed_at.is_some() {
        return Err(DeadLetterError::AlreadyReplayed(id));
    }
    let event: FeedEvent = serde_json::from_value(letter.event.clone())
        .map_err(|e| DeadLetterError::Unreadable(id, e))?;
    handler.handle(&event).await?;
    let now = Utc::now();
    on_pool!(db, |pool| {
        sqlx::query("UPDATE dead_letters SET replayed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(DeadLetter {
        replayed_at: Some(now),
        ..letter
    })
}
