//! The event stream's configuration and the JetStream event feed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::{
    Config as PullConfig, MessagesError, MessagesErrorKind,
};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use eats_feed::{EventHandler, FeedEvent, Keyed, Lag};
use futures::{FutureExt, StreamExt};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::holdback::{Holds, Pulled};
use crate::topology::Topology;

/// Why the stream or a consumer could not be set up or read.
#[derive(Debug, thiserror::Error)]
#[error("JetStream: {0}")]
pub struct JetStreamError(String);

fn js_error(error: impl std::fmt::Display) -> JetStreamError {
    JetStreamError(error.to_string())
}

/// How the event stream is kept.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Re-sends of one message id within this window are dropped.
    pub duplicate_window: Duration,
    /// Events older than this leave the stream (the event store keeps them for ever).
    pub max_age: Duration,
    /// Copies across a NATS cluster.
    pub replicas: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            replicas: 1,
        }
    }
}

/// Creates the event stream if it does not exist. Limits retention (not work-queue), so any
/// number of durable consumers read it independently.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    topology: &Topology,
    settings: &StreamSettings,
) -> Result<jetstream::stream::Stream, JetStreamError> {
    jetstream
        .get_or_create_stream(StreamConfig {
            name: topology.stream.clone(),
            subjects: vec![topology.all_subjects()],
            retention: RetentionPolicy::Limits,
            storage: StorageType::File,
            duplicate_window: settings.duplicate_window,
            max_age: settings.max_age,
            num_replicas: settings.replicas,
            ..Default::default()
        })
        .await
        .map_err(js_error)
}

/// The counter of consumer restarts, labelled `consumer` and `reason` (`error`: pulling or
/// acknowledging failed; `heartbeat`: the pull subscription went silent; `stalled`: events
/// were waiting but the consumer made no progress).
pub const RESTARTS_METRIC: &str = "eats_consumer_restarts_total";
const RESTART_REASONS: [&str; 3] = ["error", "heartbeat", "stalled"];

/// The longest delay before a refused event is offered again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Why a consumer session ended before shutdown; [`JetStreamFeed::run`] recreates it.
#[derive(Debug, thiserror::Error)]
enum Interruption {
    #[error("missed two idle heartbeats: the pull subscription is dead")]
    MissedHeartbeat,
    #[error("stalled: {pending} events waiting but no progress for {idle:?}")]
    Stalled { pending: u64, idle: Duration },
    #[error(transparent)]
    Failed(#[from] JetStreamError),
}

impl Interruption {
    fn reason(&self) -> &'static str {
        match self {
            Self::Failed(_) => RESTART_REASONS[0],
            Self::MissedHeartbeat => RESTART_REASONS[1],
            Self::Stalled { .. } => RESTART_REASONS[2],
        }
    }
}

/// What the watchdog compares between two looks at a consumer: deliveries and acks as the
/// server counts them (by any replica), and messages this session received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    delivered: u64,
    acknowledged: u64,
    received: u64,
}

/// Notices a consumer that has undelivered events and room to take them, yet moves nothing:
/// the shape of a pull request the server forgot while the client waits for it.
#[derive(Debug)]
struct Watchdog {
    stall_after: Duration,
    max_ack_pending: usize,
    last: Option<(Progress, Instant)>,
}

impl Watchdog {
    fn new(stall_after: Duration, max_ack_pending: usize) -> Self {
        Self {
            stall_after,
            max_ack_pending,
            last: None,
        }
    }

    /// How long the consumer has been stuck, if it counts as stalled now.
    fn observe(
        &mut self,
        now: Instant,
        progress: Progress,
        pending: u64,
        ack_pending: usize,
    ) -> Option<Duration> {
        let since = match self.last {
            Some((last, since)) if last == progress => since,
            _ => {
                self.last = Some((progress, now));
                return None;
            }
        };
        let idle = now.saturating_duration_since(since);
        // At max_ack_pending the server rightly waits for acks or redelivery timers.
        (pending > 0 && ack_pending < self.max_ack_pending && idle >= self.stall_after)
            .then_some(idle)
    }
}

/// How long a refused event waits before it is offered again: doubling from 0.5 s per
/// delivery, at most [`MAX_RETRY_DELAY`].
fn retry_delay(delivered: i64) -> Duration {
    let delivered = delivered.clamp(1, 8) as u32;
    (Duration::from_millis(500) * (1 << (delivered - 1))).min(MAX_RETRY_DELAY)
}

type Work = Pulled<(jetstream::Message, FeedEvent)>;

