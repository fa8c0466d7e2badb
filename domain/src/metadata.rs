//! Event metadata: the correlation, causation, actor, time and trace of every event.
//!
//! cqrs-es stores metadata as a string map beside each event and has no event id, timestamp
//! or global position of its own, so everything consumers and auditors need is put here.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CustomerId, RiderId, UserId};

/// Who caused an event: a user in one of the four roles, or the system itself (process
/// managers and deadlines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "role", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A customer acting on their own orders and profile.
    Customer(CustomerId),
    /// The owner of a store, acting on that store and its orders.
    StoreOwner(UserId),
    /// A rider, acting on deliveries.
    Rider(RiderId),
    /// An operator with the admin role.
    Admin(UserId),
    /// eats itself: a process manager or a deadline.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Customer(id) => write!(f, "customer:{id}"),
            Actor::StoreOwner(id) => write!(f, "store_owner:{id}"),
            Actor::Rider(id) => write!(f, "rider:{id}"),
            Actor::Admin(id) => write!(f, "admin:{id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Why a metadata map could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A required key is absent.
    #[error("metadata key `{0}` is missing")]
    Missing(&'static str),
    /// A key is present but its value does not parse.
    #[error("metadata key `{key}` has an invalid value `{value}`")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The stored value.
        value: String,
    },
}

impl FromStr for Actor {
    type Err = MetadataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || MetadataError::Invalid {
            key: keys::ACTOR,
            value: s.to_string(),
        };
        if s == "system" {
            return Ok(Actor::System);
        }
        let (role, id) = s.split_once(':').ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        match role {
            "customer" => Ok(Actor::Customer(id.into())),
            "store_owner" => Ok(Actor::StoreOwner(id.into())),
            "rider" => Ok(Actor::Rider(id.into())),
            "admin" => Ok(Actor::Admin(id.into())),
            _ => Err(invalid()),
        }
    }
}

/// The metadata keys as stored; part of the wire format, so never renamed.
pub mod keys {
    /// The order the event belongs to (or the aggregate itself when there is no order).
    pub const CORRELATION_ID: &str = "correlation_id";
    /// The command or event that caused this event.
    pub const CAUSATION_ID: &str = "causation_id";
    /// Who caused it, as `role:uuid` or `system`.
    pub const ACTOR: &str = "actor";
    /// When it happened, RFC 3339 in UTC.
    pub const OCCURRED_AT: &str = "occurred_at";
    /// The W3C trace context of the request that caused it, when there was one.
    pub const TRACEPARENT: &str = "traceparent";
}

/// The metadata every event carries. One value is stamped on all events of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMetadata {
    /// Groups everything that happens because of one order across aggregates.
    pub correlation_id: Uuid,
    /// The command (or the event, for process managers) that caused these events.
    pub causation_id: Uuid,
    /// Who caused them.
    pub actor: Actor,
    /// When the command was handled.
    pub occurred_at: DateTime<Utc>,
    /// W3C `traceparent` of the causing request, if it was traced.
    pub traceparent: Option<Traceparent>,
}

impl EventMetadata {
    /// Metadata for a new command: the command gets a fresh causation id.
    pub fn for_command(correlation_id: Uuid, actor: Actor, occurred_at: DateTime<Utc>) -> Self {
        Self {
            correlation_id,
            causation_id: Uuid::new_v4(),
            actor,
            occurred_at,
            traceparent: None,
        }
    }

    /// Attaches the trace of the causing request.
    pub fn with_traceparent(mut self, traceparent: Option<Traceparent>) -> Self {
        self.traceparent = traceparent;
        self
    }

    /// Sets what caused the command, e.g. the id of the event a process manager reacted to.
    pub fn caused_by(mut self, causation_id: Uuid) -> Self {
        self.causation_id = causation_id;
        self
    }

    /// The string map cqrs-es stores beside each event.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            (
                keys::CORRELATION_ID.to_string(),
                self.correlation_id.to_string(),
            ),
            (
                keys::CAUSATION_ID.to_string(),
                self.causation_id.to_string(),
            ),
            (keys::ACTOR.to_string(), self.actor.to_string()),
            (
                keys::OCCURRED_AT.to_string(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ]);
        if let Some(tp) = &self.traceparent {
            map.insert(keys::TRACEPARENT.to_string(), tp.to_string());
        }
        map
    }

    /// Reads the map back, refusing events whose metadata is incomplete or malformed.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, MetadataError> {
        fn get<'a>(
            map: &'a HashMap<String, String>,
            key: &'static str,
        ) -> Result<&'a str, MetadataError> {
            map.get(key)
                .map(String::as_str)
                .ok_or(MetadataError::Missing(key))
        }
        fn uuid(map: &HashMap<String, String>, key: &'static str) -> Result<Uuid, MetadataError> {
            let value = get(map, key)?;
            Uuid::parse_str(value).map_err(|_| MetadataError::Invalid {
                key,
                value: value.to_string(),
            })
        }
        let occurred_at = get(map, keys::OCCURRED_AT)?;
        Ok(Self {
            correlation_id: uuid(map, keys::CORRELATION_ID)?,
            causation_id: uuid(map, keys::CAUSATION_ID)?,
            actor: get(map, keys::ACTOR)?.parse()?,
            occurred_at: DateTime::parse_from_rfc3339(occurred_at)
                .map_err(|_| MetadataError::Invalid {
                    key: keys::OCCURRED_AT,
                    value: occurred_at.to_string(),
                })?
                .with_timezone(&Utc),
            traceparent: map
                .get(keys::TRACEPARENT)
                .map(|tp| tp.parse())
                .transpose()?,
        })
    }
}

