//! Durable deadlines: what happens when nobody acts in time.
//!
//! | deadline | set when | cleared when | fires |
//! |---|---|---|---|
//! | `payment_due` | order placed | paid or cancelled | cancel the order |
//! | `store_response_due` | order paid | accepted, rejected or cancelled | reject it (refund follows) |
//! | `claim_due` | job opened or radius widened | rider assigned or job cancelled | widen the radius; at the widest, escalate |
//!
//! Deadlines live in the `deadlines` table, so they survive restarts; firing one that no
//! longer applies (the order was paid meanwhile) is refused by the aggregate and ignored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eats_domain::delivery::{Delivery, DeliveryEvent};
use eats_domain::order::{Order, OrderEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::{on_pool, Backend, Database};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// How long each party has.
#[derive(Clone, Debug)]
pub struct DeadlineSettings {
    /// From placing to paying.
    pub payment: Duration,
    /// From paid to the store accepting or rejecting.
    pub store_response: Duration,
    /// From a job opening (or widening) to a rider claiming it.
    pub claim: Duration,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self {
            payment: Duration::from_secs(15 * 60),
            store_response: Duration::from_secs(10 * 60),
            claim: Duration::from_secs(3 * 60),
        }
    }
}

/// The kinds of deadline.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// The customer must pay.
    PaymentDue,
    /// The store must accept or reject.
    StoreResponseDue,
    /// A rider must claim.
    ClaimDue,
}

/// Extra facts a deadline needs when it fires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// For `claim_due`: the radius the job is open in now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<u32>,
}

/// A change to the deadline table that an event calls for.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Set (or move) a deadline.
    Schedule {
        /// Which.
        kind: Kind,
        /// The order or delivery it is about.
        aggregate_id: String,
        /// When it fires.
        due_at: DateTime<Utc>,
        /// What it needs then.
        payload: Payload,
    },
    /// Clear it.
    Clear {
        /// Which.
        kind: Kind,
        /// The order or delivery.
        aggregate_id: String,
    },
}

/// The deadline changes `event` calls for.
pub fn changes(event: &FeedEvent, settings: &DeadlineSettings) -> Result<Vec<Change>, DecodeError> {
    let at = event.occurred_at().unwrap_or_else(Utc::now);
    let after = |d: Duration| at + chrono::Duration::from_std(d).unwrap_or_default();
    let id = event.aggregate_id.clone();
    let clear = |kind| Change::Clear {
        kind,
        aggregate_id: id.clone(),
    };
    let schedule = |kind, due_at, payload| Change::Schedule {
        kind,
        aggregate_id: id.clone(),
        due_at,
        payload,
    };
    Ok(match event.aggregate_type.as_str() {
        "Order" => match event.decode::<Order>()? {
            OrderEvent::OrderPlaced(_) => vec![schedule(
                Kind::PaymentDue,
                after(settings.payment),
                Payload::default(),
            )],
            OrderEvent::OrderPaid(_) => vec![
                clear(Kind::PaymentDue),
                schedule(
                    Kind::StoreResponseDue,
                    after(settings.store_response),
                    Payload::default(),
                ),
            ],
            OrderEvent::OrderAccepted(_) | OrderEvent::OrderRejected(_) => {
                vec![clear(Kind::StoreResponseDue)]
            }
            OrderEvent::OrderCancelled(_) => {
                vec![clear(Kind::PaymentDue), clear(Kind::StoreResponseDue)]
            }
            _ => vec![],
        },
        "Delivery" => match event.decode::<Delivery>()? {
            DeliveryEvent::DeliveryRequested(e) => vec![schedule(
                Kind::ClaimDue,
                after(settings.claim),
                Payload {
                    radius_m: Some(e.radius_m),
                },
            )],
            DeliveryEvent::SearchRadiusWidened(e) => vec![schedule(
                Kind::ClaimDue,
                after(settings.claim),
                Payload {
                    radius_m: Some(e.radius_m),
                },
            )],
            DeliveryEvent::RiderAssigned(_) | DeliveryEvent::DeliveryCancelled(_) => {
                vec![clear(Kind::ClaimDue)]
            }
            _ => vec![],
        },
        _ => vec![],
    })
}

/// A deadline as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Deadline {
    /// Which.
    pub kind: Kind,
    /// The order or delivery.
    pub aggregate_id: String,
    /// When it fires.
    pub due_at: DateTime<Utc>,
    /// What it needs.
    pub payload: Payload,
}

