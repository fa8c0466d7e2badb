//! Event versions, upcasting and the JSON Schema catalogue.
//!
//! Each event type carries a version beside its payload. When a payload's shape changes, the
//! version goes up and an upcaster turns stored old payloads into the current shape on read,
//! so aggregates and consumers only ever see current events. `schemas/events/` holds the
//! schema of every current and every still-readable old version, generated from this code.

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::Aggregate;
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// One event type at one version, with the JSON Schema of its payload.
#[derive(Clone, Debug)]
pub struct EventSchema {
    /// The aggregate type that emits it (`Aggregate::TYPE`); filled in by [`event_catalog`].
    pub aggregate_type: &'static str,
    /// The stored `event_type`.
    pub event_type: &'static str,
    /// The stored `event_version`.
    pub version: &'static str,
    /// The payload's schema.
    pub schema: Schema,
}

impl EventSchema {
    /// The schema of payload type `T` as `event_type` at `version`.
    pub fn of<T: JsonSchema>(event_type: &'static str, version: &'static str) -> Self {
        Self {
            aggregate_type: "",
            event_type,
            version,
            schema: schemars::schema_for!(T),
        }
    }

    /// The file name under `schemas/events/`, e.g. `Order.OrderPlaced.v1.json`.
    pub fn file_name(&self) -> String {
        let major = self.version.split('.').next().unwrap_or(self.version);
        format!("{}.{}.v{major}.json", self.aggregate_type, self.event_type)
    }
}

/// How an aggregate reads its own old data: event versions that need upcasting, and the
/// layout of its snapshots. Aggregates without old versions keep the defaults. `Clone`: the
/// command handlers keep a copy of the state a command left (`eats_store::commands`).
pub trait Versioned: Aggregate + Clone {
    /// The shape of the aggregate's serialized state. Bump it whenever a field of the
    /// aggregate struct changes, so stored snapshots of the old shape are ignored and the
    /// state is rebuilt from events instead of being read wrongly.
    const SNAPSHOT_LAYOUT: u32 = 1;

    /// Whether its history grows without end (a store's menu edits, a customer's completed
    /// orders), so loads are cut short by snapshots. An order, a payment or a delivery lives
    /// for about a dozen events: reading them in one query is cheaper than first asking for a
    /// snapshot that almost never exists (two round trips on every command).
    const SNAPSHOTS: bool = false;

    /// Upcasters for this aggregate's stored events, applied in order on every read.
    fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
        Vec::new()
    }

    /// Schemas of old versions that stored events may still have.
    fn legacy_schemas() -> Vec<EventSchema> {
        Vec::new()
    }
}

/// A typed upcaster: stored payloads of `event_type` older than `to_version` are read as
/// `Old` and converted with `From` into the current payload `New`.
///
/// The stored form is the externally tagged enum `{"<event_type>": {...}}`, which this
/// unwraps and re-wraps. A payload that does not parse as `Old` is passed through unchanged,
/// so the read fails with a deserialization error naming the event instead of guessing.
pub fn typed_upcaster<Old, New>(
    event_type: &'static str,
    to_version: &str,
) -> Box<dyn EventUpcaster>
where
    Old: DeserializeOwned,
    New: From<Old> + Serialize,
{
    Box::new(SemanticVersionEventUpcaster::new(
        event_type,
        to_version,
        Box::new(move |payload: Value| {
            let Some(inner) = payload.get(event_type) else {
                return payload;
            };
            let Ok(old) = serde_json::from_value::<Old>(inner.clone()) else {
                return payload;
            };
            match serde_json::to_value(New::from(old)) {
                Ok(new) => serde_json::json!({ event_type: new }),
                Err(_) => payload,
            }
        }),
    ))
}

fn stamped<A: Aggregate>(schemas: Vec<EventSchema>) -> impl Iterator<Item = EventSchema> {
    schemas.into_iter().map(|mut s| {
        s.aggregate_type = A::TYPE;
        s
    })
}

/// Every event type of every aggregate, current and legacy versions, in a stable order.
pub fn event_catalog() -> Vec<EventSchema> {
    use crate::customer::{Customer, CustomerEvent};
    use crate::delivery::{Delivery, DeliveryEvent};
    use crate::order::{Order, OrderEvent};
    use crate::payment::{Payment, PaymentEvent};
    use crate::store::{Store, StoreEvent};

    let mut all: Vec<EventSchema> = Vec::new();
    all.extend(stamped::<Order>(OrderEvent::catalog()));
    all.extend(stamped::<Order>(Order::legacy_schemas()));
    all.extend(stamped::<Payment>(PaymentEvent::catalog()));
    all.extend(stamped::<Payment>(Payment::legacy_schemas()));
    all.extend(stamped::<Delivery>(DeliveryEvent::catalog()));
    all.extend(stamped::<Delivery>(Delivery::legacy_schemas()));
    all.extend(stamped::<Store>(StoreEvent::catalog()));
    all.extend(stamped::<Store>(Store::legacy_schemas()));
    all.extend(stamped::<Customer>(CustomerEvent::catalog()));
    all.extend(stamped::<Customer>(Customer::legacy_schemas()));
    all.sort_by_key(EventSchema::file_name);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_event_type_has_exactly_one_schema_file_per_version() {
        let catalog = event_catalog();
        let names: HashSet<String> = catalog.iter().map(EventSchema::file_name).collect();
        assert_eq!(names.len(), catalog.len());
        assert!(catalog.iter().all(|s| !s.aggregate_type.is_empty()));
    }

    #[test]
    fn event_type_names_are_unique_across_aggregates() {
        let catalog = event_catalog();
        let current: HashSet<(&str, &str)> = catalog
            .iter()
            .map(|s| (s.aggregate_type, s.event_type))
            .collect();
        let types: HashSet<&str> = current.iter().map(|(_, t)| *t).collect();
        assert_eq!(types.len(), current.len());
    }
}
