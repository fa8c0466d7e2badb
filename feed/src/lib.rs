//! The event feed: how committed events reach projectors, process managers and the notifier.
//!
//! Consumers implement [`EventHandler`] once. Two feeds run them: the JetStream feed
//! (`eats-nats`, distributed mode) and [`EmbeddedFeed`] (SQLite, one process). Both promise
//! the same: every committed event of the handler's aggregate types is handed over at least
//! once, each aggregate's events in sequence order, until shutdown. Handlers make the effect
//! exactly-once by remembering per aggregate how far they got (see `eats-projections`).
//!
//! - [`event`]: [`FeedEvent`], a stored event in transit, and decoding it (with upcasting).
//! - [`handler`]: the [`EventHandler`] trait and its error.
//! - [`embedded`]: the SQLite feed with a durable checkpoint per consumer.
//! - [`keyed`]: runs of different aggregates at once, each in order, for handlers that call out.
//! - [`lag`]: how far a consumer is behind, in events and seconds.

pub mod embedded;
pub mod event;
pub mod handler;
pub mod keyed;
pub mod lag;

pub use embedded::EmbeddedFeed;
pub use event::{DecodeError, FeedEvent};
pub use handler::{EventHandler, HandlerError};
pub use keyed::Keyed;
pub use lag::Lag;
