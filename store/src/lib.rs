//! One wiring over two event stores.
//!
//! eats runs on Postgres (postgres-es) when distributed and on a SQLite file (sqlite-es) when
//! embedded. Both speak the same cqrs-es repository API, so everything above this crate is
//! written once against [`Cqrs`] and [`EventStoreOf`].
//!
//! - [`database`]: connecting, migrating and health-checking either backend.
//! - [`repository`]: the one [`EventRepository`] over both, which also versions snapshots.
//! - [`wiring`]: the five aggregates' command handlers and the event-sourced store catalogue.
//! - [`testing`] (feature `testing`): a fresh, isolated database per test on either backend.

pub mod database;
pub mod repository;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wiring;

pub use database::{Backend, Database, StoreError};
pub use repository::EventRepository;
pub use wiring::{Aggregates, Cqrs, DomainServices, EventStoreCatalog, EventStoreOf};