/// The event feed over JetStream: one durable pull consumer per handler, supervised.
///
/// Each aggregate's events reach the handler in order even when it refuses one: the refused
/// event is redelivered later and the aggregate's later events are held back (unacknowledged)
/// until it succeeds, while other aggregates go on. A consumer is recreated when pulling
/// fails, when its pull subscription misses idle heartbeats, and when a watchdog sees events
/// waiting but no progress; each restart is logged and counted in [`RESTARTS_METRIC`].
#[derive(Clone)]
pub struct JetStreamFeed {
    jetstream: jetstream::Context,
    topology: Topology,
    batch: usize,
    ack_wait: Duration,
    max_deliver: i64,
    heartbeat: Duration,
    stall_after: Duration,
}

impl JetStreamFeed {
    /// A feed reading `topology`'s stream.
    pub fn new(jetstream: jetstream::Context, topology: Topology) -> Self {
        Self {
            jetstream,
            topology,
            batch: 200,
            ack_wait: Duration::from_secs(30),
            // Effectively unlimited: an event is never abandoned; a handler that keeps failing
            // is retried with growing delays (process managers park their own failures as
            // dead letters).
            max_deliver: 1_000_000,
            heartbeat: Duration::from_secs(5),
            stall_after: Duration::from_secs(60),
        }
    }

