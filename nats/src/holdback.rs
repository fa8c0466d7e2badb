//! Keeping each aggregate's events in order when a handler refuses one.
//!
//! JetStream redelivers a refused (nak'ed) message on its own timer, while the messages after
//! it keep arriving. [`Holds`] remembers, per aggregate, which event was refused and keeps that
//! aggregate's later messages back (unacknowledged, in memory) until the refused one comes back
//! and succeeds; other aggregates are not held up. Generic over the message so the rules are
//! tested without a server.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// An aggregate: its type and id.
pub(crate) type AggregateKey = (String, String);

/// One pulled message: its aggregate, its stream sequence (stream order is each aggregate's
/// order, as the relay publishes it), and the message itself.
#[derive(Debug)]
pub(crate) struct Pulled<M> {
    pub(crate) aggregate: AggregateKey,
    pub(crate) stream_sequence: u64,
    pub(crate) message: M,
}

#[derive(Debug)]
struct Held<M> {
    /// The stream sequence of the refused message: the only one of this aggregate that may run.
    refused: u64,
    /// When it was (last) refused.
    since: Instant,
    /// The aggregate's later messages, by stream sequence.
    waiting: BTreeMap<u64, M>,
}

/// The aggregates whose events are held back behind a refused one.
#[derive(Debug)]
pub(crate) struct Holds<M> {
    blocked: HashMap<AggregateKey, Held<M>>,
}

impl<M> Default for Holds<M> {
    fn default() -> Self {
        Self {
            blocked: HashMap::new(),
        }
    }
}

impl<M> Holds<M> {
    /// The part of a pull that may be handled now, in stream order and without duplicates (a
    /// message delivered twice keeps its latest delivery). A held aggregate's later messages
    /// are kept back; its refused message, when it comes back, brings them along after it.
    pub(crate) fn admit(&mut self, mut pulled: Vec<Pulled<M>>) -> Vec<Pulled<M>> {
        // Stable: of two deliveries of one message, the later stays later.
        pulled.sort_by_key(|p| p.stream_sequence);
        let mut work: BTreeMap<u64, Pulled<M>> = BTreeMap::new();
        for p in pulled {
            match self.blocked.get_mut(&p.aggregate) {
                Some(held) if p.stream_sequence > held.refused => {
                    held.waiting.insert(p.stream_sequence, p.message);
                }
                Some(held) if p.stream_sequence == held.refused => {
                    let held = self.blocked.remove(&p.aggregate).expect("just found");
                    for (stream_sequence, message) in held.waiting {
                        work.entry(stream_sequence).or_insert(Pulled {
                            aggregate: p.aggregate.clone(),
                            stream_sequence,
                            message,
                        });
                    }
                    work.insert(p.stream_sequence, p);
                }
                // Not held, or an earlier event delivered again: it goes before the refused one
                // anyway.
                _ => {
                    work.insert(p.stream_sequence, p);
                }
            }
        }
        work.into_values().collect()
    }

    /// Keeps `p` back if its aggregate is held (returns `None`), else hands it back to run.
    pub(crate) fn hold(&mut self, p: Pulled<M>) -> Option<Pulled<M>> {
        match self.blocked.get_mut(&p.aggregate) {
            Some(held) if p.stream_sequence > held.refused => {
                held.waiting.insert(p.stream_sequence, p.message);
                None
            }
            _ => Some(p),
        }
    }

    /// Records that the handler refused the message at `stream_sequence` of `aggregate`:
    /// nothing later of that aggregate runs until it has succeeded.
    pub(crate) fn refuse(&mut self, aggregate: AggregateKey, stream_sequence: u64) {
        let held = self.blocked.entry(aggregate).or_insert_with(|| Held {
            refused: stream_sequence,
            since: Instant::now(),
            waiting: BTreeMap::new(),
        });
        held.refused = held.refused.min(stream_sequence);
        held.since = Instant::now();
    }

