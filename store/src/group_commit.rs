//! Group commit for SQLite appends: the appends that wait for the one writer at the same
//! moment go into one transaction, with one fsync.
//!
//! SQLite has one writer per file, and each append held it for a transaction of its own
//! (`BEGIN`, an `INSERT` per event, `COMMIT` with an fsync, each statement a hand-over to the
//! connection's thread and back). In embedded mode that writer is the bound: at 64 clients it
//! was busy 90% of the time, appends more than half of it. Here a task takes every append
//! queued when the writer is free and commits them together; at light load an append is
//! alone and goes at once, so grouping adds no wait.
//!
//! Each append is one statement, so it is atomic on its own inside the shared transaction:
//! SQLite undoes only the statement that breaks a constraint and the transaction goes on. An
//! append whose first sequence is taken (the optimistic lock) fails alone; the others commit.
//! If the commit fails, every append of the group gets the error: none of them is stored.

use cqrs_es::persist::{PersistenceError, SerializedEvent};
use sqlx::sqlite::SqlitePool;
use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot};

use crate::database::Writers;

/// The most appends one transaction takes.
const MOST: usize = 256;

struct Append {
    aggregate_type: &'static str,
    events: Vec<SerializedEvent>,
    done: oneshot::Sender<Result<(), PersistenceError>>,
}

/// The queue to the task that commits appends in groups; the task ends with the last clone.
#[derive(Clone, Debug)]
pub struct Appender {
    queue: mpsc::UnboundedSender<Append>,
}

impl Appender {
    /// Starts the task on the current runtime.
    pub fn start(pool: SqlitePool, writers: Writers) -> Self {
        let (queue, appends) = mpsc::unbounded_channel();
        tokio::spawn(commit_in_groups(pool, writers, appends));
        Self { queue }
    }

    /// Appends `events` (one aggregate's, in order) and waits for the commit. The append goes
    /// on if the caller stops waiting, as a sent statement would.
    pub async fn append(
        &self,
        aggregate_type: &'static str,
        events: &[SerializedEvent],
    ) -> Result<(), PersistenceError> {
        let (done, committed) = oneshot::channel();
        let gone = || PersistenceError::ConnectionError("the SQLite appender stopped".into());
        self.queue
            .send(Append {
                aggregate_type,
                events: events.to_vec(),
                done,
            })
            .map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?
    }
}

async fn commit_in_groups(
    pool: SqlitePool,
    writers: Writers,
    mut appends: mpsc::UnboundedReceiver<Append>,
) {
    let mut group = Vec::with_capacity(MOST);
    while appends.recv_many(&mut group, MOST).await > 0 {
        let turn = writers.turn("commands").await;
        // What queued while waiting for the turn joins too.
        while group.len() < MOST {
            match appends.try_recv() {
                Ok(append) => group.push(append),
                Err(_) => break,
            }
        }
        let outcomes = commit(&pool, &group).await;
        drop(turn);
        match outcomes {
            Ok(outcomes) => {
                for (append, outcome) in group.drain(..).zip(outcomes) {
                    let _ = append.done.send(outcome);
                }
            }
            Err(error) => {
                tracing::warn!(%error, appends = group.len(), "a group of appends failed to commit");
                let error = std::sync::Arc::new(error);
                for append in group.drain(..) {
                    let _ = append
                        .done
                        .send(Err(PersistenceError::ConnectionError(Box::new(Shared(
                            error.clone(),
                        )))));
                }
            }
        }
    }
}

/// One transaction for `group`: each append's own outcome, or the error that lost them all.
async fn commit(
    pool: &SqlitePool,
    group: &[Append],
) -> Result<Vec<Result<(), PersistenceError>>, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let mut tx = connection.begin().await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for append in group {
        let sql = insert_sql(append.events.len());
        let outcome = match bind(sqlx::query(&sql), append).execute(&mut *tx).await {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(PersistenceError::OptimisticLockError)
            }
            Err(e @ sqlx::Error::Database(_)) => Err(PersistenceError::UnknownError(Box::new(e))),
            // The connection itself failed: nothing of the group can be trusted.
            Err(e) => return Err(e),
        };
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

type Insert<'a> = sqlx::query::Query<'a, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'a>>;

/// An `INSERT` of `events` rows: an append's events in one statement, all or none of them.
fn insert_sql(events: usize) -> String {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; events].join(", ");
    format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES {rows}"
    )
}

fn bind<'a>(mut query: Insert<'a>, append: &'a Append) -> Insert<'a> {
    for event in &append.events {
        query = query
            .bind(append.aggregate_type)
            .bind(event.aggregate_id.as_str())
            .bind(i64::try_from(event.sequence).unwrap_or(i64::MAX))
            .bind(event.event_type.as_str())
            .bind(event.event_version.as_str())
            .bind(&event.payload)
            .bind(&event.metadata);
    }
    query
}

/// A commit error handed to every append of the group.
#[derive(Debug)]
struct Shared(std::sync::Arc<sqlx::Error>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {}
