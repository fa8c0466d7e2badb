//! Process managers: what eats does next when an event is committed.
//!
//! - [`choreography`]: the pure table from committed events to follow-up commands.
//! - [`runner`]: the [`ProcessManager`] consumer that executes follow-ups idempotently, retries
//!   transient failures (including lost concurrency races) with backoff, and parks what keeps
//!   failing in [`dead_letters`] without holding back other orders.
//! - [`deadlines`] and [`deadline_runner`]: durable deadlines (unpaid, unanswered, unclaimed)
//!   and the runner that fires them on a controllable [`clock`].
//! - [`gateway`]: payment gateways (Toss over HTTP, the simulator) behind a timeout and a
//!   circuit breaker.

pub mod choreography;
pub mod clock;
pub mod dead_letters;
pub mod deadline_runner;
pub mod deadlines;
pub mod gateway;
pub mod runner;

pub use choreography::{follow_ups, FollowUp};
pub use deadline_runner::{DeadlineRunner, Fired};
pub use runner::{ProcessManager, SagaSettings};
