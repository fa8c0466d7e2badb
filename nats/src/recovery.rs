//! Recovering what a NATS crash drops, from the event store.
//!
//! JetStream acknowledges a publish once the message is in its store, but fsyncs only every
//! `sync_interval` (2 minutes by default); with one replica a crash (or a lost disk) can drop
//! acknowledged messages, and a consumer's own state may come back ahead of the stream, so
//! it skips messages published again under the same stream sequences. The relay deleted those
//! events' outbox rows after the ack (with its next read): from then on the event store is
//! the only place they are.
//! Two things bring them back:
//!
//! - [`Recorded`] wraps every JetStream consumer: it remembers, per aggregate, how far the
//!   consumer has handled it without a gap (`consumer_positions`), and when an event arrives
//!   after a gap, reads the missing ones from the event store and hands them over first. So
//!   a lost event in the middle of an aggregate's history is recovered by the next one.
//!   Projectors keep such positions themselves, in the transaction of their writes, and
//!   fill gaps themselves ([`EventHandler::own_positions`]): for them `Recorded` only passes
//!   events through, and the reconciler reads their positions.
//! - [`Reconciler`] finds what no later event reveals (an aggregate's last event lost): the
//!   relay notes every event it published in `relayed` (kept for a window); every few
//!   seconds, and at once after a reconnect to NATS, the reconciler compares each consumer's
//!   positions with what was relayed before the oldest message that consumer still has
//!   pending in the stream (less a settling margin), and re-feeds what is missing through
//!   [`Recorded`], in order. Consumers are idempotent, so an event re-fed that the stream also
//!   delivers has its effect once.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use hashlink::LruCache;
use sqlx::postgres::PgPool;
use sqlx::{FromRow, Row};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::jetstream::JetStreamFeed;

/// Events re-fed from the event store because the stream had lost them (or the consumer
/// skipped them), labelled `consumer` and `how` (`gap`: found before a later event;
/// `reconciled`: found by the reconciler).
pub const REFED_METRIC: &str = "eats_consumer_refed_events_total";
const REFED_HOW: [&str; 2] = ["gap", "reconciled"];

/// Why recovering failed; the feed retries the event, the reconciler its next round.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Postgres failed.
    #[error("recovery database: {0}")]
    Database(#[from] sqlx::Error),
    /// Recording positions failed (in a write shared with other runs).
    #[error("recording positions: {0}")]
    Record(Arc<sqlx::Error>),
    /// The consumer refused an event handed over again.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The event store does not hold every event before one that arrived (it always should:
    /// events are relayed after they commit); the event is not handed over.
    #[error(
        "{event} arrived after {position}, but the event store has only {found} events in between"
    )]
    Unrepairable {
        /// The event's key.
        event: String,
        /// How far the consumer had got.
        position: u64,
        /// Events found between.
        found: usize,
    },
}

/// A JetStream consumer that records how far it got per aggregate and fills gaps from the
/// event store before handing a later event over. Keeps the inner consumer's name, so its
/// durable consumer and metrics stay the same.
///
/// Positions cost no read on the way in when this process recorded or read them before (they
/// only move forward, so one remembered can only be behind: a gap it suggests is checked
/// against the table before anything is read from the event store, and an event handled
/// twice because another replica moved on meanwhile is absorbed by the consumer's
/// idempotence). Positions are recorded in writes shared by the runs finishing meanwhile,
/// each run waiting for its own to be written. In a 64-client load run the process manager's
/// read and write were 15% of all statements.
pub struct Recorded {
    inner: Arc<dyn EventHandler>,
    pool: PgPool,
    known: Mutex<LruCache<Aggregate, u64>>,
    recorder: mpsc::UnboundedSender<Recording>,
}

type Aggregate = (String, String);

/// Positions to record, and where to say they are.
type Recording = (
    HashMap<Aggregate, u64>,
    oneshot::Sender<Result<(), Arc<sqlx::Error>>>,
);

/// Positions remembered per consumer, at most (about 100 bytes each).
const POSITIONS_KNOWN: usize = 50_000;

