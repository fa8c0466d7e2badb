//! Operator commands that run once and exit. Output goes to stdout (tables by default,
//! JSON lines with `--json`), progress and logs to stderr.
//!
//! - [`audit`]: an order's whole story, one aggregate's events, and their verification.
//! - [`dead_letters`]: the process managers' parked messages: list, show, retry, discard.
//! - [`projections`]: list, status and blue/green rebuilds of the read models.
//! - [`table`], [`progress`]: how results and progress are shown.

pub mod audit;
pub mod dead_letters;
pub mod progress;
pub mod projections;
pub mod table;

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use crate::config::StoreConfig;

/// Aggregate types an operator may name.
pub const AGGREGATE_TYPES: [&str; 5] = ["Order", "Payment", "Delivery", "Store", "Customer"];

/// Rebuilds the read models named in `only` (all when empty) blue/green, one after the
/// other (see [`eats_projections::handover`]), printing one JSON line per read model. Safe
/// while `eats serve` runs: each view keeps serving whole until its rebuilt copy replaces it.
pub async fn rebuild_projections(
    store: &StoreConfig,
    only: &[String],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let models = eats_projections::read_models(&db);
    let known: Vec<&str> = models.iter().map(|model| model.name()).collect();
    for name in only {
        anyhow::ensure!(
            known.contains(&name.as_str()),
            "unknown read model `{name}`; one of {known:?}"
        );
    }
    let progress = progress::Stderr::default();
    for model in models
        .iter()
        .filter(|model| only.is_empty() || only.iter().any(|name| name == model.name()))
    {
        let started = std::time::Instant::now();
        let report = model.rebuild_blue_green(500, false, &progress).await;
        progress.finish();
        let report = report.with_context(|| format!("rebuilding {}", model.name()))?;
        let line = json!({
            "read_model": model.name(),
            "events": report.events,
            "caught_up": report.caught_up,
            "switched": report.switched,
            "seconds": started.elapsed().as_secs_f64(),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Checks every read model row against the event store; prints the report as JSON and fails
/// if any row disagrees.
pub async fn verify_projections(store: &StoreConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let report = eats_projections::verify::verify(&db).await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    anyhow::ensure!(
        report.mismatches.is_empty(),
        "{} rows disagree with the event store",
        report.mismatches.len()
    );
    Ok(())
}
