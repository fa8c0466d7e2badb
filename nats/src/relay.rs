//! The outbox relay: publishes every committed event to JetStream, even across crashes.
//!
//! A trigger copies each event into `outbox` in the transaction that appends it (see the
//! Postgres migrations); after the commit, the writing process notifies the relay. The relay publishes outbox rows in id order with the message id
//! `<aggregate>-<id>-<sequence>`, waits for JetStream's acks, and deletes what was
//! acknowledged. Dying anywhere in between re-publishes at most the unacknowledged tail,
//! which the stream de-duplicates and consumers skip by sequence.
//!
//! What it published is noted in `relayed` for a while, since JetStream may still lose an
//! acknowledged message in a crash (see [`crate::recovery`]).
//!
//! Any number of relays may run; the one holding a Postgres advisory lock publishes. The
//! lock lives on a dedicated session, so when the leader's process or connection dies the
//! server releases it and a standby (retrying every second) takes over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture};
use eats_feed::FeedEvent;
use eats_store::{Backend, Database};
use sqlx::postgres::{PgConnection, PgListener, PgPool};
use sqlx::{Connection, FromRow, Row};
use tokio_util::sync::CancellationToken;

use crate::topology::{InvalidName, Topology};

/// The advisory lock key of the relay leader ("eats" + "rl"); `pg_locks` shows it as
/// `classid = LEADER_LOCK >> 32`, `objid = LEADER_LOCK & 0xffff_ffff`.
pub const LEADER_LOCK: i64 = 0x6561_7473_726c;
/// How long after its last publish the relay counts as busy and polls at [`BUSY_POLL`].
const BUSY_SPELL: Duration = Duration::from_secs(2);
/// The poll interval while busy. Writers wake the relay after every commit (coalesced per
/// process), so this is a safety net: a wake-up lost meanwhile (a listening connection
/// re-established) costs an event at most this long while events flow, and an empty poll
/// is one indexed read of an empty table.
const BUSY_POLL: Duration = Duration::from_millis(5);
/// The default poll interval while idle, behind notifications (a safety net for a wake-up
/// that never came: a writer that died between its commit and its notification).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often the leader forgets notes of relayed events older than the recovery window.
const FORGET_EVERY: Duration = Duration::from_secs(60);
/// How long a read of the outbox may take before the leader counts its session as lost.
const SESSION_ANSWERS_WITHIN: Duration = Duration::from_secs(5);
/// The channel writers notify after committing events (see `eats_store::database`).
pub const CHANNEL: &str = eats_store::database::OUTBOX_CHANNEL;

/// Why a relay round failed; the relay logs it, backs off and tries again.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay needs the Postgres event store.
    #[error("the outbox relay needs the Postgres event store")]
    NotPostgres,
    /// Postgres failed.
    #[error("outbox database: {0}")]
    Database(#[from] sqlx::Error),
    /// JetStream refused or did not acknowledge a publish.
    #[error("publishing to JetStream: {0}")]
    Publish(String),
    /// A stored name cannot be a subject.
    #[error(transparent)]
    Name(#[from] InvalidName),
}

/// Relays the Postgres outbox to JetStream.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    /// The event store's handle, to mark this process's relay as the leader (see
    /// [`Database::relay_leads_here`]).
    db: Database,
    /// Publishes the stream acknowledged as duplicates, by this relay and its clones.
    duplicates: Arc<AtomicU64>,
    /// This process's own commits (when it runs the API or the process managers too): they
    /// wake the relay at once, without the round trip of a notification.
    commits: tokio::sync::watch::Receiver<u64>,
    jetstream: jetstream::Context,
    topology: Topology,
    batch: i64,
    standby_retry: Duration,
    idle_poll: Duration,
    recovery_window: Duration,
}

/// Outbox rows not yet published, and how old the oldest is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OutboxLag {
    /// Rows waiting.
    pub events: u64,
    /// Age of the oldest, in seconds.
    pub seconds: f64,
}

