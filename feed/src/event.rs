//! A stored event in transit between the event store and a consumer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use eats_domain::metadata::{keys, Traceparent};
use eats_domain::Versioned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Namespace of the span ids consumers derive from `<consumer>/<event key>`.
const SPAN_ID_NAMESPACE: Uuid = Uuid::from_u128(0x7e1a_94c2_3b5d_4f08_a6e1_c0d2_9b3f_5a17);

/// Namespace of event ids derived from `<aggregate>-<id>-<sequence>`: the causation id of
/// every command a process manager issues in reaction to an event. Part of the stored
/// metadata's meaning, so never changed.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_2f0e_8a4b_4c6e_9f1d_7a3b_0c2e_2001);

/// One committed event exactly as stored (old versions are not yet upcast), which is also
/// the JSON body of its JetStream message. Read straight from a row of `events` or `outbox`
/// (same columns in Postgres and SQLite), so both feeds decode it one way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct FeedEvent {
    /// `Aggregate::TYPE` of the emitter.
    pub aggregate_type: String,
    /// The emitter's id.
    pub aggregate_id: String,
    /// Position in the emitter's own history, from 1.
    #[sqlx(try_from = "i64")]
    pub sequence: u64,
    /// The variant name, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The stored version of the payload.
    pub event_version: String,
    /// The externally tagged payload, `{"OrderPlaced": {...}}`.
    pub payload: Value,
    /// Correlation, causation, actor, time and trace.
    #[sqlx(json)]
    pub metadata: HashMap<String, String>,
}

/// A feed event could not be read as the expected aggregate's event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Belongs to another aggregate type.
    #[error("event of {actual} decoded as {expected}")]
    WrongAggregate {
        /// The type asked for.
        expected: &'static str,
        /// The event's type.
        actual: String,
    },
    /// The payload (after upcasting) does not match the current event shape.
    #[error("payload of {event_type} v{event_version} does not parse: {source}")]
    Payload {
        /// The event type.
        event_type: String,
        /// Its stored version.
        event_version: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The stored metadata is not a string map.
    #[error("metadata is not a string map: {0}")]
    Metadata(serde_json::Error),
    /// The aggregate id is not the id its type uses (every id eats writes is a UUID).
    #[error("{aggregate_type} id {aggregate_id:?} is not a UUID")]
    AggregateId {
        /// The event's aggregate type.
        aggregate_type: String,
        /// The id as stored.
        aggregate_id: String,
    },
}

impl FeedEvent {
    /// Reads a stored row.
    pub fn from_serialized(event: SerializedEvent) -> Result<Self, DecodeError> {
        Ok(Self {
            metadata: serde_json::from_value(event.metadata).map_err(DecodeError::Metadata)?,
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            sequence: event.sequence as u64,
            event_type: event.event_type,
            event_version: event.event_version,
            payload: event.payload,
        })
    }

    /// The event as aggregate `A`'s current event type, old versions upcast first.
    pub fn decode<A: Versioned>(&self) -> Result<A::Event, DecodeError> {
        if self.aggregate_type != A::TYPE {
            return Err(DecodeError::WrongAggregate {
                expected: A::TYPE,
                actual: self.aggregate_type.clone(),
            });
        }
        let mut stored = SerializedEvent::new(
            self.aggregate_id.clone(),
            self.sequence as usize,
            self.aggregate_type.clone(),
            self.event_type.clone(),
            self.event_version.clone(),
            self.payload.clone(),
            Value::Null,
        );
        for upcaster in A::upcasters() {
            if upcaster.can_upcast(&stored.event_type, &stored.event_version) {
                stored = upcaster.upcast(stored);
            }
        }
        serde_json::from_value(stored.payload).map_err(|source| DecodeError::Payload {
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            source,
        })
    }

    /// The order (or other root) this event belongs to; the aggregate itself if unstamped.
    pub fn correlation_id(&self) -> &str {
        self.metadata
            .get(keys::CORRELATION_ID)
            .map_or(self.aggregate_id.as_str(), String::as_str)
    }