impl Recorded {
    /// `inner`, recording on `pool` (the Postgres event store, which holds the positions).
    /// Starts the task that writes the positions; it ends with the `Recorded`.
    pub fn new(inner: Arc<dyn EventHandler>, pool: PgPool) -> Self {
        let (recorder, recordings) = mpsc::unbounded_channel();
        tokio::spawn(record_positions(
            pool.clone(),
            inner.name().to_string(),
            recordings,
        ));
        Self {
            inner,
            pool,
            known: Mutex::new(LruCache::new(POSITIONS_KNOWN)),
            recorder,
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, LruCache<Aggregate, u64>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The positions of `aggregates`: remembered ones as remembered (listed in the second
    /// map too), the others read.
    async fn positions(
        &self,
        aggregates: &[Aggregate],
    ) -> Result<(HashMap<Aggregate, u64>, HashMap<Aggregate, u64>), sqlx::Error> {
        let mut remembered = HashMap::new();
        let mut unknown = Vec::new();
        {
            let mut known = self.known();
            for aggregate in aggregates {
                match known.get(aggregate) {
                    Some(position) => {
                        remembered.insert(aggregate.clone(), *position);
                    }
                    None => unknown.push(aggregate.clone()),
                }
            }
        }
        let mut positions = self.stored_positions(&unknown).await?;
        self.remember(&positions);
        positions.extend(remembered.iter().map(|(a, p)| (a.clone(), *p)));
        Ok((positions, remembered))
    }

    fn remember(&self, positions: &HashMap<Aggregate, u64>) {
        let mut known = self.known();
        for (aggregate, position) in positions {
            let at = known.get(aggregate).copied().unwrap_or(0).max(*position);
            known.insert(aggregate.clone(), at);
        }
    }

    async fn stored_positions(
        &self,
        aggregates: &[Aggregate],
    ) -> Result<HashMap<Aggregate, u64>, sqlx::Error> {
        if aggregates.is_empty() {
            return Ok(HashMap::new());
        }
        let (types, ids): (Vec<&str>, Vec<&str>) = aggregates
            .iter()
            .map(|(t, i)| (t.as_str(), i.as_str()))
            .unzip();
        // One index probe per aggregate, whatever the statistics: the `LIMIT 1` keeps the
        // lookup a nested loop. As a plain join, the plan cached on a connection while the
        // table was empty (a new deployment) hash-joined against every position of the
        // consumer, and kept doing so as the table grew: 0.4 ms a call after a 30-second
        // load run, the most expensive statement of the run (pg_stat_statements).
        let rows = sqlx::query(
            "SELECT a.aggregate_type, a.aggregate_id, p.sequence \
             FROM unnest($2::text[], $3::text[]) AS a(aggregate_type, aggregate_id) \
             CROSS JOIN LATERAL (SELECT c.sequence FROM consumer_positions c \
             WHERE c.consumer = $1 AND c.aggregate_type = a.aggregate_type \
             AND c.aggregate_id = a.aggregate_id LIMIT 1) AS p",
        )
        .bind(self.inner.name())
        .bind(&types)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let sequence: i64 = row.try_get("sequence")?;
                Ok((
                    (row.try_get("aggregate_type")?, row.try_get("aggregate_id")?),
                    sequence.max(0) as u64,
                ))
            })
            .collect()
    }

    /// The events of `aggregate` after `after` and before `before`, from the event store.
    async fn missing(
        &self,
        aggregate: &Aggregate,
        after: u64,
        before: Option<u64>,
    ) -> Result<Vec<FeedEvent>, sqlx::Error> {
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             metadata FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence > $3 AND sequence < $4 ORDER BY sequence",
        )
        .bind(&aggregate.0)
        .bind(&aggregate.1)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(FeedEvent::from_row).collect()
    }

    /// Records `reached` (in a write shared with the runs finishing meanwhile) and remembers it.
    async fn record(&self, reached: HashMap<Aggregate, u64>) -> Result<(), RecoveryError> {
        if reached.is_empty() {
            return Ok(());
        }
        let (done, written) = oneshot::channel();
        let gone = || RecoveryError::Record(Arc::new(sqlx::Error::PoolClosed));
        self.recorder
            .send((reached.clone(), done))
            .map_err(|_| gone())?;
        written
            .await
            .map_err(|_| gone())?
            .map_err(RecoveryError::Record)?;
        self.remember(&reached);
        Ok(())
    }