impl Relay {
    /// A relay from `db`'s outbox to `topology`'s stream.
    pub fn new(
        db: &Database,
        jetstream: jetstream::Context,
        topology: Topology,
    ) -> Result<Self, RelayError> {
        let Backend::Postgres(pool) = db.backend() else {
            return Err(RelayError::NotPostgres);
        };
        Ok(Self {
            pool: pool.clone(),
            db: db.clone(),
            duplicates: Arc::new(AtomicU64::new(0)),
            commits: db.subscribe_commits(),
            jetstream,
            topology,
            batch: 500,
            standby_retry: Duration::from_secs(1),
            idle_poll: IDLE_POLL,
            recovery_window: crate::recovery::RecoverySettings::default().window,
        })
    }

    /// Rows published per round trip.
    pub fn with_batch(mut self, batch: u16) -> Self {
        self.batch = i64::from(batch.max(1));
        self
    }

    /// How often an idle leader looks at the outbox without being notified; 1 s by default.
    pub fn with_idle_poll(mut self, poll: Duration) -> Self {
        self.idle_poll = poll;
        self
    }

    /// How long the notes of published events are kept for the reconciler (an hour by
    /// default); the leader forgets older ones every minute.
    pub fn with_recovery_window(mut self, window: Duration) -> Self {
        self.recovery_window = window;
        self
    }

