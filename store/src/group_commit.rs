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
//! Any other error rolls the whole group back and every append of it gets the error. So does
//! a failed `COMMIT`, whose outcome is unknown (an fsync that failed after the log was
//! written): a caller that retries meets the optimistic lock if it was stored after all.
//!
//! The task runs on the runtime that opened the database. If it is gone (that runtime shut
//! down, or the task panicked), appends take the direct path, one transaction each.

use std::sync::Arc;

use cqrs_es::persist::{PersistenceError, SerializedEvent};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot, watch};

use crate::database::{bump, Writers};

/// The most appends one transaction takes: enough that a burst of clients shares a few
/// fsyncs, few enough that a failed group costs little to retry.
const MOST: usize = 256;

/// The most events an append may have to go through the group: seven parameters each must
/// stay under SQLite's 32,766 per statement. A longer one takes the direct path.
pub const MOST_EVENTS: usize = 1_000;

struct Append {
    aggregate_type: &'static str,
    events: Vec<SerializedEvent>,
    done: oneshot::Sender<Result<(), PersistenceError>>,
}

/// Why an append did not go through the group.
pub enum Refused {
    /// The task is gone: append directly.
    Stopped,
    /// The group answered.
    Failed(PersistenceError),
}

/// The queue to the task that commits appends in groups; the task ends with the last clone.
#[derive(Clone, Debug)]
pub struct Appender {
    queue: mpsc::UnboundedSender<Append>,
}

impl Appender {
    /// Starts the task on the current runtime; after each committed group it bumps
    /// `commits`, which wakes this process's consumers.
    pub fn start(pool: SqlitePool, writers: Writers, commits: Arc<watch::Sender<u64>>) -> Self {
        let (queue, appends) = mpsc::unbounded_channel();
        tokio::spawn(commit_in_groups(pool, writers, commits, appends));
        Self { queue }
    }

    /// Appends `events` (one aggregate's, in order, at most [`MOST_EVENTS`]) and waits for
    /// the commit. The append goes on if the caller stops waiting, as a sent statement would.
    pub async fn append(
        &self,
        aggregate_type: &'static str,
        events: &[SerializedEvent],
    ) -> Result<(), Refused> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Append {
                aggregate_type,
                events: events.to_vec(),
                done,
            })
            .map_err(|_| Refused::Stopped)?;
        match committed.await {
            Ok(outcome) => outcome.map_err(Refused::Failed),
            // The task ended with this append in hand (it panicked): it may or may not be
            // stored, as after a lost connection.
            Err(_) => Err(Refused::Failed(PersistenceError::ConnectionError(
                "the SQLite appender stopped".into(),
            ))),
        }
    }
}

async fn commit_in_groups(
    pool: SqlitePool,
    writers: Writers,
    commits: Arc<watch::Sender<u64>>,
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
                if outcomes.iter().any(Result::is_ok) {
                    bump(&commits);
                }
                for (append, outcome) in group.drain(..).zip(outcomes) {
                    // A caller that stopped waiting learns nothing, as after a sent statement.
                    let _ = append.done.send(outcome);
                }
            }
            Err(error) => {
                tracing::warn!(%error, appends = group.len(), "a group of appends failed; none is stored");
                let error = Arc::new(error);
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
    // IMMEDIATE: a writer of another process (a CLI rebuild) is waited for once, here, not
    // by each append.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for append in group {
        let sequences = append
            .events
            .iter()
            .map(|e| i64::try_from(e.sequence))
            .collect::<Result<Vec<_>, _>>();
        let Ok(sequences) = sequences else {
            outcomes.push(Err(PersistenceError::UnknownError(
                "an event sequence beyond SQLite's integers".into(),
            )));
            continue;
        };
        let sql = insert_sql(append.events.len());
        let mut query = sqlx::query(&sql);
        for (event, sequence) in append.events.iter().zip(sequences) {
            query = query
                .bind(append.aggregate_type)
                .bind(event.aggregate_id.as_str())
                .bind(sequence)
                .bind(event.event_type.as_str())
                .bind(event.event_version.as_str())
                .bind(&event.payload)
                .bind(&event.metadata);
        }
        let outcome = match query.execute(&mut *tx).await {
            Ok(_) => Ok(()),
            // SQLite undid this statement only; the transaction goes on.
            Err(sqlx::Error::Database(e)) => match e.kind() {
                ErrorKind::UniqueViolation => Err(PersistenceError::OptimisticLockError),
                ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
                | ErrorKind::ForeignKeyViolation => Err(PersistenceError::UnknownError(Box::new(
                    sqlx::Error::Database(e),
                ))),
                // SQLite may have rolled the transaction back (a full disk, an I/O error).
                _ => return Err(sqlx::Error::Database(e)),
            },
            Err(e) => return Err(e),
        };
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// An `INSERT` of `events` rows: an append's events in one statement, all or none of them.
fn insert_sql(events: usize) -> String {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; events].join(", ");
    format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES {rows}"
    )
}

/// A group's error, handed to each of its appends.
#[derive(Debug)]
struct Shared(Arc<sqlx::Error>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {}
