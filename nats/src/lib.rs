//! Domain events on NATS JetStream: naming, the outbox relay, and the JetStream feed.
//!
//! One stream carries every committed event. Subjects are
//! `<prefix>.<AggregateType>.<EventType>`, so a consumer filters by aggregate
//! (`eats.events.Order.>`) or by event type (`eats.events.*.OrderPlaced`). Each message's
//! `Nats-Msg-Id` is `<AggregateType>-<aggregate id>-<sequence>`, which lets the stream drop a
//! re-sent event within its duplicate window. Only features of NATS server 2.9 are used.
//!
//! - [`topology`]: stream and subject names (namespaced per test run).
//! - [`relay`]: the Postgres outbox relay: leader-elected, woken by LISTEN/NOTIFY, loses
//!   nothing when it dies between commit and publish.
//! - [`jetstream`]: the stream's configuration and the JetStream implementation of the event
//!   feed: one supervised durable pull consumer per handler (heartbeats and a stall
//!   watchdog recreate it; restarts are counted in `eats_consumer_restarts_total`).
//! - [`recovery`]: what a NATS crash drops, recovered from the event store: consumers fill
//!   gaps before a later event ([`Recorded`]) and a [`Reconciler`] re-feeds what no later
//!   event reveals.
//! - `holdback` (private): keeps an aggregate's later events back while one is refused.

mod holdback;
pub mod jetstream;
pub mod recovery;
pub mod relay;
pub mod topology;

pub use jetstream::{ensure_stream, JetStreamFeed, StreamSettings, RESTARTS_METRIC};
pub use recovery::{Reconciler, Recorded, RecoverySettings, REFED_METRIC};
pub use relay::Relay;
pub use topology::{message_id, InvalidName, Topology};
