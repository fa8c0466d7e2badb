//! Stream, subject and message-id naming.

/// Stream and subject names for one deployment (or one test run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The JetStream stream holding every event.
    pub stream: String,
    /// The first subject tokens, before aggregate and event type.
    pub subject_prefix: String,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            stream: "EATS_EVENTS".into(),
            subject_prefix: "eats.events".into(),
        }
    }
}

/// A name cannot be a subject token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` cannot be part of a NATS name: use letters, digits, `_` and `-` only")]
pub struct InvalidName(pub String);

fn token(name: &str) -> Result<&str, InvalidName> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(InvalidName(name.to_string()))
    }
}

impl Topology {
    /// A topology private to `namespace` (e.g. one test run): its own stream and subjects.
    pub fn namespaced(namespace: &str) -> Result<Self, InvalidName> {
        let namespace = token(namespace)?;
        Ok(Self {
            stream: format!("EATS_EVENTS_{namespace}"),
            subject_prefix: format!("eats.{namespace}.events"),
        })
    }

    /// The subject one event is published on.
    pub fn subject(&self, aggregate_type: &str, event_type: &str) -> Result<String, InvalidName> {
        Ok(format!(
            "{}.{}.{}",
            self.subject_prefix,
            token(aggregate_type)?,
            token(event_type)?
        ))
    }

    /// Every subject of the stream.
    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// Every event of one aggregate type.
    pub fn aggregate_subjects(&self, aggregate_type: &str) -> Result<String, InvalidName> {
        Ok(format!(
            "{}.{}.>",
            self.subject_prefix,
            token(aggregate_type)?
        ))
    }
}

/// The `Nats-Msg-Id` of one stored event: unique per event, identical when re-sent.
pub fn message_id(aggregate_type: &str, aggregate_id: &str, sequence: u64) -> String {
    format!("{aggregate_type}-{aggregate_id}-{sequence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_let_consumers_filter_by_aggregate_and_event_type() {
        let t = Topology::default();
        assert_eq!(
            t.subject("Order", "OrderPlaced"),
            Ok("eats.events.Order.OrderPlaced".into())
        );
        assert_eq!(
            t.aggregate_subjects("Order"),
            Ok("eats.events.Order.>".into())
        );
        assert_eq!(t.all_subjects(), "eats.events.>");
    }

    #[test]
    fn names_that_would_break_subjects_are_refused() {
        let t = Topology::default();
        for bad in ["", "Order.Placed", "Order*", "Order>", "Or der"] {
            assert!(t.subject("Order", bad).is_err(), "{bad}");
        }
        assert!(Topology::namespaced("run.1").is_err());
    }

    #[test]
    fn namespaced_topologies_do_not_overlap_the_default() {
        let t = Topology::namespaced("t_42").expect("valid");
        assert_eq!(t.stream, "EATS_EVENTS_t_42");
        assert!(!t.all_subjects().starts_with("eats.events"));
    }

    #[test]
    fn message_ids_name_the_aggregate_and_sequence() {
        assert_eq!(
            message_id("Order", "0190a1b2-0000-7000-8000-000000000001", 3),
            "Order-0190a1b2-0000-7000-8000-000000000001-3"
        );
    }
}
