//! The event stream's configuration and the JetStream event feed.

use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use eats_feed::{EventHandler, FeedEvent, Lag};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

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

/// The event feed over JetStream: one durable pull consumer per handler, supervised.
#[derive(Clone)]
pub struct JetStreamFeed {
    jetstream: jetstream::Context,
    topology: Topology,
    batch: usize,
    ack_wait: Duration,
    max_deliver: i64,
}

impl JetStreamFeed {
    /// A feed reading `topology`'s stream.
    pub fn new(jetstream: jetstream::Context, topology: Topology) -> Self {
        Self {
            jetstream,
            topology,
            batch: 200,
            ack_wait: Duration::from_secs(30),
            // Effectively unlimited (NATS needs a bound above the backoff list): an event is
            // never abandoned; a handler that keeps failing is retried with growing delays
            // (process managers park their own failures as dead letters).
            max_deliver: 1_000_000,
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
            backoff: vec![
                self.ack_wait,
                self.ack_wait * 2,
                self.ack_wait * 4,
                self.ack_wait * 8,
            ],
            max_ack_pending: (self.batch * 4) as i64,
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

    /// Hands every event to `handler` at least once, in stream order, until `shutdown`. The
    /// consumer is (re)created whenever pulling fails (server restart, consumer deleted,
    /// reconnect), so a vanished consumer never leaves the handler silently idle.
    pub async fn run(&self, handler: &dyn EventHandler, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            match self.consume(handler, &shutdown).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(consumer = handler.name(), %error, "consumer failed; recreating it");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn consume(
        &self,
        handler: &dyn EventHandler,
        shutdown: &CancellationToken,
    ) -> Result<(), JetStreamError> {
        let consumer = self.consumer(handler).await?;
        tracing::info!(consumer = handler.name(), "JetStream consumer started");
        let wanted = handler.aggregate_types();
        while !shutdown.is_cancelled() {
            // Wait (long poll) for the next message, then take whatever else is ready without
            // waiting: no added latency when quiet, full batches when behind.
            let mut pulled = Vec::new();
            let mut first = consumer
                .batch()
                .max_messages(1)
                .expires(Duration::from_secs(1))
                .messages()
                .await
                .map_err(js_error)?;
            while let Some(message) = first.next().await {
                pulled.push(message.map_err(js_error)?);
            }
            if pulled.is_empty() {
                continue;
            }
            if self.batch > 1 {
                let mut rest = consumer
                    .fetch()
                    .max_messages(self.batch - 1)
                    .messages()
                    .await
                    .map_err(js_error)?;
                while let Some(message) = rest.next().await {
                    pulled.push(message.map_err(js_error)?);
                }
            }
            let mut wanted_messages = Vec::new();
            for message in pulled {
                let event: FeedEvent = match serde_json::from_slice(&message.payload) {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::error!(%error, subject = %message.subject, "undecodable message; terminating it");
                        message.ack_with(AckKind::Term).await.map_err(js_error)?;
                        continue;
                    }
                };
                if wanted.contains(&event.aggregate_type.as_str()) {
                    wanted_messages.push((message, event));
                } else {
                    message.ack().await.map_err(js_error)?;
                }
            }
            self.deliver(handler, wanted_messages).await?;
        }
        Ok(())
    }

    /// Hands a pulled batch to `handler` in one go; if that fails, one message at a time, so
    /// one bad event is redelivered later without holding back the rest.
    async fn deliver(
        &self,
        handler: &dyn EventHandler,
        messages: Vec<(jetstream::Message, FeedEvent)>,
    ) -> Result<(), JetStreamError> {
        if messages.is_empty() {
            return Ok(());
        }
        let events: Vec<FeedEvent> = messages.iter().map(|(_, e)| e.clone()).collect();
        if handler.handle_batch(&events).await.is_ok() {
            for (message, _) in &messages {
                message.ack().await.map_err(js_error)?;
            }
            return Ok(());
        }
        for (message, event) in &messages {
            match handler.handle(event).await {
                Ok(()) => message.ack().await.map_err(js_error)?,
                Err(error) => {
                    let delivered = message.info().map(|i| i.delivered).unwrap_or(1).clamp(1, 7);
                    let delay = Duration::from_millis(500 * (1 << (delivered - 1)))
                        .min(Duration::from_secs(60));
                    tracing::warn!(%error, ?delay, "handler failed; redelivering later");
                    message
                        .ack_with(AckKind::Nak(Some(delay)))
                        .await
                        .map_err(js_error)?;
                }
            }
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