    /// Relays until `shutdown`, as leader or standby, recovering from every failure.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            match self.lead(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(error) => {
                    tracing::warn!(%error, "relay round failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Waits to become leader, then publishes until shutdown or until leadership is lost.
    async fn lead(&self, shutdown: &CancellationToken) -> Result<(), RelayError> {
        let mut session = self.pool.acquire().await?.detach();
        // If this process vanishes without closing its socket (power loss, a partition), the
        // server only frees the lock when it notices the session is dead: make it probe after
        // 5 s idle, every 2 s, 3 times, and give up on unacknowledged replies after 11 s
        // (`tcp_user_timeout`, else retransmissions last minutes), so a standby takes over in
        // about 11 s, not hours. (Ignored over a Unix socket, where a dead peer is seen at
        // once.) Its writes (deleting published rows, noting them in `relayed`) commit
        // without waiting for the WAL flush: one lost in a crash only has its rows published
        // again, which the stream drops as duplicates; and a stalled flush does not hold up
        // the next read past its deadline, so the leader does not give up its session.
        sqlx::query(
            "SELECT set_config('tcp_keepalives_idle', '5', false), \
             set_config('tcp_keepalives_interval', '2', false), \
             set_config('tcp_keepalives_count', '3', false), \
             set_config('tcp_user_timeout', '11000', false), \
             set_config('synchronous_commit', 'off', false)",
        )
        .execute(&mut session)
        .await?;
        loop {
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LEADER_LOCK)
                .fetch_one(&mut session)
                .await?;
            if leader {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.standby_retry) => {}
            }
        }
        tracing::info!(stream = %self.topology.stream, "relay is the leader");
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        // Writers notify after their commits (see `eats_store::database::OUTBOX_CHANNEL`);
        // for a while after publishing the relay also polls quickly, in case one was lost.
        let mut busy_until = Instant::now();
        let mut forget_at = Instant::now();
        let mut commits = self.commits.clone();
        // What the last round published, deleted by the next read.
        let mut done: Vec<i64> = Vec::new();
        // From here this loop watches the process's own commits: they need not notify.
        let leads_here = self.db.relay_leads_here();
        while !shutdown.is_cancelled() {
            commits.borrow_and_update();
            if Instant::now() >= forget_at {
                let forgotten =
                    crate::recovery::forget_relayed(&mut session, self.recovery_window).await?;
                tracing::debug!(forgotten, "forgot old notes of relayed events");
                forget_at = Instant::now() + FORGET_EVERY;
            }
            // On the leader's own session, never waiting in the pool's queue: when the
            // process managers' runs fill the pool (a burst of refunds), the events they wait
            // for still flow.
            // A lost session means a lost lock: the batch's first read fails (or, on a
            // session that stops answering, times out) before anything is published, so the
            // relay stops before another leader starts.
            let outbox = self.read_batch(&mut session, &done).await?;
            done.clear();
            let acknowledged = self.publish(&outbox).await;
            if acknowledged.failure.is_some() {
                forget_published(&mut session, &acknowledged.ids).await?;
                return acknowledged.result().map(drop);
            }
            // Deleted by the next read, which follows at once.
            done = acknowledged.ids;
            let published = done.len();
            if published > 0 {
                busy_until = Instant::now() + BUSY_SPELL;
            }
            if published == 0 {
                let poll = if Instant::now() < busy_until {
                    BUSY_POLL
                } else {
                    self.idle_poll
                };
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    notification = listener.recv() => { notification?; }
                    // Never fails while this relay holds its handle on the database.
                    Ok(()) = commits.changed() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        }
        // Commits notify again before another relay can lead.
        drop(leads_here);
        forget_published(&mut session, &done).await?;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LEADER_LOCK)
            .execute(&mut session)
            .await;
        let _ = session.close().await;
        Ok(())
    }

    /// Publishes the oldest outbox rows and deletes the acknowledged ones; returns how many
    /// were published.
    ///
    /// Publishes are pipelined, but never two of one aggregate at once: the rows go out in
    /// waves (each aggregate's first row in the batch, then its second, ...), and a wave is
    /// sent only when the one before was acknowledged in full. So when an ack fails, no later
    /// event of that aggregate is already in the stream; the failed row and everything after
    /// it are sent again next round, in order, and the stream keeps each aggregate's order.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut connection = self.pool.acquire().await?;
        let outbox = self.read_batch(&mut connection, &[]).await?;
        let acknowledged = self.publish(&outbox).await;
        forget_published(&mut connection, &acknowledged.ids).await?;
        acknowledged.result()
    }

    /// The oldest outbox rows, after deleting `published` (what the last round published) in
    /// the same statement: the leader's loop reads again at once after publishing, so the
    /// delete costs no round trip of its own (a third of the relay's statements before).
    async fn read_batch(
        &self,
        connection: &mut PgConnection,
        published: &[i64],
    ) -> Result<Vec<(i64, FeedEvent)>, RelayError> {
        // The read shares the delete's snapshot, so it still sees the deleted rows: it skips
        // them by id.
        let read = sqlx::query(concat!(
            forget_published_cte!(),
            " SELECT id, aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata FROM outbox WHERE id <> ALL($1) ORDER BY id LIMIT $2"
        ))
        .bind(published)
        .bind(self.batch)
        .fetch_all(&mut *connection);
        let rows = tokio::time::timeout(SESSION_ANSWERS_WITHIN, read)
            .await
            .map_err(|_| RelayError::Publish("the leader session stopped answering".into()))??;
        Ok(rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("id")?, FeedEvent::from_row(row)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// Publishes `outbox` in waves (see [`publish_batch`](Self::publish_batch)); what was
    /// acknowledged, and the first failure.
    async fn publish(&self, outbox: &[(i64, FeedEvent)]) -> Acknowledged {
        let mut acknowledged = Acknowledged {
            ids: Vec::with_capacity(outbox.len()),
            failure: None,
        };
        for wave in waves(outbox.iter().map(|(_, event)| event)) {
            let mut pending: Vec<(i64, PublishAckFuture)> = Vec::with_capacity(wave.len());
            for index in wave {
                let (id, event) = &outbox[index];
                match self.send(event).await {
                    Ok(ack) => pending.push((*id, ack)),
                    Err(error) => {
                        acknowledged.failure = Some(error);
                        break;
                    }
                }
            }
            for (id, ack) in pending {
                match ack.await {
                    Ok(ack) => {
                        if ack.duplicate {
                            // Published before: after a crash or a failed round, expected;
                            // in a healthy run, a row deleted late.
                            self.duplicates.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("eats_relay_duplicates_total").increment(1);
                        }
                        acknowledged.ids.push(id);
                    }
                    Err(error) => {
                        acknowledged
                            .failure
                            .get_or_insert(RelayError::Publish(error.to_string()));
                    }
                }
            }
            if acknowledged.failure.is_some() {
                break;
            }
        }
        acknowledged
    }

    /// Sends `event` with its de-duplicating message id; the future resolves with the ack.
    async fn send(&self, event: &FeedEvent) -> Result<PublishAckFuture, RelayError> {
        let subject = self
            .topology
            .subject(&event.aggregate_type, &event.event_type)?;
        let body = serde_json::to_vec(event).map_err(|e| RelayError::Publish(e.to_string()))?;
        let message = jetstream::message::PublishMessage::build()
            .payload(body.into())
            .message_id(event.key());
        self.jetstream
            .send_publish(subject, message)
            .await
            .map_err(|e| RelayError::Publish(e.to_string()))
    }

    /// How many publishes the stream acknowledged as duplicates of earlier ones (its
    /// de-duplication window dropped them), by this relay and its clones.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// What is waiting to be published.
    pub async fn lag(&self) -> Result<OutboxLag, RelayError> {
        let row = sqlx::query(
            "SELECT count(*) AS events, \
             COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(committed_at)), 0)::float8 AS seconds \
             FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxLag {
            events: row.try_get::<i64, _>("events")?.max(0) as u64,
            seconds: row.try_get("seconds")?,
        })
    }
}

