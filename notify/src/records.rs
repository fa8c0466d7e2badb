//! The `notifications` table: every message is a row before it is sent.
//!
//! A row is unique per event, recipient and channel, so recording the same event twice (a
//! redelivery, a restart, a second replica) adds nothing. Sending starts with a claim: queued
//! rows move to `sending` with a lease, taken with `FOR UPDATE SKIP LOCKED` on Postgres so two
//! replicas never hold one row (SQLite serialises writers and is one process). A lease that
//! runs out (the sender died mid-call) is claimed again and re-sent with the same idempotency
//! key. Times are milliseconds since the epoch on both backends.
//!
//! A sent message waits for its delivery result: [`awaiting_delivery`] claims the ones due for
//! another look (a lease too, so replicas do not ask twice at once) and [`record_delivery`]
//! writes the verdict, `delivered` or `undelivered`.
//!
//! Every function here works on [`Database::for_notifications`] of the database it is given
//! (the notifier's own file in embedded mode), so callers pass the one database they have;
//! state changes after recording go through [`Database::for_notification_updates`], which on
//! SQLite does not fsync each commit.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use eats_store::{on_pool, Backend, BeginSafely, Database};
use serde::Serialize;

use crate::provider::Outgoing;
use crate::template::Template;

/// The record's life: `queued` → `sending` → `sent` | `failed`, or `shed` / `skipped`.
pub mod state {
    /// Waiting to be sent (or re-sent after a transient failure).
    pub const QUEUED: &str = "queued";
    /// Claimed by a sender until its lease runs out.
    pub const SENDING: &str = "sending";
    /// The provider accepted it.
    pub const SENT: &str = "sent";
    /// The provider refused it, or it kept failing.
    pub const FAILED: &str = "failed";
    /// Dropped under load (superseded, stale, breaker open), counted.
    pub const SHED: &str = "shed";
    /// Never to be sent (no phone, the customer's choice).
    pub const SKIPPED: &str = "skipped";
}

/// A message to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRecord {
    /// The event it is about.
    pub event_key: String,
    /// The order it is about, if any.
    pub order_id: Option<String>,
    /// `customer:<uuid>` or `store_owner:<uuid>`.
    pub recipient: String,
    /// Domestic mobile number, when known.
    pub phone: Option<String>,
    /// The channel (from the provider).
    pub channel: String,
    /// What is said.
    pub template: Template,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
    /// When the event happened, ms.
    pub occurred_at: i64,
    /// Recorded as skipped with this reason instead of queued.
    pub skip: Option<String>,
    /// Whether the provider may fall back to SMS (false when the customer turned SMS off).
    pub sms_fallback: bool,
}

impl NewRecord {
    /// The record's id: stable for the same event, recipient and channel, so the id given to
    /// providers as an idempotency key is the same on every attempt and every replica.
    pub fn id(&self) -> String {
        const NAMESPACE: uuid::Uuid =
            uuid::Uuid::from_u128(0x6e0f_1c2a_7b3d_4e5f_8a9b_0c1d_2e3f_4a5b);
        let name = format!("{}|{}|{}", self.event_key, self.recipient, self.channel);
        uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
    }
}