/// Applies `changes` to the deadline table. Not in one transaction: a crash between two
/// leaves the event unacknowledged, and handling it again applies both.
///
/// Deadlines follow from the events alone ([`changes`]), so they are state derived from the
/// events and written as such ([`Database::for_derived_state`]: on SQLite without an fsync
/// of their own). A power cut that loses these writes loses the process manager's later
/// checkpoint with them (it is in the same file, whose log loses only its newest commits,
/// and it moves past an event only once this has returned), so the events are handled
/// again and the changes applied again. Each change had been a commit with an fsync
/// of its own: in embedded mode at 64 clients, 440 a second held the one SQLite writer half
/// as long as every command.
pub async fn apply(db: &Database, changes: &[Change]) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let db = db.for_derived_state();
    let _turn = db.write_turn("deadlines").await;
    for change in changes {
        match change {
            Change::Schedule {
                kind,
                aggregate_id,
                due_at,
                payload,
            } => {
                let payload =
                    serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                on_pool!(db, |pool| {
                    sqlx::query(
                        "INSERT INTO deadlines (kind, aggregate_id, due_at, payload) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (kind, aggregate_id) DO UPDATE SET due_at = excluded.due_at, \
                         payload = excluded.payload, claimed_by = NULL, lease_until = NULL",
                    )
                    .bind(kind.to_string())
                    .bind(aggregate_id)
                    .bind(due_at)
                    .bind(payload)
                    .execute(pool)
                    .await
                    .map(drop)
                })?;
            }
            Change::Clear { kind, aggregate_id } => {
                on_pool!(db, |pool| {
                    sqlx::query("DELETE FROM deadlines WHERE kind = $1 AND aggregate_id = $2")
                        .bind(kind.to_string())
                        .bind(aggregate_id)
                        .execute(pool)
                        .await
                        .map(drop)
                })?;
            }
        }
    }
    Ok(())
}

/// A replica's hold on the deadlines it claimed: until `now + duration` no other replica
/// fires them, and after it (the holder died or hung) any replica may claim them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (one id per runner).
    pub holder: String,
    /// How long a claim lasts; longer than firing one batch takes.
    pub duration: Duration,
}

impl Lease {
    /// A lease for `holder` lasting `duration`.
    pub fn new(holder: impl Into<String>, duration: Duration) -> Self {
        Self {
            holder: holder.into(),
            duration,
        }
    }
}

/// Claims up to `limit` deadlines due at `now` that nobody holds (or whose lease ran out),
/// oldest first, so that two replicas never fire the same one while a lease lasts.
/// Postgres skips rows another replica is claiming at the same instant; SQLite serialises
/// writers, so the single statement is atomic there.
pub async fn claim_due(
    db: &Database,
    lease: &Lease,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Deadline>, sqlx::Error> {
    const POSTGRES: &str = "UPDATE deadlines SET claimed_by = $1, lease_until = $2 \
         WHERE (kind, aggregate_id) IN (SELECT kind, aggregate_id FROM deadlines \
         WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
         ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING kind, aggregate_id, due_at, payload";
    const SQLITE: &str = "UPDATE deadlines SET claimed_by = $1, lease_until = $2 \
         WHERE (kind, aggregate_id) IN (SELECT kind, aggregate_id FROM deadlines \
         WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
         ORDER BY due_at LIMIT $4) \
         RETURNING kind, aggregate_id, due_at, payload";
    let until = now + chrono::Duration::from_std(lease.duration).unwrap_or(chrono::Duration::MAX);
    // One body for both pools (their row types differ), as `on_pool!` does.
    macro_rules! claim {
        ($sql:expr, $pool:expr) => {
            sqlx::query($sql)
                .bind(&lease.holder)
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all($pool)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get("kind")?,
                        row.try_get("aggregate_id")?,
                        row.try_get("due_at")?,
                        row.try_get("payload")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        };
    }
    let rows: Vec<(String, String, DateTime<Utc>, String)> = match db.backend() {
        Backend::Postgres(pool) => claim!(POSTGRES, pool),
        Backend::Sqlite(pool) => claim!(SQLITE, pool),
    };
    // A row this build cannot read (a kind from a newer version, a mangled payload) is
    // reported and left claimed, so it neither blocks the others nor fires half-read.
    let mut claimed: Vec<Deadline> = rows
        .into_iter()
        .filter_map(|(kind, aggregate_id, due_at, payload)| {
            let parsed = kind
                .parse()
                .map_err(|e: strum::ParseError| e.to_string())
                .and_then(|kind| {
                    serde_json::from_str(&payload)
                        .map(|payload| (kind, payload))
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok((kind, payload)) => Some(Deadline {
                    kind,
                    aggregate_id,
                    due_at,
                    payload,
                }),
                Err(error) => {
                    tracing::error!(%kind, %aggregate_id, %error, "unreadable deadline skipped");
                    None
                }
            }
        })
        .collect();
    // RETURNING does not keep the subquery's order.
    claimed.sort_by_key(|d| d.due_at);
    Ok(claimed)
}

/// Gives back a claim whose firing failed for a passing reason, so the next tick (of any
/// replica) tries again instead of waiting for the lease to run out.
pub async fn release(db: &Database, lease: &Lease, deadline: &Deadline) -> Result<(), sqlx::Error> {
    on_pool!(db, |pool| {
        sqlx::query(
            "UPDATE deadlines SET claimed_by = NULL, lease_until = NULL \
             WHERE kind = $1 AND aggregate_id = $2 AND claimed_by = $3",
        )
        .bind(deadline.kind.to_string())
        .bind(&deadline.aggregate_id)
        .bind(&lease.holder)
        .execute(pool)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// Removes a deadline that fired, unless it was moved meanwhile.
pub async fn remove_fired(db: &Database, deadline: &Deadline) -> Result<(), sqlx::Error> {
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM deadlines WHERE kind = $1 AND aggregate_id = $2 AND due_at = $3")
            .bind(deadline.kind.to_string())
            .bind(&deadline.aggregate_id)
            .bind(deadline.due_at)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}