    /// When the command that produced it was handled.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.metadata
            .get(keys::OCCURRED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// Who caused it, as stored (`customer:<uuid>`, `system`, ...).
    pub fn actor(&self) -> Option<&str> {
        self.metadata.get(keys::ACTOR).map(String::as_str)
    }

    /// The trace context of the request that caused this event, when it was traced and
    /// the stored value is well formed.
    pub fn traceparent(&self) -> Option<Traceparent> {
        self.metadata
            .get(keys::TRACEPARENT)
            .and_then(|t| t.parse().ok())
    }

    /// The trace `consumer` continues while handling this event: the event's trace id
    /// under a span of its own. The span id is derived from the consumer and the event, so a
    /// redelivery logs under the same span and what the consumer issues (a process
    /// manager's commands) names that span as its parent without passing it around.
    pub fn trace(&self, consumer: &str) -> Option<Traceparent> {
        let seed = Uuid::new_v5(
            &SPAN_ID_NAMESPACE,
            format!("{consumer}/{}", self.key()).as_bytes(),
        );
        self.traceparent()
            .map(|parent| parent.child(seed.as_u64_pair().0))
    }

    /// The span `consumer` handles this event in: what happens there is logged with the
    /// event, its order (correlation id) and the trace of the request that caused it.
    pub fn span(&self, consumer: &str) -> tracing::Span {
        let parent = self.traceparent();
        let own = self.trace(consumer);
        tracing::info_span!(
            "event",
            consumer,
            event = %self.key(),
            event_type = %self.event_type,
            correlation_id = %self.correlation_id(),
            trace_id = parent.as_ref().map(|p| display(p.trace_id().to_string())),
            span_id = own.as_ref().map(|p| display(p.span_id().to_string())),
            parent_span_id = parent.as_ref().map(|p| display(p.span_id().to_string())),
        )
    }

    /// A stable id for this event, derived from its key: what process managers record as
    /// the causation id of the commands they issue for it, so an audit can link effect to cause.
    pub fn event_id(&self) -> Uuid {
        Uuid::new_v5(&EVENT_ID_NAMESPACE, self.key().as_bytes())
    }

    /// The stable key of this event: `<aggregate_type>-<aggregate_id>-<sequence>`.
    pub fn key(&self) -> String {
        format!(
            "{}-{}-{}",
            self.aggregate_type, self.aggregate_id, self.sequence
        )
    }
}

#[cfg(test)]
mod tests {
    use eats_domain::store::{Store, StoreEvent};
    use serde_json::json;

    use super::*;

    fn stored_v1() -> FeedEvent {
        FeedEvent {
            aggregate_type: "Store".into(),
            aggregate_id: "s1".into(),
            sequence: 1,
            event_type: "StoreRegistered".into(),
            event_version: "1.0".into(),
            payload: json!({"StoreRegistered": {
                "store_id": "00000000-0000-0000-0000-00000000005a",
                "owner": "00000000-0000-0000-0000-00000000000a",
                "name": "옛날 가게", "lat": 37.5, "lng": 127.0, "address": "서울"
            }}),
            metadata: HashMap::new(),
        }
    }

    #[test]
    fn decoding_upcasts_old_versions() {
        let StoreEvent::StoreRegistered(e) = stored_v1().decode::<Store>().expect("decodes") else {
            panic!("wrong variant");
        };
        assert_eq!((e.location.lat, e.location.lng), (37.5, 127.0));
    }

    #[test]
    fn a_consumer_continues_the_events_trace_under_a_span_of_its_own() {
        let mut event = stored_v1();
        assert_eq!(
            event.trace("order_view"),
            None,
            "untraced events start no trace"
        );
        event.metadata.insert(
            keys::TRACEPARENT.into(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        );
        let view = event.trace("order_view").expect("traced");
        let saga = event.trace("process_manager").expect("traced");
        assert_eq!(view.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(view.span_id(), "00f067aa0ba902b7");
        assert_ne!(view.span_id(), saga.span_id());
        assert_eq!(
            event.trace("order_view"),
            Some(view),
            "stable across redeliveries"
        );
    }

    #[test]
    fn decoding_as_another_aggregate_is_refused() {
        let result = stored_v1().decode::<eats_domain::order::Order>();
        assert!(matches!(result, Err(DecodeError::WrongAggregate { .. })));
    }
}