/// A recorded message.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct Record {
    /// Its id (the idempotency key).
    pub id: String,
    /// The event it is about.
    pub event_key: String,
    /// The order it is about, if any.
    pub order_id: Option<String>,
    /// Who gets it.
    pub recipient: String,
    /// Their number, when known.
    pub phone: Option<String>,
    /// The channel.
    pub channel: String,
    /// The template code.
    pub template: String,
    /// The parameters as a JSON object.
    pub parameters: String,
    /// Whether it is critical.
    pub critical: bool,
    /// Its place in the lifecycle.
    pub rank: i64,
    /// See [`state`].
    pub state: String,
    /// Why it is in that state (for all but sent).
    pub reason: Option<String>,
    /// The provider that took it.
    pub provider: Option<String>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// Calls made to the provider.
    pub attempts: i64,
    /// When the event happened, ms.
    pub occurred_at: i64,
    /// When it was recorded, ms.
    pub created_at: i64,
    /// Not before this, ms.
    pub next_attempt_at: i64,
    /// When the provider accepted it, ms.
    pub sent_at: Option<i64>,
    /// The provider's final verdict (`delivered` / `undelivered`), once known.
    pub delivery: Option<String>,
    /// The recipient's sequence in the provider's request (NHN), for the result query.
    pub recipient_seq: Option<i64>,
    /// Whether the provider may fall back to SMS.
    pub sms_fallback: bool,
    /// Why it was undelivered, or how it was delivered when not the first way
    /// (`sms_fallback`), as the provider says it.
    pub delivery_reason: Option<String>,
    /// When the verdict was recorded, ms.
    pub delivered_at: Option<i64>,
}

/// The verdicts a sent message ends with.
pub mod delivery {
    /// The provider says it reached the recipient (or the provider is the destination).
    pub const DELIVERED: &str = "delivered";
    /// The provider says it did not, or gave no verdict before the give-up age.
    pub const UNDELIVERED: &str = "undelivered";
}

