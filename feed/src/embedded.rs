//! The embedded feed: consumers tail the SQLite event log in-process.
//!
//! SQLite serialises writers and events are never deleted, so rowid order is commit order:
//! a consumer that reads `rowid > checkpoint` can never skip a row that commits later with a
//! lower id. Each consumer's checkpoint is stored in `feed_checkpoints` at most every
//! [`CHECKPOINT_EVERY`], and when it stops; a crash replays what it lagged by, which
//! idempotent handlers absorb. Commits made by this
//! process wake consumers at once; a slow poll catches commits by other processes.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use eats_store::{Backend, Database, DerivedState};
use sqlx::sqlite::SqlitePool;
use sqlx::{FromRow, Row};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::event::FeedEvent;
use crate::handler::EventHandler;
use crate::keyed::{deliver, Keyed};
use crate::lag::Lag;

/// Why the embedded feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The embedded feed reads SQLite; it was given a Postgres database.
    #[error("the embedded feed needs the SQLite event store")]
    NotEmbedded,
    /// Reading events or writing the checkpoint failed.
    #[error("event log: {0}")]
    Database(#[from] sqlx::Error),
}

/// How often a busy consumer saves its checkpoint: each save is a write, and SQLite has
/// one writer for the orders too; a crash replays at most this much, which idempotent
/// handlers absorb.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Where a consumer's checkpoint was last saved, and when.
struct Saved {
    position: i64,
    at: tokio::time::Instant,
}

impl Saved {
    fn new(position: i64) -> Self {
        Self {
            position,
            at: tokio::time::Instant::now(),
        }
    }

    /// When the next save is due.
    fn due(&self) -> tokio::time::Instant {
        self.at + CHECKPOINT_EVERY
    }
}

/// Tails the SQLite event log for in-process consumers.
#[derive(Clone)]
pub struct EmbeddedFeed {
    db: DerivedState,
    pool: SqlitePool,
    batch: i64,
    poll: Duration,
}

impl EmbeddedFeed {
    /// A feed over `db`, which must be the SQLite store. Checkpoints are derived state
    /// (replaying from an older one is harmless), so they are written through
    /// [`Database::for_derived_state`], without an fsync each.
    pub fn new(db: &Database) -> Result<Self, FeedError> {
        let db = db.for_derived_state();
        let Backend::Sqlite(pool) = db.backend() else {
            return Err(FeedError::NotEmbedded);
        };
        Ok(Self {
            pool: pool.clone(),
            db,
            batch: 256,
            poll: Duration::from_millis(500),
        })
    }

    /// Events read per round trip.
    pub fn with_batch(mut self, batch: u16) -> Self {
        self.batch = i64::from(batch.max(1));
        self
    }