    /// Releases the holds whose refused message has not come back within `limit` (another
    /// replica took it, or the stream lost it), returning their waiting messages so they are
    /// offered again rather than kept for ever.
    pub(crate) fn release_older_than(&mut self, limit: Duration) -> Vec<M> {
        let expired: Vec<AggregateKey> = self
            .blocked
            .iter()
            .filter(|(_, held)| held.since.elapsed() >= limit)
            .map(|(key, _)| key.clone())
            .collect();
        let mut released = Vec::new();
        for key in expired {
            if let Some(held) = self.blocked.remove(&key) {
                tracing::warn!(aggregate_type = %key.0, aggregate_id = %key.1, refused = held.refused,
                    "refused event did not come back; releasing the events held behind it");
                released.extend(held.waiting.into_values());
            }
        }
        released
    }

    /// Aggregates held back, and messages waiting behind them.
    pub(crate) fn len(&self) -> (usize, usize) {
        (
            self.blocked.len(),
            self.blocked.values().map(|h| h.waiting.len()).sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(aggregate: &str, stream_sequence: u64, message: &'static str) -> Pulled<&'static str> {
        Pulled {
            aggregate: ("Order".into(), aggregate.into()),
            stream_sequence,
            message,
        }
    }

    fn names(work: &[Pulled<&'static str>]) -> Vec<&'static str> {
        work.iter().map(|p| p.message).collect()
    }

    fn key(aggregate: &str) -> AggregateKey {
        ("Order".into(), aggregate.into())
    }

    #[test]
    fn a_pull_is_handled_in_stream_order_with_the_latest_delivery_of_a_duplicate() {
        let mut holds = Holds::default();
        let work = holds.admit(vec![
            p("a", 3, "a2"),
            p("a", 1, "a1"),
            p("a", 3, "a2 again"),
        ]);
        assert_eq!(names(&work), ["a1", "a2 again"]);
    }

    #[test]
    fn later_events_of_a_refused_aggregate_wait_while_other_aggregates_go_on() {
        let mut holds = Holds::default();
        holds.refuse(key("a"), 1);
        let work = holds.admit(vec![p("a", 2, "a2"), p("b", 3, "b1"), p("a", 4, "a3")]);
        assert_eq!(names(&work), ["b1"]);
        assert_eq!(holds.len(), (1, 2));
        // Refused in the same pass: the rest of the pass is held too.
        assert!(holds.hold(p("a", 5, "a4")).is_none());
        assert!(holds.hold(p("b", 6, "b2")).is_some());
    }

    #[test]
    fn the_refused_event_coming_back_brings_the_held_ones_after_it_in_order() {
        let mut holds = Holds::default();
        holds.refuse(key("a"), 1);
        holds.admit(vec![p("a", 4, "a3"), p("a", 2, "a2")]);
        let work = holds.admit(vec![
            p("a", 5, "a4"),
            p("a", 1, "a1 again"),
            p("a", 2, "a2 again"),
        ]);
        assert_eq!(names(&work), ["a1 again", "a2 again", "a3", "a4"]);
        assert_eq!(holds.len(), (0, 0));
    }

    #[test]
    fn an_earlier_event_delivered_again_is_not_held_behind_a_later_refusal() {
        let mut holds = Holds::default();
        holds.refuse(key("a"), 5);
        let work = holds.admit(vec![p("a", 2, "a1 again")]);
        assert_eq!(names(&work), ["a1 again"]);
    }

    #[test]
    fn a_hold_whose_refused_event_never_comes_back_is_released() {
        let mut holds = Holds::default();
        holds.refuse(key("a"), 1);
        holds.admit(vec![p("a", 2, "a2")]);
        assert!(holds.release_older_than(Duration::from_secs(60)).is_empty());
        assert_eq!(holds.release_older_than(Duration::ZERO), ["a2"]);
        assert_eq!(holds.len(), (0, 0));
    }
}
