//! The eats domain: five event-sourced aggregates and the values they share.
//!
//! Everything here is pure: aggregates check commands and emit events, and every call to the
//! outside world (the payment gateway, the store catalogue) goes through the aggregate's
//! `Services`, so tests swap them and the store crate wires real ones.
//!
//! - [`order`]: the order lifecycle, from placement to delivery or cancellation.
//! - [`payment`]: one payment per order through a payment gateway, and its refund.
//! - [`delivery`]: the delivery job riders claim, pick up and complete.
//! - [`store`]: a store, its menu, and whether it takes orders.
//! - [`customer`]: profile, notification contact and loyalty grade.
//! - [`ids`], [`money`], [`geo`], [`text`]: identifiers, KRW amounts, coordinates and
//!   validated text that the aggregates share.
//! - [`metadata`]: who did what, when, why and in which trace: stamped on every event.
//! - [`events`]: event versions, upcasting of old versions, and the JSON Schema catalogue
//!   behind `schemas/`.

#[macro_use]
mod macros;

pub mod customer;
pub mod delivery;
pub mod events;
pub mod geo;
pub mod ids;
pub mod metadata;
pub mod money;
pub mod order;
pub mod payment;
pub mod store;
pub mod text;

pub use events::{event_catalog, EventSchema, Versioned};
pub use geo::GeoPoint;
pub use ids::{CustomerId, DeliveryId, MenuItemId, OrderId, PaymentId, RiderId, StoreId, UserId};
pub use metadata::{Actor, EventMetadata};
pub use money::Won;
