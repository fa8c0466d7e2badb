//! Read models, fed from the durable event log rather than from in-process dispatch.
//!
//! - [`position`]: the rule every projection applies before touching a row: apply the next
//!   event of an aggregate, skip one already applied, and never jump over a missing one. It
//!   makes redelivery harmless and keeps each aggregate's events in order, whatever order
//!   the bus delivers them in.

pub mod position;

pub use position::{decide, Decision};