/// A record could not be read back as a message.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The database failed.
    #[error("notifications table: {0}")]
    Database(#[from] sqlx::Error),
    /// A row names a template this build does not know.
    #[error("record {id} names the unknown template {code}")]
    UnknownTemplate {
        /// The record.
        id: String,
        /// The code.
        code: String,
    },
    /// A row's parameters are not a JSON object of strings.
    #[error("record {id} has unreadable parameters: {source}")]
    Parameters {
        /// The record.
        id: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl Record {
    /// The message to hand to a provider.
    pub fn outgoing(&self) -> Result<Outgoing, RecordError> {
        let template =
            Template::by_code(&self.template).ok_or_else(|| RecordError::UnknownTemplate {
                id: self.id.clone(),
                code: self.template.clone(),
            })?;
        let parameters =
            serde_json::from_str(&self.parameters).map_err(|source| RecordError::Parameters {
                id: self.id.clone(),
                source,
            })?;
        Ok(Outgoing {
            id: self.id.clone(),
            event_key: self.event_key.clone(),
            recipient: self.recipient.clone(),
            phone: self.phone.clone(),
            channel: self.channel.clone(),
            order_id: self.order_id.clone(),
            template,
            parameters,
            sms_fallback: self.sms_fallback,
        })
    }

    /// What the provider answered when it accepted this message.
    pub fn accepted(&self) -> crate::provider::Accepted {
        crate::provider::Accepted {
            request_id: self.request_id.clone(),
            recipient_seq: self.recipient_seq,
        }
    }
}

const COLUMNS: &str = "id, event_key, order_id, recipient, phone, channel, template, parameters, \
    critical, rank, state, reason, provider, request_id, attempts, occurred_at, created_at, \
    next_attempt_at, sent_at, delivery, recipient_seq, sms_fallback, delivery_reason, delivered_at";

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// SQL: the `INSERT ... SELECT` of judged records (columns of [`NewRecord`], `late`, and
/// `created_at` as given), a late one as shed; a `FROM` clause follows.
fn insert_judged(created_at: &str) -> String {
    format!(
        "INSERT INTO notifications (id, event_key, order_id, recipient, phone, channel, \
         template, parameters, critical, rank, state, reason, attempts, occurred_at, \
         created_at, next_attempt_at, sms_fallback) \
         SELECT id, event_key, order_id, recipient, phone, channel, template, parameters, \
         critical, rank, \
         CASE WHEN late THEN 'shed' ELSE state END, \
         CASE WHEN late THEN 'superseded' ELSE reason END, \
         0, occurred_at, {created_at}, {created_at}, sms_fallback"
    )
}

/// What [`insert`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Records that were new.
    pub added: u64,
    /// Queued, non-critical messages recorded before that a new one overtook, shed as
    /// `superseded`.
    pub superseded: u64,
}

/// SQL: the message `newer` overtakes the message `older`: the same order, recipient and
/// channel, and a later event (or the same instant and a higher rank). One rule for every
/// place that sheds `superseded`.
fn overtakes(newer: &str, older: &str) -> String {
    format!(
        "{newer}.order_id = {older}.order_id AND {newer}.recipient = {older}.recipient \
         AND {newer}.channel = {older}.channel \
         AND ({newer}.occurred_at > {older}.occurred_at \
              OR ({newer}.occurred_at = {older}.occurred_at AND {newer}.rank > {older}.rank))"
    )
}

/// SQL: `message` may be shed as superseded (queued, not critical, about an order).
fn sheddable(message: &str) -> String {
    format!(
        "{message}.state = 'queued' AND NOT {message}.critical AND {message}.order_id IS NOT NULL"
    )
}

/// [`insert`] on Postgres, one statement for the batch.
///
/// `batch`: the records. `judged`: each marked late when another record of the
/// batch overtakes it (it ranks below first among its order, recipient and channel,
/// newest first) or a message already recorded does. `new`: those recorded, the
/// late ones as shed. `overtaken`: the queued messages already there that a new
/// one overtakes. Each lookup in the table is per record (a subquery, a lateral
/// join), so it probes an index whatever plan is cached for the statement: written
/// as a join, it was planned as a scan.
static INSERT_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH batch AS ( \
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bigint[], \
           $11::text[], $12::text[], $13::bigint[], $14::bool[], $15::int[]) \
           AS r(id, event_key, order_id, recipient, phone, channel, template, \
           parameters, critical, rank, state, reason, occurred_at, sms_fallback, \
           position)), \
         judged AS MATERIALIZED ( \
           SELECT b.*, ({sheddable_b} AND ( \
             rank() OVER (PARTITION BY b.order_id, b.recipient, b.channel \
               ORDER BY b.occurred_at DESC, b.rank DESC) > 1 \
             OR EXISTS (SELECT 1 FROM notifications n WHERE {n_overtakes_b}))) AS late \
           FROM batch b), \
         new AS ( \
           {insert} FROM judged ORDER BY position \
           ON CONFLICT (event_key, recipient, channel) DO NOTHING \
           RETURNING order_id, recipient, channel, occurred_at, rank, state), \
         overtaken AS ( \
           UPDATE notifications SET state = 'shed', reason = 'superseded' \
           WHERE id IN (SELECT found.id FROM new CROSS JOIN LATERAL ( \
             SELECT old.id FROM notifications old \
             WHERE {sheddable_old} AND {new_overtakes_old} \
             FOR UPDATE SKIP LOCKED) AS found) \
           RETURNING id) \
         SELECT (SELECT count(*) FROM new), \
           (SELECT count(*) FROM overtaken) \
           + (SELECT count(*) FROM new WHERE state = 'shed')",
        sheddable_b = sheddable("b"),
        n_overtakes_b = overtakes("n", "b"),
        insert = insert_judged("$16"),
        sheddable_old = sheddable("old"),
        new_overtakes_old = overtakes("new", "old"),
    )
});

/// [`insert`] on SQLite: one record, judged and recorded.
///
/// Each record is judged against the messages before it, those of this batch
/// included (inserted one by one in the same transaction), and sheds those it
/// overtakes: so nothing of a batch is left for the sweep.
static INSERT_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{insert} FROM ( \
           SELECT b.*, ({sheddable_b} AND EXISTS ( \
             SELECT 1 FROM notifications n WHERE {n_overtakes_b})) AS late \
           FROM (SELECT $1 AS id, $2 AS event_key, $3 AS order_id, $4 AS recipient, \
             $5 AS phone, $6 AS channel, $7 AS template, $8 AS parameters, \
             $9 AS critical, $10 AS rank, $11 AS state, $12 AS reason, \
             $13 AS occurred_at, $14 AS created_at, $15 AS sms_fallback) AS b) \
         WHERE true \
         ON CONFLICT (event_key, recipient, channel) DO NOTHING \
         RETURNING state = 'shed'",
        insert = insert_judged("created_at"),
        sheddable_b = sheddable("b"),
        n_overtakes_b = overtakes("n", "b"),
    )
});