    /// Hands `events` (each aggregate's in order) to the consumer, after the events missing
    /// before them; skips what it handled before; records how far each aggregate got.
    /// Returns how many events came from the event store.
    async fn hand_over(&self, events: &[FeedEvent]) -> Result<usize, RecoveryError> {
        if self.inner.own_positions().is_some() {
            // It skips what it applied and fills gaps itself, in its own transaction.
            self.inner.handle_batch(events).await?;
            return Ok(0);
        }
        let mut aggregates: Vec<Aggregate> = events
            .iter()
            .map(|e| (e.aggregate_type.clone(), e.aggregate_id.clone()))
            .collect();
        aggregates.sort();
        aggregates.dedup();
        let (mut reached, mut remembered) = self.positions(&aggregates).await?;
        let mut batch = Vec::with_capacity(events.len());
        let mut refed = 0;
        for event in events {
            let aggregate = (event.aggregate_type.clone(), event.aggregate_id.clone());
            let mut position = reached.get(&aggregate).copied().unwrap_or(0);
            if event.sequence > position + 1 && remembered.remove(&aggregate).is_some() {
                // Remembered, so maybe behind another replica: the table says.
                let stored = self
                    .stored_positions(std::slice::from_ref(&aggregate))
                    .await?;
                self.remember(&stored);
                position = position.max(stored.get(&aggregate).copied().unwrap_or(0));
                reached.insert(aggregate.clone(), position);
            }
            if event.sequence <= position {
                continue;
            }
            if event.sequence > position + 1 {
                let missing = self
                    .missing(&aggregate, position, Some(event.sequence))
                    .await?;
                if missing.len() as u64 != event.sequence - position - 1 {
                    return Err(RecoveryError::Unrepairable {
                        event: event.key(),
                        position,
                        found: missing.len(),
                    });
                }
                tracing::info!(consumer = self.inner.name(), event = %event.key(), position,
                    missing = missing.len(), "events missing before this one; read from the event store");
                refed += missing.len();
                batch.extend(missing);
            }
            batch.push(event.clone());
            reached.insert(aggregate, event.sequence);
        }
        if batch.is_empty() {
            return Ok(0);
        }
        self.inner.handle_batch(&batch).await?;
        let handled: HashMap<Aggregate, u64> = batch
            .iter()
            .map(|e| {
                (
                    (e.aggregate_type.clone(), e.aggregate_id.clone()),
                    e.sequence,
                )
            })
            .fold(HashMap::new(), |mut reached, (aggregate, sequence)| {
                let at = reached.entry(aggregate).or_insert(sequence);
                *at = (*at).max(sequence);
                reached
            });
        self.record(handled).await?;
        Ok(refed)
    }
}

/// Writes the positions handed to it: whatever arrived while a write was in flight goes in
/// the next, one statement for many runs, and each run is told how its write went.
async fn record_positions(
    pool: PgPool,
    consumer: String,
    mut recordings: mpsc::UnboundedReceiver<Recording>,
) {
    while let Some(first) = recordings.recv().await {
        let mut waiting = vec![first];
        while let Ok(next) = recordings.try_recv() {
            waiting.push(next);
        }
        let mut reached: HashMap<&Aggregate, u64> = HashMap::new();
        for (positions, _) in &waiting {
            for (aggregate, sequence) in positions {
                let at = reached.entry(aggregate).or_insert(*sequence);
                *at = (*at).max(*sequence);
            }
        }
        let written = write_positions(&pool, &consumer, &reached)
            .await
            .map_err(Arc::new);
        for (_, done) in waiting {
            // A run that stopped waiting (its session ended) needs no answer.
            let _ = done.send(written.clone());
        }
    }
}

async fn write_positions(
    pool: &PgPool,
    consumer: &str,
    reached: &HashMap<&Aggregate, u64>,
) -> Result<(), sqlx::Error> {
    // In key order: two replicas writing overlapping aggregates then lock the rows in the
    // same order and cannot deadlock.
    let mut rows: Vec<(&Aggregate, u64)> = reached.iter().map(|(a, s)| (*a, *s)).collect();
    rows.sort_unstable();
    let mut types = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    let mut sequences = Vec::with_capacity(rows.len());
    for ((t, i), s) in rows {
        types.push(t.as_str());
        ids.push(i.as_str());
        sequences.push(i64::try_from(s).unwrap_or(i64::MAX));
    }
    sqlx::query(
        "INSERT INTO consumer_positions (consumer, aggregate_type, aggregate_id, sequence) \
         SELECT $1, t, i, s FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(t, i, s) \
         ON CONFLICT (consumer, aggregate_type, aggregate_id) \
         DO UPDATE SET sequence = GREATEST(consumer_positions.sequence, EXCLUDED.sequence)",
    )
    .bind(consumer)
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .execute(pool)
    .await?;
    Ok(())
}

