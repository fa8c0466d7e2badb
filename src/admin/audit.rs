//! `eats audit order|aggregate|verify`: an order's whole story from the event store (see
//! [`eats_projections::story`]) as a table and a causation tree, one aggregate's events, and
//! a check of the events against the aggregates and the read models.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use cqrs_es::EventStore;
use eats_domain::delivery::Delivery;
use eats_domain::order::Order;
use eats_domain::payment::Payment;
use eats_domain::{DeliveryId, OrderId, PaymentId, Versioned};
use eats_feed::FeedEvent;
use eats_store::{on_pool, Database};
use serde_json::json;

use eats_projections::story::{apply, story, story_events, words, Entry};

use super::table::Table;
use crate::config::StoreConfig;

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn label(entry: &Entry) -> String {
    format!(
        "{}#{} {}",
        entry.event.aggregate_type, entry.event.sequence, entry.event.event_type
    )
}

/// The causation tree: each command's events, and under each event what it caused.
fn tree(entries: &[Entry]) -> String {
    let mut children: HashMap<usize, Vec<&Entry>> = HashMap::new();
    let mut commands: Vec<(String, Vec<&Entry>)> = Vec::new();
    for entry in entries {
        match entry.caused_by {
            Some(parent) => children.entry(parent).or_default().push(entry),
            None => {
                let command = entry.causation_id.clone().unwrap_or_default();
                match commands.iter_mut().find(|(c, _)| *c == command) {
                    Some((_, events)) => events.push(entry),
                    None => commands.push((command, vec![entry])),
                }
            }
        }
    }
    fn walk(
        out: &mut String,
        entry: &Entry,
        prefix: &str,
        last: bool,
        children: &HashMap<usize, Vec<&Entry>>,
    ) {
        let at = entry
            .occurred_at
            .map(|t| t.format("%H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "{prefix}{} #{} {} by {} at {at} -> {}\n",
            if last { "└─" } else { "├─" },
            entry.n,
            label(entry),
            entry.actor.as_deref().unwrap_or("?"),
            entry.state.describe()
        ));
        let inner = format!("{prefix}{}", if last { "   " } else { "│  " });
        let kids = children.get(&entry.n).map(Vec::as_slice).unwrap_or(&[]);
        let total = kids.len() + entry.notifications.len();
        for (i, m) in entry.notifications.iter().enumerate() {
            out.push_str(&format!(
                "{inner}{} message {} to {} by {}: {}{}\n",
                if i + 1 == total { "└─" } else { "├─" },
                m.template,
                m.recipient,
                m.channel,
                m.state,
                m.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        for (i, kid) in kids.iter().enumerate() {
            walk(out, kid, &inner, i + 1 == kids.len(), children);
        }
    }
    let mut out = String::new();
    for (command, events) in &commands {
        out.push_str(&format!("command {}\n", short(command)));
        for (i, entry) in events.iter().enumerate() {
            walk(&mut out, entry, "", i + 1 == events.len(), &children);
        }
    }
    out
}

/// Prints the story of `order`: a table in commit order and the causation tree, or one JSON
/// line per event with `json`.
pub async fn order(
    store: &StoreConfig,
    order: &str,
    as_of: Option<DateTime<Utc>>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let order_id: OrderId = order
        .parse()
        .with_context(|| format!("`{order}` is not an order id"))?;
    let db = store.open().await.context("opening the event store")?;
    let entries = story(&db, &order_id.to_string(), as_of).await?;
    anyhow::ensure!(
        !entries.is_empty() || as_of.is_some(),
        "no events for order {order_id}"
    );
    if json {
        for entry in &entries {
            writeln!(out, "{}", serde_json::to_string(entry)?)?;
        }
        return Ok(entries.len());
    }
    let messages: usize = entries.iter().map(|e| e.notifications.len()).sum();
    writeln!(
        out,
        "order {order_id}: {} events, {messages} messages{}",
        entries.len(),
        as_of
            .map(|t| format!(", as of {}", t.to_rfc3339()))
            .unwrap_or_default()
    )?;
    let mut table = Table::new([
        "#",
        "occurred at",
        "event",
        "actor",
        "caused by",
        "state after",
    ]);
    for entry in &entries {
        table.row([
            entry.n.to_string(),
            entry
                .occurred_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_default(),
            label(entry),
            entry.actor.clone().unwrap_or_default(),
            match entry.caused_by {
                Some(n) => format!("#{n}"),
                None => format!(
                    "command {}",
                    short(entry.causation_id.as_deref().unwrap_or(""))
                ),
            },
            entry.state.describe(),
        ]);
    }
    write!(out, "{}", table.render())?;
    writeln!(out, "\ncausation:")?;
    write!(out, "{}", tree(&entries))?;
    if let Some(last) = entries.last() {
        writeln!(out, "\nstate: {}", last.state.describe())?;
    }
    Ok(entries.len())
}

/// Writes one aggregate's stored events (as stored, not upcast): JSON lines with `json`,
/// else a table.
pub async fn aggregate(
    store: &StoreConfig,
    aggregate_type: &str,
    aggregate_id: &str,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        super::AGGREGATE_TYPES.contains(&aggregate_type),
        "unknown aggregate type `{aggregate_type}`; one of {:?}",
        super::AGGREGATE_TYPES
    );
    let db = store.open().await.context("opening the event store")?;
    let events = db
        .history(aggregate_type, aggregate_id)
        .await
        .context("reading the event history")?
        .into_iter()
        .map(FeedEvent::from_serialized)
        .collect::<Result<Vec<_>, _>>()?;
    let meta = |e: &FeedEvent, key: &str| e.metadata.get(key).cloned();
    use eats_domain::metadata::keys;
    let mut table = Table::new([
        "seq",
        "occurred at",
        "event",
        "version",
        "actor",
        "causation",
    ]);
    for event in &events {
        if json {
            let line = json!({
                "sequence": event.sequence,
                "event_type": event.event_type,
                "event_version": event.event_version,
                "occurred_at": meta(event, keys::OCCURRED_AT),
                "actor": meta(event, keys::ACTOR),
                "correlation_id": meta(event, keys::CORRELATION_ID),
                "causation_id": meta(event, keys::CAUSATION_ID),
                "payload": event.payload,
            });
            writeln!(out, "{line}")?;
        } else {
            table.row([
                event.sequence.to_string(),
                meta(event, keys::OCCURRED_AT).unwrap_or_default(),
                event.event_type.clone(),
                event.event_version.clone(),
                meta(event, keys::ACTOR).unwrap_or_default(),
                meta(event, keys::CAUSATION_ID)
                    .map(|c| short(&c).to_string())
                    .unwrap_or_default(),
            ]);
        }
    }
    if !json {
        write!(out, "{}", table.render())?;
    }
    Ok(events.len())
}

async fn check<A: Versioned>(
    db: &Database,
    id: &str,
    checks: &mut Vec<(String, bool, String)>,
) -> anyhow::Result<Option<A>> {
    let history = db.history(A::TYPE, id).await?;
    if history.is_empty() {
        return Ok(None);
    }
    let mut folded: Option<A> = None;
    for stored in history {
        apply(&mut folded, &FeedEvent::from_serialized(stored)?)?;
    }
    let loaded = db
        .event_store::<A>()
        .load_aggregate(id)
        .await
        .map_err(|e| anyhow::anyhow!("loading {} {id}: {e}", A::TYPE))?
        .aggregate;
    let same = serde_json::to_value(&loaded)? == serde_json::to_value(&folded)?;
    checks.push((
        format!("{} {} replayed = current state", A::TYPE, short(id)),
        same,
        if same {
            String::new()
        } else {
            "the stored events fold into another state than the store loads (snapshot?)".to_string()
        },
    ));
    Ok(folded)
}

/// Replays the order's stored events through each aggregate and compares the result with
/// the state the event store loads (snapshots included) and with the read models' rows;
/// prints one line per check and fails if any disagrees.
pub async fn verify(store: &StoreConfig, order: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let order_id: OrderId = order
        .parse()
        .with_context(|| format!("`{order}` is not an order id"))?;
    let id = order_id.to_string();
    let db = store.open().await.context("opening the event store")?;
    let mut checks = Vec::new();
    let Some(folded) = check::<Order>(&db, &id, &mut checks).await? else {
        anyhow::bail!("no events for order {id}");
    };
    let payment = check::<Payment>(
        &db,
        &PaymentId::for_order(order_id).to_string(),
        &mut checks,
    )
    .await?;
    let delivery_id = DeliveryId::for_order(order_id).to_string();
    let delivery = check::<Delivery>(&db, &delivery_id, &mut checks).await?;

    let view = eats_projections::order_view::fetch(&db, &id).await?;
    let (ok, why) = match &view {
        None => (false, "no order_view row".to_string()),
        Some(v) if v.status != folded.status().to_string() => (
            false,
            format!("view says {}, events say {}", v.status, folded.status()),
        ),
        Some(v) if Some(eats_domain::Won(v.total)) != folded.total() => (
            false,
            format!("view total {} != {:?}", v.total, folded.total()),
        ),
        Some(v) => {
            let expected = payment.as_ref().map(|p| words(p.status()));
            let expected = expected.filter(|w| w != "not_started");
            if v.payment_status.as_deref() == expected.as_deref()
                || (v.payment_status.as_deref() == Some("refund_failed")
                    && expected.as_deref() == Some("approved"))
            {
                (true, String::new())
            } else {
                (
                    false,
                    format!("payment {:?} != {expected:?}", v.payment_status),
                )
            }
        }
    };
    checks.push(("order_view row".to_string(), ok, why));
    let queued = eats_projections::store_queue::fetch(&db, &id).await?;
    let (ok, why) = match (&queued, folded.was_paid()) {
        (Some(q), true) if q.status == folded.status().to_string() => (true, String::new()),
        (None, false) => (true, String::new()),
        (q, _) => (false, format!("{q:?} for {}", folded.status())),
    };
    checks.push(("store_queue row".to_string(), ok, why));
    if let Some(delivery) = &delivery {
        let status: Option<String> = on_pool!(db, |pool| {
            sqlx::query_scalar("SELECT status FROM delivery_board WHERE delivery_id = $1")
                .bind(&delivery_id)
                .fetch_optional(pool)
                .await
        })?;
        let expected = words(delivery.status());
        let ok = status.as_deref() == Some(expected.as_str());
        checks.push((
            "delivery_board row".to_string(),
            ok,
            if ok {
                String::new()
            } else {
                format!("{status:?} != {expected}")
            },
        ));
    }
    let story = story_events(&db, &id).await?.len();
    let timeline = eats_projections::audit::timeline(&db, &id).await?.len();
    checks.push((
        "audit_timeline rows".to_string(),
        story == timeline,
        if story == timeline {
            String::new()
        } else {
            format!("{timeline} rows for {story} events")
        },
    ));
    let mut table = Table::new(["check", "result", "detail"]);
    for (what, ok, why) in &checks {
        table.row([
            what.clone(),
            if *ok { "ok" } else { "MISMATCH" }.to_string(),
            why.clone(),
        ]);
    }
    write!(out, "{}", table.render())?;
    let failed = checks.iter().filter(|(_, ok, _)| !ok).count();
    anyhow::ensure!(failed == 0, "{failed} of {} checks failed", checks.len());
    Ok(())
}