    /// How often consumers look for commits made by other processes (their own process's
    /// commits wake them at once); 500 ms by default.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Where `consumer` has got to (the rowid of the last event it handled; 0 at first).
    pub async fn checkpoint(&self, consumer: &str) -> Result<i64, FeedError> {
        let position =
            sqlx::query_scalar("SELECT position FROM feed_checkpoints WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(position.unwrap_or(0))
    }

    /// Saves `position` for `consumer` unless it is saved already, and unless `only_if_due`
    /// and the last save is younger than [`CHECKPOINT_EVERY`].
    async fn save_if(
        &self,
        consumer: &str,
        saved: &mut Saved,
        position: i64,
        only_if_due: bool,
    ) -> Result<(), FeedError> {
        if position == saved.position || (only_if_due && tokio::time::Instant::now() < saved.due())
        {
            return Ok(());
        }
        self.save_checkpoint(consumer, position).await?;
        *saved = Saved::new(position);
        Ok(())
    }

    async fn save_checkpoint(&self, consumer: &str, position: i64) -> Result<(), FeedError> {
        let _turn = self.db.write_turn("checkpoints").await;
        sqlx::query(
            "INSERT INTO feed_checkpoints (consumer, position) VALUES ($1, $2) \
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
        )
        .bind(consumer)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Starts `consumer` over from the first event (for rebuilding its read model).
    pub async fn reset(&self, consumer: &str) -> Result<(), FeedError> {
        self.save_checkpoint(consumer, 0).await
    }

    async fn read_after(&self, position: i64) -> Result<Vec<(i64, FeedEvent)>, FeedError> {
        let rows = sqlx::query(
            "SELECT rowid, aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata FROM events WHERE rowid > $1 ORDER BY rowid LIMIT $2",
        )
        .bind(position)
        .bind(self.batch)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("rowid")?, FeedEvent::from_row(row)?)))
            .collect()
    }

    /// Hands every event after the consumer's checkpoint to `handler`, in commit order,
    /// until `shutdown`. A failing event is retried with backoff, never skipped, so the
    /// aggregate's later events wait behind it. The consumer supervises itself: a database
    /// error (a busy file, a full disk, a pool timeout) is logged and the consumer starts
    /// again from its checkpoint after a backoff, so one bad moment never leaves a read
    /// model silently frozen while the process keeps serving.
    pub async fn run(&self, handler: &dyn EventHandler, shutdown: CancellationToken) {
        const FIRST_BACKOFF: Duration = Duration::from_millis(100);
        let mut backoff = FIRST_BACKOFF;
        while !shutdown.is_cancelled() {
            let started = tokio::time::Instant::now();
            let Err(error) = self.follow(handler, &shutdown).await else {
                return;
            };
            if started.elapsed() > Duration::from_secs(60) {
                // It ran well for a while: this failure is a new incident, not a relapse.
                backoff = FIRST_BACKOFF;
            }
            tracing::error!(consumer = handler.name(), %error, retry_in_ms = backoff.as_millis() as u64, "embedded consumer failed; restarting from its checkpoint");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// One uninterrupted run of `handler` from its checkpoint; stops at shutdown or at the
    /// first database error.
    async fn follow(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
    ) -> Result<(), FeedError> {
        if handler.concurrency() > 1 {
            return self.follow_keyed(handler, shutdown).await;
        }
        let name = handler.name().to_string();
        let wanted = handler.aggregate_types().to_vec();
        let mut commits = self.db.subscribe_commits();
        let mut position = self.checkpoint(&name).await?;
        let mut saved = Saved::new(position);
        tracing::info!(consumer = %name, position, "embedded feed started");
        while !shutdown.is_cancelled() {
            commits.borrow_and_update();
            let batch = self.read_after(position).await?;
            if batch.is_empty() {
                // Caught up: the checkpoint goes where the consumer is, once it is due; a
                // consumer that keeps up reads an empty batch after every batch.
                self.save_if(&name, &mut saved, position, true).await?;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = commits.changed() => {}
                    () = tokio::time::sleep(self.poll) => {}
                    () = tokio::time::sleep_until(saved.due()), if position != saved.position => {}
                }
                continue;
            }
            let last = batch.last().map_or(position, |(rowid, _)| *rowid);
            let events: Vec<FeedEvent> = batch
                .into_iter()
                .map(|(_, event)| event)
                .filter(|event| wanted.contains(&event.aggregate_type.as_str()))
                .collect();
            if !deliver(handler, &events, shutdown).await {
                break;
            }
            position = last;
            // While busy, at most every CHECKPOINT_EVERY: each save is a turn of the one
            // writer (100 a second at 64 clients, 8% of its time), and a crash replays what
            // the checkpoint lags by, which the handlers absorb.
            self.save_if(&name, &mut saved, position, true).await?;
        }
        self.save_if(&name, &mut saved, position, false).await?;
        tracing::info!(consumer = %name, position, "embedded feed stopped");
        Ok(())
    }

    /// [`follow`](Self::follow) for a handler that takes events of many aggregates at once.
    /// The checkpoint moves only past what is applied: to just before the oldest event still
    /// in flight, so a slow event holds back the checkpoint (a restart replays from it) but
    /// not the events of other aggregates. It is saved at most every
    /// [`CHECKPOINT_EVERY`] while busy, and at once when everything read is applied.
    ///
    /// The reader (reading, checkpointing) and the runs are two futures joined on one task,
    /// so the runs go on while the reader waits: for a connection, or its turn to write,
    /// which a run in flight may hold.
    async fn follow_keyed(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
    ) -> Result<(), FeedError> {
        let (submit, mut submitted) = mpsc::unbounded_channel::<(i64, FeedEvent)>();
        let (report, applied) = mpsc::unbounded_channel::<Vec<i64>>();
        let runs = async move {
            let mut keyed = Keyed::new(handler, shutdown);
            let mut open = true;
            loop {
                tokio::select! {
                    next = submitted.recv(), if open => match next {
                        Some((rowid, event)) => keyed.submit(rowid, event),
                        None => open = false,
                    },
                    done = keyed.next_applied(), if keyed.is_running() => {
                        // Interrupted runs (shutdown while retrying) report nothing.
                        if let Some(rowids) = done {
                            // The reader may have stopped on an error: then nobody listens.
                            let _ = report.send(rowids);
                        }
                    }
                    else => break,
                }
            }
        };
        let (read, ()) = tokio::join!(self.read_keyed(handler, shutdown, submit, applied), runs);
        read
    }

    /// The reader of [`follow_keyed`](Self::follow_keyed): hands events to the runs while
    /// fewer than the handler's concurrency are in flight, and moves the checkpoint.
    async fn read_keyed(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
        submit: mpsc::UnboundedSender<(i64, FeedEvent)>,
        mut applied: mpsc::UnboundedReceiver<Vec<i64>>,
    ) -> Result<(), FeedError> {
        let name = handler.name().to_string();
        let wanted = handler.aggregate_types().to_vec();
        let limit = handler.concurrency();
        let mut commits = self.db.subscribe_commits();
        let mut saved = Saved::new(self.checkpoint(&name).await?);
        let mut read = saved.position;
        // The rowids handed to the runs and not yet applied.
        let mut pending = BTreeSet::new();
        let mut submit = Some(submit);
        // Whether the last read filled a batch (or a commit came), so more may be waiting.
        let mut more = true;
        tracing::info!(consumer = %name, position = saved.position, concurrency = limit, "embedded feed started");
        loop {
            let room = pending.len() < limit && !shutdown.is_cancelled();
            if let (true, true, Some(runs)) = (room, more, &submit) {
                commits.borrow_and_update();
                let batch = self.read_after(read).await?;
                more = batch.len() as i64 == self.batch;
                for (rowid, event) in batch {
                    read = rowid;
                    if wanted.contains(&event.aggregate_type.as_str()) {
                        pending.insert(rowid);
                        // The runs end only after this sender is dropped.
                        let _ = runs.send((rowid, event));
                    }
                }
            }
            let applied_up_to = pending.first().map_or(read, |oldest| oldest - 1);
            let settled = pending.is_empty() || submit.is_none();
            self.save_if(&name, &mut saved, applied_up_to, !settled)
                .await?;
            if shutdown.is_cancelled() {
                // No more reads: the runs finish what they hold, then report the end.
                submit = None;
            }
            tokio::select! {
                done = applied.recv() => match done {
                    Some(rowids) => {
                        for rowid in rowids {
                            pending.remove(&rowid);
                        }
                    }
                    // Every run has ended after shutdown; what is left was interrupted.
                    None => break,
                },
                () = std::future::ready(()), if room && more => {}
                _ = commits.changed(), if room => more = true,
                () = tokio::time::sleep(self.poll), if room => more = true,
                () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
            }
        }
        let applied_up_to = pending.first().map_or(read, |oldest| oldest - 1);
        self.save_if(&name, &mut saved, applied_up_to, false)
            .await?;
        tracing::info!(consumer = %name, position = saved.position, "embedded feed stopped");
        Ok(())
    }

    /// How far `consumer` (wanting `aggregate_types`) is behind the log: counted by the
    /// database, with the age of the oldest waiting event.
    pub async fn lag(&self, consumer: &str, aggregate_types: &[&str]) -> Result<Lag, FeedError> {
        if aggregate_types.is_empty() {
            return Ok(Lag::default());
        }
        let position = self.checkpoint(consumer).await?;
        let types: Vec<String> = (2..aggregate_types.len() + 2)
            .map(|i| format!("${i}"))
            .collect();
        let sql = format!(
            "SELECT count(*) AS waiting, \
             (SELECT json_extract(metadata, '$.occurred_at') FROM events \
              WHERE rowid > $1 AND aggregate_type IN ({types}) ORDER BY rowid LIMIT 1) AS oldest \
             FROM events WHERE rowid > $1 AND aggregate_type IN ({types})",
            types = types.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(position);
        for aggregate_type in aggregate_types {
            query = query.bind(*aggregate_type);
        }
        let row = query.fetch_one(&self.pool).await?;
        let waiting: i64 = row.try_get("waiting")?;
        let oldest: Option<String> = row.try_get("oldest")?;
        let seconds = oldest
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| {
                (Utc::now() - t.with_timezone(&Utc))
                    .num_milliseconds()
                    .max(0) as f64
                    / 1e3
            })
            .unwrap_or_default();
        Ok(Lag {
            events: waiting.max(0) as u64,
            seconds,
        })
    }
}