#[async_trait]
impl EventHandler for Recorded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aggregate_types(&self) -> &[&'static str] {
        self.inner.aggregate_types()
    }

    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }

    fn own_positions(&self) -> Option<&str> {
        self.inner.own_positions()
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.handle_batch(std::slice::from_ref(event)).await
    }

    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        match self.hand_over(events).await {
            Ok(0) => Ok(()),
            Ok(refed) => {
                metrics::counter!(REFED_METRIC, "consumer" => self.inner.name().to_string(), "how" => REFED_HOW[0])
                    .increment(refed as u64);
                Ok(())
            }
            Err(RecoveryError::Handler(error)) => Err(error),
            Err(error) => Err(match events.first() {
                Some(event) => HandlerError::new(self.inner.name(), event, error),
                None => HandlerError {
                    handler: self.inner.name().to_string(),
                    event: String::new(),
                    reason: error.to_string(),
                },
            }),
        }
    }
}

/// How the reconciler looks for what the stream lost.
#[derive(Clone, Debug)]
pub struct RecoverySettings {
    /// Between two rounds (a reconnect to NATS starts one at once).
    pub interval: Duration,
    /// How long after its relay an event counts as overdue for a consumer with nothing
    /// pending; with a backlog, counted from its oldest pending message.
    pub settle: Duration,
    /// How long the relay's notes of published events are kept: the longest a loss can stay
    /// unnoticed (a consumer down that long, then a crash) and still be recovered this way.
    pub window: Duration,
    /// Aggregates re-fed per consumer and round, at most.
    pub limit: i64,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            settle: Duration::from_secs(10),
            window: Duration::from_secs(3600),
            limit: 500,
        }
    }
}

/// Re-feeds consumers the events they should have had by now but have not: see the module
/// documentation.
pub struct Reconciler {
    pool: PgPool,
    feed: JetStreamFeed,
    consumers: Vec<Arc<Recorded>>,
    client: async_nats::Client,
    settings: RecoverySettings,
}

/// One overdue aggregate: how far the consumer got.
struct Overdue {
    aggregate: Aggregate,
    position: u64,
}

impl Reconciler {
    /// Watches `consumers` (reading their backlog through `feed`, whose NATS connection is
    /// `client`) against the event store at `pool`.
    pub fn new(
        pool: PgPool,
        feed: JetStreamFeed,
        consumers: Vec<Arc<Recorded>>,
        client: async_nats::Client,
        settings: RecoverySettings,
    ) -> Self {
        metrics::describe_counter!(
            REFED_METRIC,
            "events re-fed to a consumer from the event store (how: gap, reconciled)"
        );
        for consumer in &consumers {
            for how in REFED_HOW {
                metrics::counter!(REFED_METRIC, "consumer" => consumer.name().to_string(), "how" => how)
                    .increment(0);
            }
        }
        Self {
            pool,
            feed,
            consumers,
            client,
            settings,
        }
    }