    /// Messages fetched per pull.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How long a delivered message may stay unacknowledged before JetStream redelivers it.
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// How often the server confirms a waiting pull request (5 s by default); two missed
    /// confirmations end the subscription and the consumer is recreated. Pull requests expire
    /// after six of these, so one the server lost is noticed too.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(100));
        self
    }

    /// How long a consumer may have undelivered events, room to take them and no progress
    /// before the watchdog recreates it (60 s by default).
    pub fn with_stall_after(mut self, stall_after: Duration) -> Self {
        self.stall_after = stall_after.max(Duration::from_millis(100));
        self
    }

    /// The durable consumer name of a handler (letters, digits, `-` and `_` only).
    pub fn consumer_name(handler: &dyn EventHandler) -> String {
        handler
            .name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// How many delivered, unacknowledged messages the server lets the consumer hold: four
    /// pulls' worth, or the handler's concurrency when that is more (a handler running
    /// thousands of orders at once needs that many messages in hand).
    fn max_ack_pending(&self, handler: &dyn EventHandler) -> usize {
        (self.batch * 4).max(handler.concurrency())
    }

    /// A refused event comes back within its retry delay, or, if that nak was lost, one ack
    /// wait later: a hold older than both (and a margin) is released.
    fn hold_limit(&self) -> Duration {
        MAX_RETRY_DELAY + self.ack_wait * 3
    }

    fn consumer_config(&self, handler: &dyn EventHandler) -> PullConfig {
        let filter_subject = match handler.aggregate_types() {
            [one] => self
                .topology
                .aggregate_subjects(one)
                .unwrap_or_else(|_| self.topology.all_subjects()),
            _ => self.topology.all_subjects(),
        };
        PullConfig {
            durable_name: Some(Self::consumer_name(handler)),
            filter_subject,
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            // No `backoff` list: NATS 2.9 adds it on top of a nak's delay (a refusal retried
            // after 1 s came back after 31 s); refusals set their own growing delays.
            max_ack_pending: self.max_ack_pending(handler) as i64,
            ..Default::default()
        }
    }

    async fn consumer(&self, handler: &dyn EventHandler) -> Result<PullConsumer, JetStreamError> {
        let stream = self
            .jetstream
            .get_stream(&self.topology.stream)
            .await
            .map_err(js_error)?;
        stream
            .get_or_create_consumer(&Self::consumer_name(handler), self.consumer_config(handler))
            .await
            .map_err(js_error)
    }

    /// A long-lived pull with idle heartbeats: a subscription the server no longer serves
    /// (lost pull request, reconnect to a restarted server) errors out instead of waiting.
    async fn subscribe(
        &self,
        consumer: &PullConsumer,
    ) -> Result<async_nats::jetstream::consumer::pull::Stream, JetStreamError> {
        consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(self.heartbeat)
            .expires(self.heartbeat * 6)
            .messages()
            .await
            .map_err(js_error)
    }

    /// Hands every event to `handler` at least once, each aggregate's in order, until
    /// `shutdown`. Whatever interrupts the consumer (a failed pull, a dead subscription, a
    /// stall) recreates it after a backoff; events held back behind a refused one stay held
    /// across restarts.
    pub async fn run(&self, handler: &dyn EventHandler, shutdown: CancellationToken) {
        let consumer = handler.name().to_string();
        metrics::describe_counter!(
            RESTARTS_METRIC,
            "JetStream consumers recreated, by consumer and reason (error, heartbeat, stalled)"
        );
        for reason in RESTART_REASONS {
            metrics::counter!(RESTARTS_METRIC, "consumer" => consumer.clone(), "reason" => reason)
                .increment(0);
        }
        let mut holds = Holds::default();
        let mut backoff = FIRST_BACKOFF;
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let Err(interruption) = self.consume(handler, &shutdown, &mut holds).await else {
                return;
            };
            metrics::counter!(RESTARTS_METRIC, "consumer" => consumer.clone(), "reason" => interruption.reason())
                .increment(1);
            tracing::warn!(%consumer, reason = interruption.reason(), error = %interruption,
                "JetStream consumer interrupted; recreating it");
            if started.elapsed() > self.stall_after {
                backoff = FIRST_BACKOFF;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn consume(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
        holds: &mut Holds<(jetstream::Message, FeedEvent)>,
    ) -> Result<(), Interruption> {
        if handler.concurrency() > 1 {
            return self.consume_keyed(handler, shutdown).await;
        }
        let consumer = self.consumer(handler).await?;
        let mut messages = self.subscribe(&consumer).await?;
        tracing::info!(consumer = handler.name(), "JetStream consumer started");
        let wanted = handler.aggregate_types();
        let mut watchdog = Watchdog::new(self.stall_after, self.max_ack_pending(handler));
        let mut received = 0u64;
        let mut looks =
            tokio::time::interval((self.stall_after / 4).max(Duration::from_millis(50)));
        looks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = looks.tick() => {
                    for (message, _) in holds.release_older_than(self.hold_limit()) {
                        message.ack_with(AckKind::Nak(None)).await.map_err(js_error)?;
                    }
                    self.look(&consumer, &mut watchdog, received).await?;
                    continue;
                }
                next = messages.next() => next,
            };
            // Then whatever else is ready, without waiting: full batches when behind.
            let mut pulled = vec![arrived(first)?];
            while pulled.len() < self.batch {
                match messages.next().now_or_never() {
                    Some(next) => pulled.push(arrived(next)?),
                    None => break,
                }
            }
            received += pulled.len() as u64;
            let mut work = Vec::with_capacity(pulled.len());
            for message in pulled {
                let event: FeedEvent = match serde_json::from_slice(&message.payload) {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::error!(%error, subject = %message.subject, "undecodable message; terminating it");
                        message.ack_with(AckKind::Term).await.map_err(js_error)?;
                        continue;
                    }
                };
                if !wanted.contains(&event.aggregate_type.as_str()) {
                    message.ack().await.map_err(js_error)?;
                    continue;
                }
                let stream_sequence = message.info().map_err(js_error)?.stream_sequence;
                work.push(Pulled {
                    aggregate: (event.aggregate_type.clone(), event.aggregate_id.clone()),
                    stream_sequence,
                    message: (message, event),
                });
            }
            let work = holds.admit(work);
            self.deliver(handler, holds, work).await?;
        }
    }

    /// [`consume`](Self::consume) for a handler that takes many aggregates at once: every
    /// pulled event goes to a [`Keyed`] run at once (or queues behind its aggregate's run in
    /// flight), and each message is acknowledged as its run ends, so a slow call holds up
    /// its own aggregate only. How many are in hand is bounded by the server
    /// (`max_ack_pending`, at least the handler's concurrency). A refused event is retried in
    /// place, its aggregate's later events waiting behind it. When the subscription fails,
    /// no more is pulled, the runs in flight finish (a handler call is never cut off; a run
    /// retrying a refused event gives up), and then the session ends; what was not
    /// acknowledged comes again after the ack wait.
    async fn consume_keyed(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
    ) -> Result<(), Interruption> {
        let consumer = self.consumer(handler).await?;
        let mut messages = self.subscribe(&consumer).await?;
        tracing::info!(
            consumer = handler.name(),
            concurrency = handler.concurrency(),
            "JetStream consumer started"
        );
        let wanted = handler.aggregate_types();
        let mut watchdog = Watchdog::new(self.stall_after, self.max_ack_pending(handler));
        let mut received = 0u64;
        let mut looks =
            tokio::time::interval((self.stall_after / 4).max(Duration::from_millis(50)));
        looks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Ends this session's retries too: when the subscription fails, a run retrying an
        // event that keeps failing gives up (unacknowledged, it comes again) instead of
        // keeping the session from ever being recreated.
        let session = shutdown.child_token();
        let mut runs: Keyed<'_, (u64, jetstream::Message)> = Keyed::new(handler, &session);
        // The stream sequences in hand (running or queued): a message redelivered meanwhile
        // (held past the ack wait behind a slow run) is dropped, not run again out of order.
        let mut in_hand: HashSet<u64> = HashSet::new();
        let mut ended: Option<Interruption> = None;
        loop {
            let pulling = ended.is_none() && !shutdown.is_cancelled();
            if !pulling {
                session.cancel();
                if !runs.is_running() {
                    break;
                }
            }
            tokio::select! {
                () = shutdown.cancelled(), if pulling => {}
                done = runs.next_applied(), if runs.is_running() => {
                    // Interrupted runs (shutdown while retrying) acknowledge nothing.
                    for (stream_sequence, message) in done.into_iter().flatten() {
                        in_hand.remove(&stream_sequence);
                        if let Err(error) = message.ack().await {
                            ended.get_or_insert(js_error(error).into());
                        }
                    }
                }
                _ = looks.tick(), if pulling => {
                    if let Err(error) = self.look(&consumer, &mut watchdog, received).await {
                        ended = Some(error);
                    }
                }
                next = messages.next(), if pulling => match arrived(next) {
                    Ok(message) => {
                        received += 1;
                        if let Err(error) =
                            self.admit_keyed(&mut runs, &mut in_hand, wanted, message).await
                        {
                            ended = Some(error.into());
                        }
                    }
                    Err(error) => ended = Some(error),
                },
            }
        }
        match ended {
            Some(interruption) if !shutdown.is_cancelled() => Err(interruption),
            _ => Ok(()),
        }
    }

    /// Decodes a pulled message and submits it to `runs`; what the handler does not read is
    /// acknowledged at once, what cannot be decoded is terminated.
    async fn admit_keyed(
        &self,
        runs: &mut Keyed<'_, (u64, jetstream::Message)>,
        in_hand: &mut HashSet<u64>,
        wanted: &[&str],
        message: jetstream::Message,
    ) -> Result<(), JetStreamError> {
        let stream_sequence = message.info().map_err(js_error)?.stream_sequence;
        if in_hand.contains(&stream_sequence) {
            // Redelivered while its first delivery is still in hand: that one is acked.
            return Ok(());
        }
        let event: FeedEvent = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(%error, subject = %message.subject, "undecodable message; terminating it");
                return message.ack_with(AckKind::Term).await.map_err(js_error);
            }
        };
        if !wanted.contains(&event.aggregate_type.as_str()) {
            return message.ack().await.map_err(js_error);
        }
        in_hand.insert(stream_sequence);
        runs.submit((stream_sequence, message), event);
        Ok(())
    }

    /// One look of the watchdog at the consumer; a consumer it cannot read is left to the
    /// heartbeats (the server may be restarting).
    async fn look(
        &self,
        consumer: &PullConsumer,
        watchdog: &mut Watchdog,
        received: u64,
    ) -> Result<(), Interruption> {
        let info = match tokio::time::timeout(self.heartbeat * 2, consumer.get_info()).await {
            Ok(Ok(info)) => info,
            Ok(Err(error)) => {
                tracing::debug!(%error, "watchdog could not read the consumer");
                return Ok(());
            }
            Err(_) => {
                tracing::debug!("watchdog got no consumer info in time");
                return Ok(());
            }
        };
        let progress = Progress {
            delivered: info.delivered.consumer_sequence,
            acknowledged: info.ack_floor.consumer_sequence,
            received,
        };
        match watchdog.observe(
            Instant::now(),
            progress,
            info.num_pending,
            info.num_ack_pending,
        ) {
            Some(idle) => Err(Interruption::Stalled {
                pending: info.num_pending,
                idle,
            }),
            None => Ok(()),
        }
    }

    /// Hands admitted messages (stream order) to `handler` in one go; if that fails, one at a
    /// time: a refused event is redelivered later and its aggregate's later events are held
    /// back, while other aggregates' events go on.
    async fn deliver(
        &self,
        handler: &dyn EventHandler,
        holds: &mut Holds<(jetstream::Message, FeedEvent)>,
        work: Vec<Work>,
    ) -> Result<(), JetStreamError> {
        if work.is_empty() {
            return Ok(());
        }
        let events: Vec<FeedEvent> = work.iter().map(|p| p.message.1.clone()).collect();
        if handler.handle_batch(&events).await.is_ok() {
            for p in &work {
                p.message.0.ack().await.map_err(js_error)?;
            }
            return Ok(());
        }
        for p in work {
            let Some(p) = holds.hold(p) else {
                continue;
            };
            let (message, event) = &p.message;
            match handler.handle(event).await {
                Ok(()) => message.ack().await.map_err(js_error)?,
                Err(error) => {
                    let delay = retry_delay(message.info().map(|i| i.delivered).unwrap_or(1));
                    tracing::warn!(consumer = handler.name(), event = %event.key(), %error, ?delay,
                        "handler refused an event; redelivering it later, its aggregate's later events wait");
                    message
                        .ack_with(AckKind::Nak(Some(delay)))
                        .await
                        .map_err(js_error)?;
                    holds.refuse(p.aggregate, p.stream_sequence);
                }
            }
        }
        let (aggregates, waiting) = holds.len();
        if aggregates > 0 {
            tracing::debug!(
                consumer = handler.name(),
                aggregates,
                waiting,
                "events held back"
            );
        }
        Ok(())
    }

    /// How far `handler`'s consumer is behind the stream.
    pub async fn lag(&self, handler: &dyn EventHandler) -> Result<Lag, JetStreamError> {
        let mut consumer = self.consumer(handler).await?;
        let info = consumer.info().await.map_err(js_error)?.clone();
        let events = info.num_pending + info.num_ack_pending as u64;
        if events == 0 {
            return Ok(Lag::default());
        }
        let stream = self
            .jetstream
            .get_stream(&self.topology.stream)
            .await
            .map_err(js_error)?;
        let oldest = stream
            .get_raw_message(info.ack_floor.stream_sequence + 1)
            .await
            .ok()
            .map(|m| m.time.unix_timestamp_nanos());
        let now = chrono::Utc::now().timestamp_nanos_opt().map(i128::from);
        let seconds = match (oldest, now) {
            (Some(oldest), Some(now)) => ((now - oldest).max(0) as f64) / 1e9,
            _ => 0.0,
        };
        Ok(Lag { events, seconds })
    }
}

