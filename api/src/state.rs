//! What every endpoint shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use eats_domain::metadata::{keys, Traceparent};
use eats_domain::{Actor, EventMetadata};
use eats_feed::Lag;
use eats_store::{Aggregates, Database};
use uuid::Uuid;

/// The latest measured lag of each consumer, written by the workers, read by the admin API.
#[derive(Clone, Default)]
pub struct LagBoard(Arc<RwLock<BTreeMap<String, Lag>>>);

impl LagBoard {
    /// Records `consumer`'s lag.
    pub fn set(&self, consumer: &str, lag: Lag) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(consumer.to_string(), lag);
    }

    /// Every consumer's last lag.
    pub fn all(&self) -> BTreeMap<String, Lag> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The database, the command handlers, the lag board and the live streams.
#[derive(Clone)]
pub struct ApiState {
    /// Read models and the event store.
    pub db: Database,
    /// Command handlers.
    pub aggregates: Aggregates,
    /// Consumer lag.
    pub lag: LagBoard,
    /// How long `Idempotency-Key`s live.
    pub idempotency: crate::IdempotencySettings,
    /// Open SSE streams and the hub that wakes them.
    pub live: crate::live::LiveStreams,
    /// What retries a dead letter (the process manager, reporting failures instead of
    /// parking them); none where this process cannot run follow-ups, so retrying answers 503.
    pub dead_letter_retry: Option<std::sync::Arc<dyn eats_feed::EventHandler>>,
}

impl ApiState {
    /// The metadata of a command issued by `actor` about `correlation`, carrying the
    /// request's trace context when it has a valid one.
    pub fn metadata(
        request: &poem::Request,
        correlation: Uuid,
        actor: Actor,
    ) -> HashMap<String, String> {
        let traceparent: Option<Traceparent> = request
            .headers()
            .get(keys::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        // From here on the request's logs name the order it acts on.
        tracing::Span::current().record("correlation_id", tracing::field::display(correlation));
        let metadata = EventMetadata::for_command(correlation, actor, Utc::now())
            .with_traceparent(traceparent);
        match crate::idempotency::command_id(request) {
            Some(command) => metadata.caused_by(command),
            None => metadata,
        }
        .to_map()
    }
}