/// A W3C trace context `traceparent` header value (`00-<trace id>-<parent id>-<flags>`),
/// checked so a malformed header from a client never reaches the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traceparent(String);

impl FromStr for Traceparent {
    type Err = MetadataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || MetadataError::Invalid {
            key: keys::TRACEPARENT,
            value: s.chars().take(64).collect(),
        };
        let parts: Vec<&str> = s.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return Err(invalid());
        };
        let hex = |p: &str, len: usize| {
            p.len() == len
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let all_zero = |p: &str| p.bytes().all(|b| b == b'0');
        if !hex(version, 2)
            || *version == "ff"
            || !hex(trace_id, 32)
            || all_zero(trace_id)
            || !hex(parent_id, 16)
            || all_zero(parent_id)
            || !hex(flags, 2)
        {
            return Err(invalid());
        }
        Ok(Self(s.to_string()))
    }
}

impl Traceparent {
    /// A new trace, for a request that arrived without one: random trace and span ids,
    /// sampled, so everything it causes can still be followed by one id.
    pub fn new_root() -> Self {
        Self(format!(
            "00-{}-{:016x}-01",
            Uuid::new_v4().simple(),
            random_span_id()
        ))
    }

    /// The trace id: the same on every hop of one request's story.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The id of the span that wrote this context: the parent of whatever continues it.
    pub fn span_id(&self) -> &str {
        &self.0[36..52]
    }

    /// The same trace continued by a new span (W3C: keep the trace id and flags, replace
    /// the parent id). A zero `span_id` is invalid in W3C, so it becomes 1.
    pub fn child(&self, span_id: u64) -> Self {
        Self(format!(
            "00-{}-{:016x}-{}",
            self.trace_id(),
            span_id.max(1),
            &self.0[53..55]
        ))
    }

    /// The same trace continued by a new random span.
    pub fn child_random(&self) -> Self {
        self.child(random_span_id())
    }
}

/// A random non-zero 64-bit span id (uuid's generator, so no extra dependency).
fn random_span_id() -> u64 {
    Uuid::new_v4().as_u64_pair().0.max(1)
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn metadata_round_trips_through_the_stored_string_map() {
        let meta = EventMetadata::for_command(
            Uuid::new_v4(),
            Actor::Customer(CustomerId::new()),
            Utc::now(),
        )
        .with_traceparent(Some(TP.parse().expect("valid traceparent")));
        let back = EventMetadata::from_map(&meta.to_map()).expect("readable");
        assert_eq!(back.correlation_id, meta.correlation_id);
        assert_eq!(back.causation_id, meta.causation_id);
        assert_eq!(back.actor, meta.actor);
        assert_eq!(back.traceparent, meta.traceparent);
        assert_eq!(
            back.occurred_at.timestamp_micros(),
            meta.occurred_at.timestamp_micros()
        );
    }

    #[test]
    fn every_actor_round_trips_through_its_string_form() {
        for actor in [
            Actor::Customer(CustomerId::new()),
            Actor::StoreOwner(UserId::new()),
            Actor::Rider(RiderId::new()),
            Actor::Admin(UserId::new()),
            Actor::System,
        ] {
            assert_eq!(actor.to_string().parse::<Actor>(), Ok(actor));
        }
        assert!("chef:123".parse::<Actor>().is_err());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<Traceparent>().is_err(), "{bad}");
        }
        assert!(TP.parse::<Traceparent>().is_ok());
    }

    #[test]
    fn a_continued_trace_keeps_its_trace_id_and_flags_under_a_new_span() {
        let parent: Traceparent = TP.parse().expect("valid traceparent");
        let child = parent.child(0xabc);
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(child.span_id(), "0000000000000abc");
        assert_eq!(
            child.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000abc-01"
        );
        assert_eq!(child.to_string().parse::<Traceparent>(), Ok(child));
        let root = Traceparent::new_root();
        assert_eq!(root.to_string().parse::<Traceparent>(), Ok(root.clone()));
        assert_ne!(root.child_random().span_id(), root.span_id());
    }

    #[test]
    fn metadata_missing_a_key_is_refused() {
        let mut map =
            EventMetadata::for_command(Uuid::new_v4(), Actor::System, Utc::now()).to_map();
        map.remove(keys::ACTOR);
        assert_eq!(
            EventMetadata::from_map(&map),
            Err(MetadataError::Missing(keys::ACTOR))
        );
    }
}