/// The next message of a pull subscription, or why the subscription is finished.
fn arrived(
    next: Option<Result<jetstream::Message, MessagesError>>,
) -> Result<jetstream::Message, Interruption> {
    match next {
        Some(Ok(message)) => Ok(message),
        Some(Err(error)) if error.kind() == MessagesErrorKind::MissingHeartbeat => {
            Err(Interruption::MissedHeartbeat)
        }
        Some(Err(error)) => Err(js_error(error).into()),
        None => Err(JetStreamError("the pull subscription ended".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(delivered: u64, acknowledged: u64, received: u64) -> Progress {
        Progress {
            delivered,
            acknowledged,
            received,
        }
    }

    #[test]
    fn a_consumer_with_waiting_events_and_no_progress_is_stalled() {
        let mut dog = Watchdog::new(Duration::from_secs(60), 800);
        let t0 = Instant::now();
        assert_eq!(dog.observe(t0, progress(5, 3, 5), 2209, 2), None);
        assert_eq!(
            dog.observe(t0 + Duration::from_secs(30), progress(5, 3, 5), 2209, 2),
            None
        );
        assert_eq!(
            dog.observe(t0 + Duration::from_secs(61), progress(5, 3, 5), 2209, 2),
            Some(Duration::from_secs(61))
        );
    }

    #[test]
    fn progress_by_anyone_resets_the_watchdog() {
        let mut dog = Watchdog::new(Duration::from_secs(60), 800);
        let t0 = Instant::now();
        dog.observe(t0, progress(5, 3, 5), 100, 2);
        for (i, p) in [progress(6, 3, 5), progress(6, 4, 5), progress(6, 4, 6)]
            .into_iter()
            .enumerate()
        {
            let at = t0 + Duration::from_secs(61 * (i as u64 + 1));
            assert_eq!(dog.observe(at, p, 100, 2), None, "{p:?}");
        }
    }

    #[test]
    fn a_consumer_that_is_idle_for_a_reason_is_not_stalled() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(600);
        // Nothing undelivered: ack-pending events wait for their redelivery timers.
        let mut dog = Watchdog::new(Duration::from_secs(60), 800);
        dog.observe(t0, progress(5, 3, 5), 0, 2);
        assert_eq!(dog.observe(later, progress(5, 3, 5), 0, 2), None);
        // At max_ack_pending the server waits for acks.
        let mut dog = Watchdog::new(Duration::from_secs(60), 800);
        dog.observe(t0, progress(5, 3, 5), 10, 800);
        assert_eq!(dog.observe(later, progress(5, 3, 5), 10, 800), None);
    }

    #[test]
    fn refused_events_come_back_later_each_time_up_to_a_minute() {
        assert_eq!(retry_delay(1), Duration::from_millis(500));
        assert_eq!(retry_delay(2), Duration::from_secs(1));
        assert_eq!(retry_delay(8), Duration::from_secs(60));
        assert_eq!(retry_delay(1_000), MAX_RETRY_DELAY);
    }
}
