//! `eats projections list|status|rebuild`: the read models, how far each has got, and
//! blue/green rebuilds.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use eats_projections::ReadModel;

use super::progress::Stderr;
use super::table::Table;
use crate::config::StoreConfig;

fn find(models: &[Arc<dyn ReadModel>], name: &str) -> anyhow::Result<Arc<dyn ReadModel>> {
    let known: Vec<&str> = models.iter().map(|model| model.name()).collect();
    models
        .iter()
        .find(|model| model.name() == name)
        .cloned()
        .with_context(|| format!("unknown read model `{name}`; one of {known:?}"))
}

/// Names every read model with its tables and the aggregate types it reads.
pub async fn list(store: &StoreConfig, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let models = eats_projections::read_models(&db);
    if json {
        for model in &models {
            let line = serde_json::json!({
                "read_model": model.name(),
                "tables": model.tables(),
                "aggregate_types": model.aggregate_types(),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    let mut table = Table::new(["read model", "tables", "reads"]);
    for model in &models {
        table.row([
            model.name().to_string(),
            model.tables().join(", "),
            model.aggregate_types().join(", "),
        ]);
    }
    write!(out, "{}", table.render())?;
    Ok(())
}

/// How far each read model (or the one named) has got against the event store.
pub async fn status(
    store: &StoreConfig,
    only: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let models = eats_projections::read_models(&db);
    let chosen = match only {
        Some(name) => vec![find(&models, name)?],
        None => models,
    };
    let mut table = Table::new([
        "read model",
        "rows",
        "aggregates",
        "events applied",
        "events stored",
        "behind",
        "leftover rebuilds",
    ]);
    for model in &chosen {
        let status = model
            .status()
            .await
            .with_context(|| format!("reading the status of {}", model.name()))?;
        if json {
            writeln!(out, "{}", serde_json::to_string(&status)?)?;
            continue;
        }
        let rows: Vec<String> = status
            .rows
            .iter()
            .map(|t| format!("{} {}", t.table, t.rows))
            .collect();
        table.row([
            status.read_model.clone(),
            rows.join(", "),
            status.aggregates.to_string(),
            status.applied.to_string(),
            status.events.to_string(),
            (status.events - status.applied).max(0).to_string(),
            status.leftovers.join(", "),
        ]);
    }
    if !json {
        write!(out, "{}", table.render())?;
    }
    Ok(())
}

/// Rebuilds read model `name` blue/green (or compares, with `dry_run`); fails on a dry run
/// that found differences, so scripts can tell.
pub async fn rebuild(
    store: &StoreConfig,
    name: &str,
    dry_run: bool,
    batch: usize,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let models = eats_projections::read_models(&db);
    let model = find(&models, name)?;
    let started = std::time::Instant::now();
    let progress = Stderr::default();
    let report = model
        .rebuild_blue_green(batch, dry_run, &progress)
        .await
        .with_context(|| format!("rebuilding {name}"));
    progress.finish();
    let report = report?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut line = serde_json::to_value(&report)?;
        line["seconds"] = seconds.into();
        writeln!(out, "{line}")?;
    } else {
        let rows: Vec<String> = report
            .rows
            .iter()
            .map(|t| format!("{} {}", t.table, t.rows))
            .collect();
        let mut table = Table::new([
            "read model",
            "events read",
            "caught up (at switch)",
            "rows",
            "switched",
            "seconds",
        ]);
        table.row([
            report.read_model.clone(),
            report.events.to_string(),
            format!("{} ({})", report.caught_up, report.caught_up_at_switch),
            rows.join(", "),
            if report.switched {
                "yes"
            } else {
                "no (dry run)"
            }
            .to_string(),
            format!("{seconds:.2}"),
        ]);
        write!(out, "{}", table.render())?;
        if dry_run {
            if report.differences.is_empty() {
                writeln!(
                    out,
                    "no differences: the rebuilt tables equal the live ones"
                )?;
            } else {
                let mut diff = Table::new([
                    "table",
                    "only live",
                    "only rebuilt",
                    "examples (live | rebuilt)",
                ]);
                for d in &report.differences {
                    diff.row([
                        d.table.clone(),
                        d.only_live.to_string(),
                        d.only_rebuilt.to_string(),
                        format!(
                            "{} | {}",
                            d.live_examples.join(" "),
                            d.rebuilt_examples.join(" ")
                        ),
                    ]);
                }
                write!(out, "{}", diff.render())?;
            }
        }
    }
    anyhow::ensure!(
        report.differences.is_empty(),
        "{name}: the rebuilt tables differ from the live ones (rows of events the live \
         projector had not applied yet count as differences)"
    );
    Ok(())
}

/// Replays the aggregates `selection` picks through read model `name` only (no process
/// manager or notifier sees it); at least one filter is required, so a typo cannot replay
/// everything by accident (`projections rebuild` is for that).
pub async fn replay(
    store: &StoreConfig,
    name: &str,
    selection: &eats_projections::replay::Selection,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        selection.aggregate_id.is_some()
            || selection.aggregate_type.is_some()
            || selection.since.is_some()
            || selection.until.is_some(),
        "say what to replay: --aggregate, --type, --since or --until"
    );
    let db = store.open().await.context("opening the event store")?;
    let models = eats_projections::read_models(&db);
    let model = find(&models, name)?;
    let started = std::time::Instant::now();
    let progress = Stderr::default();
    let report = model.replay(selection, &progress).await;
    progress.finish();
    let report = report.with_context(|| format!("replaying into {name}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut line = serde_json::to_value(&report)?;
        line["seconds"] = seconds.into();
        writeln!(out, "{line}")?;
    } else {
        let mut table = Table::new(["read model", "aggregates", "events applied", "seconds"]);
        table.row([
            report.read_model.clone(),
            report.aggregates.to_string(),
            report.events.to_string(),
            format!("{seconds:.2}"),
        ]);
        write!(out, "{}", table.render())?;
    }
    Ok(())
}
