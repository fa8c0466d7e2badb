//! `eats dead-letters list|show|retry|discard`: the process managers' parked messages, with
//! the reason, the attempts and the event, and what an operator does about them.

use std::io::Write;

use anyhow::Context;
use eats_saga::dead_letters::{self, DeadLetter};

use super::table::Table;
use crate::config::{ServeConfig, StoreConfig};

fn outcome(letter: &DeadLetter) -> String {
    match (&letter.replayed_at, &letter.discarded_at) {
        (Some(at), _) => format!("retried {}", at.format("%Y-%m-%d %H:%M:%S")),
        (_, Some(at)) => format!("discarded {}", at.format("%Y-%m-%d %H:%M:%S")),
        _ => "parked".to_string(),
    }
}

/// The parked letters (all of them with `all`): a table, or JSON lines.
pub async fn list(
    store: &StoreConfig,
    all: bool,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let db = store.open().await.context("opening the event store")?;
    let letters = dead_letters::list(&db, all).await?;
    if json {
        for letter in &letters {
            writeln!(out, "{}", serde_json::to_string(letter)?)?;
        }
        return Ok(letters.len());
    }
    let mut table = Table::new([
        "id",
        "parked at",
        "consumer",
        "event",
        "attempts",
        "state",
        "reason",
    ]);
    for letter in &letters {
        let mut reason = letter.error.replace('\n', " ");
        if reason.chars().count() > 80 {
            reason = reason.chars().take(77).collect::<String>() + "...";
        }
        table.row([
            letter.id.to_string(),
            letter.failed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            letter.consumer.clone(),
            letter.event_key.clone(),
            letter.attempts.to_string(),
            outcome(letter),
            reason,
        ]);
    }
    write!(out, "{}", table.render())?;
    Ok(letters.len())
}

/// One letter in full: the reason, the attempts and the event.
pub async fn show(
    store: &StoreConfig,
    id: i64,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let letter = dead_letters::get(&db, id).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&letter)?)?;
        return Ok(());
    }
    let mut table = Table::new(["field", "value"]);
    table
        .row(["id".to_string(), letter.id.to_string()])
        .row(["consumer".to_string(), letter.consumer.clone()])
        .row(["event".to_string(), letter.event_key.clone()])
        .row(["parked at".to_string(), letter.failed_at.to_rfc3339()])
        .row(["attempts".to_string(), letter.attempts.to_string()])
        .row(["state".to_string(), outcome(&letter)])
        .row(["reason".to_string(), letter.error.clone()]);
    if let Some(note) = &letter.note {
        table.row(["note".to_string(), note.clone()]);
    }
    write!(out, "{}", table.render())?;
    writeln!(out, "\n{}", serde_json::to_string_pretty(&letter.event)?)?;
    Ok(())
}

/// Runs letter `id` through the process manager again, once; it stays parked (with the new
/// error) if that fails.
pub async fn retry(config: &ServeConfig, id: i64, out: &mut impl Write) -> anyhow::Result<()> {
    let db = config
        .store
        .open()
        .await
        .context("opening the event store")?;
    let aggregates = config.aggregates(&db)?;
    let manager = eats_saga::ProcessManager::new(aggregates, db.clone(), config.saga.settings());
    let letter = dead_letters::replay(&db, id, &manager.strict())
        .await
        .with_context(|| format!("retrying dead letter {id}"))?;
    writeln!(
        out,
        "dead letter {id} ({}) retried: done after {} attempts",
        letter.event_key, letter.attempts
    )?;
    Ok(())
}

/// Gives up on letter `id` with `note`.
pub async fn discard(
    store: &StoreConfig,
    id: i64,
    note: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = store.open().await.context("opening the event store")?;
    let letter = dead_letters::discard(&db, id, note)
        .await
        .with_context(|| format!("discarding dead letter {id}"))?;
    writeln!(
        out,
        "dead letter {id} ({}) discarded: {note}",
        letter.event_key
    )?;
    Ok(())
}