/// The outbox ids JetStream acknowledged in a round, and the first failure.
struct Acknowledged {
    ids: Vec<i64>,
    failure: Option<RelayError>,
}

impl Acknowledged {
    /// How many were published, or the failure.
    fn result(self) -> Result<usize, RelayError> {
        match self.failure {
            Some(error) => Err(error),
            None => Ok(self.ids.len()),
        }
    }
}

/// The `WITH` clause that deletes the published outbox rows `$1` and notes them in `relayed`
/// (its data-modifying parts run whatever the statement then selects): shared by the
/// leader's next read and [`forget_published`].
macro_rules! forget_published_cte {
    () => {
        "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) \
           RETURNING aggregate_type, aggregate_id, sequence), \
         noted AS (INSERT INTO relayed (aggregate_type, aggregate_id, sequence) \
           SELECT aggregate_type, aggregate_id, sequence FROM gone ON CONFLICT DO NOTHING)"
    };
}
use forget_published_cte;

/// Deletes the published outbox rows `ids`, noting them in `relayed` in the same statement:
/// a NATS crash may still drop what it acknowledged, and the reconciler finds it there (see
/// `recovery`).
async fn forget_published(connection: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(concat!(forget_published_cte!(), " SELECT NULL"))
        .bind(ids)
        .execute(connection)
        .await?;
    Ok(())
}

/// Splits a batch (in outbox order) into waves of indices: wave `k` holds the `k`-th event of
/// every aggregate in the batch, in outbox order. One wave never holds two events of one
/// aggregate, and an aggregate's events come in successive waves.
fn waves<'a>(events: impl Iterator<Item = &'a FeedEvent>) -> Vec<Vec<usize>> {
    let mut seen: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (index, event) in events.enumerate() {
        let nth = seen
            .entry((&event.aggregate_type, &event.aggregate_id))
            .or_default();
        if waves.len() <= *nth {
            waves.push(Vec::new());
        }
        waves[*nth].push(index);
        *nth += 1;
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(aggregate_id: &str, sequence: u64) -> FeedEvent {
        FeedEvent {
            aggregate_type: "Order".into(),
            aggregate_id: aggregate_id.into(),
            sequence,
            event_type: "OrderPlaced".into(),
            event_version: "1".into(),
            payload: serde_json::Value::Null,
            metadata: Default::default(),
        }
    }

    #[test]
    fn one_wave_never_holds_two_events_of_an_aggregate() {
        let batch = [
            event("a", 1),
            event("b", 1),
            event("a", 2),
            event("a", 3),
            event("c", 7),
            event("b", 2),
        ];
        assert_eq!(
            waves(batch.iter()),
            vec![vec![0, 1, 4], vec![2, 5], vec![3]]
        );
        assert!(waves(std::iter::empty()).is_empty());
    }

    #[test]
    fn events_of_different_aggregates_share_one_wave() {
        let batch: Vec<FeedEvent> = (0..100).map(|i| event(&i.to_string(), 1)).collect();
        assert_eq!(waves(batch.iter()), vec![(0..100).collect::<Vec<_>>()]);
    }
}
