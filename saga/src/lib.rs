//! Process managers: what eats does next when an event is committed.
//!
//! - [`choreography`]: the table from committed events to follow-up commands (payment
//!   approved -> order paid, cancelled after payment -> refund, cooking finished -> delivery
//!   job, picked up -> order in delivery, delivered -> delivery completed and the customer's
//!   grade). It is pure, so the rules are tested without a database or a bus; the runners
//!   that execute follow-ups idempotently with retries and dead letters build on it.

pub mod choreography;

pub use choreography::{follow_ups, FollowUp};
