//! An order's whole story from the event store: every event whose correlation id is the
//! order (its own, its payment's, its delivery's, the customer's effects) in commit order
//! (SQLite: the log's rowid; Postgres, which has no global position: the time each command
//! was handled, then the aggregate's sequence), what caused each (a command, or an earlier
//! event whose id a process manager recorded as the causation, see
//! [`FeedEvent::event_id`]), the state of the order's aggregates after each, and the
//! notification records about it. Read from the events, not from a read model, so it holds
//! even when the views are wrong.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eats_domain::customer::Customer;
use eats_domain::delivery::Delivery;
use eats_domain::order::Order;
use eats_domain::payment::Payment;
use eats_domain::Versioned;
use eats_feed::{DecodeError, FeedEvent};
use eats_store::{on_pool, Backend, Database};
use serde::Serialize;
use serde_json::Value;

/// Why the story could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    /// A query failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Reading an aggregate's history failed.
    #[error("event store: {0}")]
    Store(#[from] eats_store::StoreError),
    /// A stored event does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

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
    /// `order=paid payment=approved ...`, for people.
    pub fn describe(&self) -> String {
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

/// A status as its wire word (`approved`, `picked_up`).
pub fn words(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// The order's events in commit order (see the module).
pub async fn story_events(db: &Database, order: &str) -> Result<Vec<FeedEvent>, StoryError> {
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
    })?;
    Ok(events)
}

async fn notifications(db: &Database, order: &str) -> Result<Vec<Notification>, StoryError> {
    // The notifier's records live in their own file on SQLite.
    let db = db.for_notifications();
    let rows = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, event_key, recipient, channel, template, state, reason, attempts \
             FROM notifications WHERE order_id = $1 ORDER BY occurred_at, id",
        )
        .bind(order)
        .fetch_all(pool)
        .await
    })?;
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

/// Applies `event` to the aggregate in `slot` (a default one when empty).
pub fn apply<A: Versioned>(slot: &mut Option<A>, event: &FeedEvent) -> Result<(), StoryError> {
    let decoded = event.decode::<A>()?;
    slot.get_or_insert_with(A::default).apply(decoded);
    Ok(())
}

impl Fold {
    async fn step(&mut self, db: &Database, event: &FeedEvent) -> Result<(), StoryError> {
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
) -> Result<Vec<Entry>, StoryError> {
    let events = story_events(db, order).await?;
    let mut messages = notifications(db, order).await?;
    let ids: HashMap<String, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event_id().to_string(), i + 1))
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
            event_id: event.event_id().to_string(),
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
