//! `eats audit order|aggregate|verify`: an order's whole story from the event store, across
//! its aggregates, with who, when, what caused each event and the state after it.
//!
//! The story is every event whose correlation id is the order (its own, its payment's, its
//! delivery's, the customer's effects), in commit order (SQLite: the log's rowid; Postgres,
//! which has no global position: the time each command was handled, then the aggregate's
//! sequence), and the notification records about the order. An event was caused either by
//! a command (a request, a deadline) or by an earlier event (a process manager's follow-up,
//! whose causation id is that event's id, see [`eats_saga::runner::event_id`]).

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, EventStore};
use eats_domain::customer::Customer;
use eats_domain::delivery::Delivery;
use eats_domain::order::Order;
use eats_domain::payment::Payment;
use eats_domain::{DeliveryId, OrderId, PaymentId, Versioned};
use eats_feed::FeedEvent;
use eats_store::{on_pool, Backend, Database};
use serde::Serialize;
use serde_json::{json, Value};

use super::table::Table;
use crate::config::StoreConfig;

/// One notification record about the order.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Notification {
    /// The record's id.
    pub id: String,
    /// The event it is about.
    pub event_key: String,
    /// Who it is for.
    pub recipient: String,
    /// KakaoTalk, SMS, ...
    pub channel: String,
    /// Which message.
    pub template: String,
    /// queued, sending, sent, failed, shed, skipped.
    pub state: String,
    /// Why it was shed, skipped or failed.
    pub reason: Option<String>,
    /// Provider calls so far.
    pub attempts: i64,
}

/// The state of the order's aggregates after one event.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct State {
    /// The order's status.
    pub order: Option<String>,
    /// The payment's.
    pub payment: Option<String>,
    /// The delivery job's.
    pub delivery: Option<String>,
    /// The customer's grade and completed orders, once the order has counted.
    pub customer: Option<String>,
}

impl State {
    fn describe(&self) -> String {
        [
            ("order", &self.order),
            ("payment", &self.payment),
            ("delivery", &self.delivery),
            ("customer", &self.customer),
        ]
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// One event of the story.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Its place in the story, from 1.
    pub n: usize,
    /// `<aggregate>-<id>-<sequence>`.
    pub key: String,
    /// The stable event id process managers name as their causation.
    pub event_id: String,
    /// The event as stored.
    pub event: FeedEvent,
    /// Who.
    pub actor: Option<String>,
    /// When.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The causing command or event id.
    pub causation_id: Option<String>,
    /// The story's entry (`n`) of the causing event, when an event caused it.
    pub caused_by: Option<usize>,
    /// State after it.
    pub state: State,
    /// Messages recorded about it.
    pub notifications: Vec<Notification>,
}

fn words(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

async fn story_events(db: &Database, order: &str) -> anyhow::Result<Vec<FeedEvent>> {
    const COLUMNS: &str =
        "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";
    let sql = match db.backend() {
        Backend::Postgres(_) => format!(
            "SELECT {COLUMNS} FROM events WHERE metadata ->> 'correlation_id' = $1 \
             ORDER BY metadata ->> 'occurred_at', aggregate_type, sequence"
        ),
        Backend::Sqlite(_) => format!(
            "SELECT {COLUMNS} FROM events WHERE json_extract(metadata, '$.correlation_id') = $1 \
             ORDER BY rowid"
        ),
    };
    let events = on_pool!(db, |pool| {
        sqlx::query(&sql)
            .bind(order)
            .fetch_all(pool)
            .await?
            .iter()
            .map(<FeedEvent as sqlx::FromRow<_>>::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()
    })
    .context("reading the order's events")?;
    Ok(events)
}

async fn notifications(db: &Database, order: &str) -> anyhow::Result<Vec<Notification>> {
    let rows = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, event_key, recipient, channel, template, state, reason, attempts \
             FROM notifications WHERE order_id = $1 ORDER BY occurred_at, id",
        )
        .bind(order)
        .fetch_all(pool)
        .await
    })
    .context("reading the order's notifications")?;
    Ok(rows)
}

/// Folds the story's events into the aggregates' states, one snapshot per event.
struct Fold {
    order: Option<Order>,
    payment: Option<Payment>,
    delivery: Option<Delivery>,
    customers: HashMap<String, Vec<FeedEvent>>,
    state: State,
}

fn apply<A: Versioned>(slot: &mut Option<A>, event: &FeedEvent) -> anyhow::Result<()> {
    let decoded = event
        .decode::<A>()
        .with_context(|| format!("decoding {}", event.key()))?;
    slot.get_or_insert_with(A::default).apply(decoded);
    Ok(())
}

impl Fold {
    async fn step(&mut self, db: &Database, event: &FeedEvent) -> anyhow::Result<()> {
        match event.aggregate_type.as_str() {
            Order::TYPE => {
                apply(&mut self.order, event)?;
                self.state.order = self.order.as_ref().map(|o| o.status().to_string());
            }
            Payment::TYPE => {
                apply(&mut self.payment, event)?;
                self.state.payment = self.payment.as_ref().map(|p| words(p.status()));
            }
            Delivery::TYPE => {
                apply(&mut self.delivery, event)?;
                self.state.delivery = self.delivery.as_ref().map(|d| words(d.status()));
            }
            Customer::TYPE => {
                // The customer's history began long before this order: fold all of it up to here.
                if !self.customers.contains_key(&event.aggregate_id) {
                    let history = db
                        .history(Customer::TYPE, &event.aggregate_id)
                        .await?
                        .into_iter()
                        .map(FeedEvent::from_serialized)
                        .collect::<Result<Vec<_>, _>>()?;
                    self.customers.insert(event.aggregate_id.clone(), history);
                }
                let mut customer = None;
                for earlier in &self.customers[&event.aggregate_id] {
                    if earlier.sequence > event.sequence {
                        break;
                    }
                    apply::<Customer>(&mut customer, earlier)?;
                }
                self.state.customer = customer
                    .map(|c| format!("{} after {} orders", c.grade(), c.completed_orders()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The story of `order`, up to `as_of` when given.
pub async fn story(
    db: &Database,
    order: &str,
    as_of: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<Entry>> {
    let events = story_events(db, order).await?;
    let mut messages = notifications(db, order).await?;
    let ids: HashMap<String, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (eats_saga::runner::event_id(e).to_string(), i + 1))
        .collect();
    let mut fold = Fold {
        order: None,
        payment: None,
        delivery: None,
        customers: HashMap::new(),
        state: State::default(),
    };
    let mut entries = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let occurred_at = event.occurred_at();
        if let (Some(as_of), Some(at)) = (as_of, occurred_at) {
            if at > as_of {
                break;
            }
        }
        fold.step(db, &event).await?;
        let causation_id = event
            .metadata
            .get(eats_domain::metadata::keys::CAUSATION_ID)
            .cloned();
        let key = event.key();
        let (mine, rest): (Vec<_>, Vec<_>) = messages.into_iter().partition(|m| m.event_key == key);
        messages = rest;
        entries.push(Entry {
            n: i + 1,
            event_id: eats_saga::runner::event_id(&event).to_string(),
            key,
            actor: event.actor().map(str::to_string),
            occurred_at,
            caused_by: causation_id.as_ref().and_then(|c| ids.get(c).copied()),
            causation_id,
            state: fold.state.clone(),
            notifications: mine,
            event,
        });
    }
    Ok(entries)
}

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
