//! Operator commands that run once and exit.

use std::io::Write;

use anyhow::Context;
use eats_domain::EventMetadata;
use serde_json::json;

use crate::config::StoreConfig;

/// Aggregate types an operator may name.
pub const AGGREGATE_TYPES: [&str; 5] = ["Order", "Payment", "Delivery", "Store", "Customer"];

/// Writes the stored events of one aggregate as JSON lines, oldest first, exactly as stored
/// (old versions are shown as written, not upcast).
pub async fn audit(
    store: &StoreConfig,
    aggregate_type: &str,
    aggregate_id: &str,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        AGGREGATE_TYPES.contains(&aggregate_type),
        "unknown aggregate type `{aggregate_type}`; one of {AGGREGATE_TYPES:?}"
    );
    let db = store.open().await.context("opening the event store")?;
    let events = db
        .history(aggregate_type, aggregate_id)
        .await
        .context("reading the event history")?;
    for event in &events {
        let metadata: std::collections::HashMap<String, String> =
            serde_json::from_value(event.metadata.clone()).unwrap_or_default();
        let readable = EventMetadata::from_map(&metadata).ok();
        let line = json!({
            "sequence": event.sequence,
            "event_type": event.event_type,
            "event_version": event.event_version,
            "occurred_at": readable.as_ref().map(|m| m.occurred_at.to_rfc3339()),
            "actor": readable.as_ref().map(|m| m.actor.to_string()),
            "correlation_id": readable.as_ref().map(|m| m.correlation_id),
            "causation_id": readable.as_ref().map(|m| m.causation_id),
            "payload": event.payload,
        });
        writeln!(out, "{line}")?;
    }
    Ok(events.len())
}
