//! One wiring over two event stores.
//!
//! eats runs on Postgres (postgres-es) when distributed and on a SQLite file (sqlite-es) when
//! embedded. Both speak the same cqrs-es repository API, so everything above this crate is
//! written once against [`Cqrs`] and [`EventStoreOf`].
//!
//! - [`database`]: connecting, migrating and health-checking either backend.
//! - [`repository`]: the one [`EventRepository`] over both, which also versions snapshots.
//! - [`commands`]: cqrs-es's command handling with this process's recently written aggregates
//!   remembered, every answer still checked against the event store.
//! - [`group_commit`]: SQLite appends that wait for the writer together commit together.
//! - [`transaction`]: beginning a transaction no cancelled caller leaves open on a pooled
//!   connection.
//! - [`wiring`]: the five aggregates' command handlers and the event-sourced store catalogue.
//! - [`testing`] (feature `testing`): a fresh, isolated database per test on either backend.

/// Runs `$body` with `$pool` bound to whichever pool `$db` (a [`Database`]) has: the body
/// is compiled once per backend, from one source, so portable SQL is written once.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.backend() {
            $crate::Backend::Postgres($pool) => $body,
            $crate::Backend::Sqlite($pool) => $body,
        }
    };
}

pub mod commands;
pub mod database;
pub mod group_commit;
pub mod repository;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transaction;
pub mod wiring;

pub use commands::{CachedStore, Commands};
pub use database::{
    Backend, Database, DerivedState, StoreError, Turn, WriteTurn, Writers, PING_IF_IDLE_FOR,
    WRITER_HELD_METRIC, WRITER_WAIT_METRIC,
};
pub use repository::EventRepository;
pub use transaction::BeginSafely;
pub use wiring::{Aggregates, Cqrs, DomainServices, EventStoreCatalog, EventStoreOf};