/// [`insert`] on SQLite: the queued messages one new record overtakes, shed.
static OVERTAKEN_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE notifications AS old SET state = 'shed', reason = 'superseded' \
         FROM (SELECT $1 AS order_id, $2 AS recipient, $3 AS channel, \
         $4 AS occurred_at, $5 AS rank) AS new WHERE {sheddable_old} AND {new_overtakes_old}",
        sheddable_old = sheddable("old"),
        new_overtakes_old = overtakes("new", "old"),
    )
});

/// Records `records` (those already recorded are left as they are) and sheds the queued
/// messages they overtake, so the customer gets the freshest status rather than a backlog.
/// On Postgres in one statement (one round trip for a whole batch of events), on SQLite one
/// insert and one update each in one transaction (in process, no round trips).
///
/// A record is itself shed when a message already recorded, or another record of the batch,
/// overtakes it. Shedding here costs an index lookup per new record, where a sweep of the
/// queue costs one per queued message every dispatcher round: under a provider's rate limit
/// the queue holds thousands. What this cannot see, [`shed_superseded`] sweeps now and then:
/// two batches of one order recorded at once, each blind to the other. On Postgres, a
/// message another transaction holds (the dispatcher claiming or shedding it) is skipped
/// rather than waited for, so recording never waits on the dispatcher or deadlocks with it;
/// one being sent then is shed by [`finish`] if it comes back to the queue.
pub async fn insert(
    db: &Database,
    records: &[NewRecord],
    now: i64,
) -> Result<Inserted, sqlx::Error> {
    if records.is_empty() {
        return Ok(Inserted::default());
    }
    let db = &db.for_notifications();
    let parameters = |record: &NewRecord| {
        serde_json::to_string(&record.parameters).expect("a string map serializes")
    };
    let state = |record: &NewRecord| match record.skip {
        Some(_) => state::SKIPPED,
        None => state::QUEUED,
    };
    match db.backend() {
        Backend::Postgres(pool) => {
            let sql: &str = &INSERT_POSTGRES;
            let column = |f: &dyn Fn(&NewRecord) -> Option<String>| -> Vec<Option<String>> {
                records.iter().map(f).collect()
            };
            let (added, superseded): (i64, i64) = sqlx::query_as(sql)
                .bind(column(&|r| Some(r.id())))
                .bind(column(&|r| Some(r.event_key.clone())))
                .bind(column(&|r| r.order_id.clone()))
                .bind(column(&|r| Some(r.recipient.clone())))
                .bind(column(&|r| r.phone.clone()))
                .bind(column(&|r| Some(r.channel.clone())))
                .bind(column(&|r| Some(r.template.code.to_string())))
                .bind(column(&|r| Some(parameters(r))))
                .bind(
                    records
                        .iter()
                        .map(|r| r.template.critical)
                        .collect::<Vec<_>>(),
                )
                .bind(records.iter().map(|r| r.template.rank).collect::<Vec<_>>())
                .bind(column(&|r| Some(state(r).to_string())))
                .bind(column(&|r| r.skip.clone()))
                .bind(records.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
                .bind(records.iter().map(|r| r.sms_fallback).collect::<Vec<_>>())
                .bind((0..records.len() as i32).collect::<Vec<_>>())
                .bind(now)
                .fetch_one(pool)
                .await?;
            let count = |n: i64| u64::try_from(n).map_err(|e| sqlx::Error::Decode(Box::new(e)));
            Ok(Inserted {
                added: count(added)?,
                superseded: count(superseded)?,
            })
        }
        Backend::Sqlite(pool) => {
            let (sql, overtaken): (&str, &str) = (&INSERT_SQLITE, &OVERTAKEN_SQLITE);
            let mut tx = pool.begin_safely().await?;
            let mut inserted = Inserted::default();
            for record in records {
                let late: Option<bool> = sqlx::query_scalar(sql)
                    .bind(record.id())
                    .bind(&record.event_key)
                    .bind(&record.order_id)
                    .bind(&record.recipient)
                    .bind(&record.phone)
                    .bind(&record.channel)
                    .bind(record.template.code)
                    .bind(parameters(record))
                    .bind(record.template.critical)
                    .bind(record.template.rank)
                    .bind(state(record))
                    .bind(&record.skip)
                    .bind(record.occurred_at)
                    .bind(now)
                    .bind(record.sms_fallback)
                    .fetch_optional(&mut *tx)
                    .await?;
                // Recorded before: it was judged then.
                let Some(late) = late else {
                    continue;
                };
                inserted.added += 1;
                inserted.superseded += u64::from(late);
                inserted.superseded += sqlx::query(overtaken)
                    .bind(&record.order_id)
                    .bind(&record.recipient)
                    .bind(&record.channel)
                    .bind(record.occurred_at)
                    .bind(record.template.rank)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(inserted)
        }
    }
}

/// Sheds queued, non-critical messages of an order that a newer message to the same
/// recipient on the same channel has overtaken: the customer gets the freshest status, not a
/// backlog. Returns how many. Reads the whole queue: recording sheds most of these at once
/// ([`insert`]), and the dispatcher sweeps only now and then for the rest.
pub async fn shed_superseded(db: &Database) -> Result<u64, sqlx::Error> {
    let db = &db.for_notification_updates();
    let sql = format!(
        "UPDATE notifications SET state = 'shed', reason = 'superseded' \
         WHERE {sheddable} AND EXISTS ( \
           SELECT 1 FROM notifications newer WHERE {newer_overtakes})",
        sheddable = sheddable("notifications"),
        newer_overtakes = overtakes("newer", "notifications"),
    );
    on_pool!(db, |pool| Ok(sqlx::query(&sql)
        .execute(pool)
        .await?
        .rows_affected()))
}

/// Sheds queued messages whose event is older than their freshness deadline: `fresh_before`
/// for most, `money_fresh_before` for money and critical messages (which wait out a provider
/// outage, but a notifier started on an old log still says nothing about the past).
pub async fn shed_stale(
    db: &Database,
    fresh_before: i64,
    money_fresh_before: i64,
) -> Result<u64, sqlx::Error> {
    let db = &db.for_notification_updates();
    let money: Vec<&str> = crate::template::ALL
        .iter()
        .filter(|t| t.money)
        .map(|t| t.code)
        .collect();
    let list = money
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE notifications SET state = 'shed', reason = 'stale' \
         WHERE state = 'queued' AND \
         ((template IN ({list}) AND occurred_at < $2) OR (template NOT IN ({list}) AND occurred_at < $1))"
    );
    on_pool!(db, |pool| Ok(sqlx::query(&sql)
        .bind(fresh_before)
        .bind(money_fresh_before)
        .execute(pool)
        .await?
        .rows_affected()))
}

/// Claims up to `limit` due messages (queued and due, or sending with a lapsed lease) until
/// `now + lease_ms`, oldest event first. Only queued messages whose order has no older
/// message still queued or being sent are claimed, so each order's messages leave in order.
pub async fn claim(
    db: &Database,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let db = &db.for_notification_updates();
    let lock = match db.backend() {
        Backend::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE notifications SET state = 'sending', claimed_until = $2 WHERE id IN ( \
           SELECT id FROM notifications n WHERE \
             ((n.state = 'queued' AND n.next_attempt_at <= $1) OR (n.state = 'sending' AND n.claimed_until < $1)) \
             AND NOT EXISTS (SELECT 1 FROM notifications older WHERE older.order_id = n.order_id \
               AND older.recipient = n.recipient AND older.channel = n.channel AND older.id <> n.id \
               AND older.state IN ('queued', 'sending') \
               AND (older.occurred_at < n.occurred_at OR (older.occurred_at = n.occurred_at AND older.rank < n.rank))) \
           ORDER BY n.occurred_at, n.rank LIMIT $3 {lock}) \
         RETURNING {COLUMNS}"
    );
    let mut claimed: Vec<Record> = on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(now)
        .bind(now + lease_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    claimed.sort_by_key(|r| (r.occurred_at, r.rank));
    Ok(claimed)
}

/// How a claimed message ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the provider.
    Sent {
        /// The provider's request id and recipient sequence.
        accepted: crate::provider::Accepted,
        /// Set when the provider reported it already had the message.
        reason: Option<String>,
        /// When to ask for its delivery result, ms; `None` when acceptance is delivery
        /// (a provider without results: the log, a webhook).
        check_delivery_at: Option<i64>,
    },
    /// Refused or given up.
    Failed(String),
    /// Dropped under load.
    Shed(String),
    /// Back to the queue, due at the given time.
    Retry {
        /// When, ms.
        at: i64,
        /// Why.
        reason: String,
    },
}

/// [`finish`]'s statement. A message going back to the queue that a newer one overtook while
/// it was being sent is shed instead: recording sheds only what is queued, and the sweep
/// comes seldom.
static FINISH: LazyLock<String> = LazyLock::new(|| {
    let overtaken = format!(
        "$2 = 'queued' AND NOT critical AND order_id IS NOT NULL AND EXISTS ( \
           SELECT 1 FROM notifications newer WHERE {newer_overtakes})",
        newer_overtakes = overtakes("newer", "notifications"),
    );
    format!(
        "UPDATE notifications SET \
         state = CASE WHEN {overtaken} THEN 'shed' ELSE $2 END, \
         reason = CASE WHEN {overtaken} THEN 'superseded' ELSE $3 END, \
         provider = $4, request_id = $5, \
         attempts = attempts + $6, next_attempt_at = $7, sent_at = $8, claimed_until = NULL, \
         recipient_seq = $9, delivery_check_at = $10, delivery = $11, \
         delivered_at = CASE WHEN $11 IS NULL THEN NULL ELSE $8 END \
         WHERE id = $1 AND state = 'sending'"
    )
});

/// Ends a claim. `attempted` says whether the provider was called this time.
pub async fn finish(
    db: &Database,
    id: &str,
    provider: &str,
    outcome: &Outcome,
    attempted: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let db = &db.for_notification_updates();
    let mut request_id = None;
    let mut recipient_seq = None;
    let mut sent_at = None;
    let mut delivery_check_at = None;
    let mut delivered = None;
    let (state, reason, next) = match outcome {
        Outcome::Sent {
            accepted,
            reason,
            check_delivery_at,
        } => {
            request_id.clone_from(&accepted.request_id);
            recipient_seq = accepted.recipient_seq;
            sent_at = Some(now);
            match check_delivery_at {
                Some(at) => delivery_check_at = Some(*at),
                None => delivered = Some(delivery::DELIVERED),
            }
            (state::SENT, reason.clone(), now)
        }
        Outcome::Failed(reason) => (state::FAILED, Some(reason.clone()), now),
        Outcome::Shed(reason) => (state::SHED, Some(reason.clone()), now),
        Outcome::Retry { at, reason } => (state::QUEUED, Some(reason.clone()), *at),
    };
    on_pool!(db, |pool| sqlx::query(&FINISH)
        .bind(id)
        .bind(state)
        .bind(reason)
        .bind(provider)
        .bind(request_id)
        .bind(i64::from(attempted))
        .bind(next)
        .bind(sent_at)
        .bind(recipient_seq)
        .bind(delivery_check_at)
        .bind(delivered)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Claims up to `limit` sent messages without a verdict whose next look is due, oldest sent
/// first, by moving their next look to `now + lease_ms` (so another replica leaves them
/// alone meanwhile, and one whose asker died is asked again later).
pub async fn awaiting_delivery(
    db: &Database,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let db = &db.for_notification_updates();
    let lock = match db.backend() {
        Backend::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE notifications SET delivery_check_at = $2 WHERE id IN ( \
           SELECT id FROM notifications WHERE state = 'sent' AND delivery IS NULL \
             AND (delivery_check_at IS NULL OR delivery_check_at <= $1) \
           ORDER BY delivery_check_at LIMIT $3 {lock}) \
         RETURNING {COLUMNS}"
    );
    let mut due: Vec<Record> = on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(now)
        .bind(now + lease_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    due.sort_by_key(|r| r.sent_at);
    Ok(due)
}

/// Records the provider's verdict on a sent message (`delivery::DELIVERED` or
/// `delivery::UNDELIVERED`, with the provider's reason); a message that has one keeps it.
pub async fn record_delivery(
    db: &Database,
    id: &str,
    verdict: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let db = &db.for_notification_updates();
    let sql = "UPDATE notifications SET delivery = $2, delivery_reason = $3, delivered_at = $4, \
        delivery_check_at = NULL WHERE id = $1 AND state = 'sent' AND delivery IS NULL";
    on_pool!(db, |pool| Ok(sqlx::query(sql)
        .bind(id)
        .bind(verdict)
        .bind(reason)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        == 1))
}

/// Asks about a sent message again at `at` (no verdict yet, or the query failed).
pub async fn check_delivery_again(db: &Database, id: &str, at: i64) -> Result<(), sqlx::Error> {
    let db = &db.for_notification_updates();
    let sql = "UPDATE notifications SET delivery_check_at = $2 \
        WHERE id = $1 AND state = 'sent' AND delivery IS NULL";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Messages waiting to be sent.
pub async fn queue_depth(db: &Database) -> Result<i64, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = "SELECT count(*) FROM notifications WHERE state IN ('queued', 'sending')";
    on_pool!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
}

/// Every message about `order_id`, oldest first.
pub async fn for_order(db: &Database, order_id: &str) -> Result<Vec<Record>, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE order_id = $1 ORDER BY occurred_at, rank, recipient"
    );
    on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(order_id)
        .fetch_all(pool)
        .await)
}

/// Every message, oldest first (for tests and the admin listing; `limit` bounds it).
pub async fn all(db: &Database, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications ORDER BY occurred_at, rank, recipient LIMIT $1"
    );
    on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// Where a page of [`list`] ends: the last record's `(created_at, id)`.
pub type ListKey = (i64, String);

/// Records newest first (`created_at`, then `id`, both descending), optionally only in
/// `state` or about `order_id`, after `after` (the key of the previous page's last record);
/// at most `limit`.
pub async fn list(
    db: &Database,
    state: Option<&str>,
    order_id: Option<&str>,
    after: Option<&ListKey>,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let db = &db.for_notifications();
    let (after_at, after_id) = match after {
        Some((at, id)) => (Some(*at), Some(id.as_str())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE ($1 IS NULL OR state = $1) \
         AND ($2 IS NULL OR order_id = $2) \
         AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    );
    on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(state)
        .bind(order_id)
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// One record.
pub async fn get(db: &Database, id: &str) -> Result<Option<Record>, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = $1");
    on_pool!(db, |pool| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Queues a failed, shed or skipped message again, as fresh as now (an operator's decision,
/// so the freshness deadline counts from it). Returns whether it was requeued; a message that
/// is queued, being sent or sent is left alone.
pub async fn resend(db: &Database, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = "UPDATE notifications SET state = 'queued', reason = 'resend', occurred_at = $2, \
        next_attempt_at = $2, claimed_until = NULL WHERE id = $1 AND state IN ('failed', 'shed', 'skipped')";
    on_pool!(db, |pool| Ok(sqlx::query(sql)
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        == 1))
}