    /// Rounds until `shutdown`: every interval, and one second after NATS reconnects.
    pub async fn run(&self, shutdown: CancellationToken) {
        // What each consumer was checked up to (relay time, seconds since the epoch); a
        // fresh process checks the whole window once.
        let mut checked: HashMap<String, f64> = HashMap::new();
        let mut connects = self.client.statistics().connects.load(Ordering::Relaxed);
        let mut next_round = tokio::time::Instant::now() + self.settings.interval;
        let mut look = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = look.tick() => {}
            }
            let now_connects = self.client.statistics().connects.load(Ordering::Relaxed);
            if now_connects != connects {
                connects = now_connects;
                tracing::info!("reconnected to NATS; reconciling consumers with the event store");
                next_round = tokio::time::Instant::now();
            }
            if tokio::time::Instant::now() < next_round {
                continue;
            }
            next_round = tokio::time::Instant::now() + self.settings.interval;
            for consumer in &self.consumers {
                if shutdown.is_cancelled() {
                    return;
                }
                match self
                    .round(consumer, checked.get(consumer.name()).copied())
                    .await
                {
                    Ok(Some(upto)) => {
                        checked.insert(consumer.name().to_string(), upto);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(consumer = consumer.name(), %error, "reconciling failed; trying again next round");
                    }
                }
            }
        }
    }

    /// One consumer's round: re-feeds the aggregates it is behind on among those relayed
    /// after `from` and before it should have had them; returns how far it is now checked
    /// (`None`: not this round, its backlog could not be read).
    pub async fn round(
        &self,
        consumer: &Recorded,
        from: Option<f64>,
    ) -> Result<Option<f64>, RecoveryError> {
        let lag = match self.feed.lag(consumer).await {
            Ok(lag) => lag,
            Err(error) => {
                tracing::debug!(consumer = consumer.name(), %error, "no backlog to reconcile against");
                return Ok(None);
            }
        };
        let behind = if lag.events > 0 { lag.seconds } else { 0.0 };
        let before = self.settings.settle.as_secs_f64() + behind;
        let row = sqlx::query(
            "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 - $1 AS upto, \
             EXTRACT(EPOCH FROM clock_timestamp())::float8 - $2 AS window_start",
        )
        .bind(before)
        .bind(self.settings.window.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        let upto: f64 = row.try_get("upto")?;
        let from = from.unwrap_or(row.try_get("window_start")?);
        if upto <= from {
            return Ok(Some(from));
        }
        let types: Vec<&str> = consumer.aggregate_types().to_vec();
        let (sql, key) = match consumer.own_positions() {
            Some(key) => (overdue_sql("projection_positions", "projection"), key),
            None => (
                overdue_sql("consumer_positions", "consumer"),
                consumer.name(),
            ),
        };
        let rows = sqlx::query(&sql)
            .bind(key)
            .bind(&types)
            .bind(from)
            .bind(upto)
            .bind(self.settings.limit)
            .fetch_all(&self.pool)
            .await?;
        let overdue = rows
            .iter()
            .map(|row| {
                let position: i64 = row.try_get("position")?;
                Ok(Overdue {
                    aggregate: (row.try_get("aggregate_type")?, row.try_get("aggregate_id")?),
                    position: position.max(0) as u64,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let mut refed = 0;
        for Overdue {
            aggregate,
            position,
        } in &overdue
        {
            let missing = consumer.missing(aggregate, *position, None).await?;
            if missing.is_empty() {
                continue;
            }
            refed += missing.len();
            consumer.hand_over(&missing).await?;
        }
        if refed > 0 {
            metrics::counter!(REFED_METRIC, "consumer" => consumer.name().to_string(), "how" => REFED_HOW[1])
                .increment(refed as u64);
            tracing::warn!(
                consumer = consumer.name(),
                aggregates = overdue.len(),
                events = refed,
                "re-fed events the stream never delivered, from the event store"
            );
        }
        // A full page may leave more: check the same span again next round (what was re-fed
        // is recorded and not found again).
        Ok(Some(if overdue.len() as i64 >= self.settings.limit {
            from
        } else {
            upto
        }))
    }
}

/// The aggregates relayed in a span whose last relayed event is past the consumer's position,
/// as recorded in `positions` under `key` (`consumer_positions` by consumer, or a projector's
/// own `projection_positions` by projection: [`EventHandler::own_positions`]).
fn overdue_sql(positions: &str, key: &str) -> String {
    format!(
        "SELECT r.aggregate_type, r.aggregate_id, COALESCE(p.sequence, 0) AS position \
         FROM relayed r LEFT JOIN {positions} p ON p.{key} = $1 \
           AND p.aggregate_type = r.aggregate_type AND p.aggregate_id = r.aggregate_id \
         WHERE r.aggregate_type = ANY($2) \
           AND r.relayed_at > to_timestamp($3) AND r.relayed_at <= to_timestamp($4) \
         GROUP BY r.aggregate_type, r.aggregate_id, p.sequence \
         HAVING max(r.sequence) > COALESCE(p.sequence, 0) \
         LIMIT $5"
    )
}

/// Forgets the relay's notes older than `window`; returns how many went.
pub async fn forget_relayed<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    window: Duration,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM relayed WHERE relayed_at < clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(window.as_secs_f64())
    .execute(executor)
    .await?
    .rows_affected())
}
