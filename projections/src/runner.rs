//! Applying a projection: the position guard, gap repair from the event store, and rebuild.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use eats_feed::{DecodeError, EventHandler, FeedEvent, HandlerError};
use eats_store::{Backend, BeginSafely, Database, DerivedState};
use tracing::Instrument;

use crate::sql::{inline, Arg, Write};
use eats_store::on_pool;

/// The fewest events worth a transaction of their own when a batch is split.
const MIN_PART: usize = 4;

/// A read model: which events it reads and what each does to its tables.
pub trait Projection: Send + Sync + 'static {
    /// Unique and stable: the consumer, checkpoint and positions are keyed by it.
    const NAME: &'static str;
    /// The aggregate types whose events it reads.
    const AGGREGATE_TYPES: &'static [&'static str];
    /// The tables it owns, emptied on rebuild.
    const TABLES: &'static [&'static str];

    /// The statements that apply `event`. Pure: the same event always yields the same
    /// writes, which only move rows forward.
    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError>;

    /// How many transactions at once a batch may be applied in on Postgres, split by
    /// [`partition`](Self::partition). At 1 (the default) a batch is one transaction. A
    /// read model that every client follows (the order view) has one consumer, in stream
    /// order; split, its batch's statements run on both cores and the next batch waits for
    /// the slowest part instead of the sum.
    const PARTITIONS: usize = 1;

    /// The key of the rows `event` writes: events of different keys must write different
    /// rows (besides their positions), so the parts of a split batch never wait for one
    /// another's row locks and cannot deadlock. Each key's events stay in stream order, in
    /// one part. The default, the aggregate, fits a read model with a row per aggregate.
    fn partition<'e>(&self, event: &'e FeedEvent) -> &'e str {
        &event.aggregate_id
    }
}

/// Why an event could not be projected; the feed retries it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The read model's database failed.
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    /// Reading the event store to fill a gap failed.
    #[error("event store: {0}")]
    Store(#[from] eats_store::StoreError),
    /// The event does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The event store does not (yet) hold the events before this one.
    #[error("{event} arrived but the event store has no event {missing} before it")]
    Unrepairable {
        /// The event's key.
        event: String,
        /// The missing sequence.
        missing: u64,
    },
    /// A replay asked for what the read model does not read.
    #[error(transparent)]
    Selection(#[from] crate::replay::NotRead),
    /// Another replica moved the position between our two reads; try again.
    #[error("position of {0} moved concurrently")]
    Raced(String),
}

/// What applying one event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied (after filling any gap before it from the event store).
    Applied,
    /// Applied before: nothing changed.
    AlreadyApplied,
}

pub(crate) enum Guard {
    Applied,
    AlreadyApplied,
    Gap { expected: u64 },
}

/// Where a projector writes: the live tables under the projection's own positions, or a
/// blue/green rebuild's copies under positions of their own (see [`crate::handover`]).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The key of its rows in `projection_positions`.
    pub(crate) positions: String,
    /// Each live table and the table written in its place; empty for the live projector.
    pub(crate) tables: Vec<(&'static str, String)>,
}

/// The advisory lock (two-key form: this class and `hashtext(<projection>)`) that every
/// live projector transaction takes shared on Postgres and a hand-over takes exclusive, so
/// no projector writes while a rebuilt table replaces the live one.
pub(crate) const HANDOVER_LOCK_CLASS: i32 = 0x6561_7473;

/// Rewrites `sql` to write `tables` (live name, replacement) instead of the live tables;
/// only whole identifiers are replaced.
pub(crate) fn retarget_sql(
    sql: &'static str,
    tables: &[(&'static str, String)],
) -> Cow<'static, str> {
    if tables.is_empty() {
        Cow::Borrowed(sql)
    } else {
        Cow::Owned(replace_identifiers(sql, tables))
    }
}

/// `sql` with each whole identifier `from` replaced by `to`.
pub(crate) fn replace_identifiers(sql: &str, tables: &[(&'static str, String)]) -> String {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = sql.to_string();
    for (from, to) in tables {
        let mut result = String::with_capacity(out.len() + 32);
        let bytes = out.as_bytes();
        let mut at = 0;
        while let Some(found) = out[at..].find(from) {
            let start = at + found;
            let end = start + from.len();
            let whole = (start == 0 || !is_ident(bytes[start - 1]))
                && (end == bytes.len() || !is_ident(bytes[end]));
            result.push_str(&out[at..start]);
            result.push_str(if whole { to } else { from });
            at = end;
        }
        result.push_str(&out[at..]);
        out = result;
    }
    out
}

/// Events with the statements that apply each, rewritten for the projector's target.
pub(crate) type Prepared<'e> = Vec<(&'e FeedEvent, Vec<(Cow<'static, str>, Vec<Arg>)>)>;

/// Claims each event's position under `$name` and runs its writes in transaction `$tx`;
/// evaluates to the [`Guard`]. Returns `Raced` from the enclosing function (the transaction
/// rolls back when dropped). A macro so the one text serves both backends' transactions.
macro_rules! apply_in_tx {
    ($tx:expr, $name:expr, $prepared:expr) => {
        'apply: {
            let mut applied = 0;
            for (event, writes) in $prepared {
                let sequence = i64::try_from(event.sequence).unwrap_or(i64::MAX);
                let (kind, id) = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
                let claimed = if sequence == 1 {
                    sqlx::query($crate::runner::CLAIM_FIRST)
                        .bind($name)
                        .bind(kind)
                        .bind(id)
                        .execute(&mut *$tx)
                        .await?
                } else {
                    sqlx::query($crate::runner::CLAIM_NEXT)
                        .bind($name)
                        .bind(kind)
                        .bind(id)
                        .bind(sequence)
                        .execute(&mut *$tx)
                        .await?
                }
                .rows_affected()
                    == 1;
                if !claimed {
                    let current: Option<i64> = sqlx::query_scalar($crate::runner::CURRENT)
                        .bind($name)
                        .bind(kind)
                        .bind(id)
                        .fetch_optional(&mut *$tx)
                        .await?;
                    match $crate::position::decide(
                        current.map_or(0, |c| c.max(0) as u64),
                        event.sequence,
                    ) {
                        $crate::position::Decision::AlreadyApplied => continue,
                        $crate::position::Decision::Gap { expected } => {
                            break 'apply $crate::runner::Guard::Gap { expected }
                        }
                        $crate::position::Decision::Apply => {
                            return Err($crate::runner::ProjectionError::Raced(event.key()));
                        }
                    }
                }
                for (sql, args) in writes {
                    $crate::bind_args!(sqlx::query(sql.as_ref()), args)
                        .execute(&mut *$tx)
                        .await?;
                }
                applied += 1;
            }
            if applied == 0 {
                $crate::runner::Guard::AlreadyApplied
            } else {
                $crate::runner::Guard::Applied
            }
        }
    };
}
pub(crate) use apply_in_tx;

/// The script path's claim of a batch's positions, with the hand-over lock (migration 0018;
/// each claim is migration 0017's `eats_claim_position`).
const CLAIM: &str = "eats_claim_positions";
/// The SQLSTATE `eats_claim_position` raises when the event is not the next of its aggregate.
const CLAIM_REFUSED: &str = "EAT01";

pub(crate) const CLAIM_FIRST: &str =
    "INSERT INTO projection_positions (projection, aggregate_type, aggregate_id, sequence) \
     VALUES ($1, $2, $3, 1) ON CONFLICT (projection, aggregate_type, aggregate_id) DO NOTHING";
pub(crate) const CLAIM_NEXT: &str = "UPDATE projection_positions SET sequence = $4 \
     WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence = $4 - 1";
pub(crate) const CURRENT: &str = "SELECT sequence FROM projection_positions \
     WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3";

/// Runs projection `P` against the database its tables live in.
pub struct Projector<P> {
    pub(crate) projection: Arc<P>,
    pub(crate) db: DerivedState,
    pub(crate) target: Target,
}

impl<P: Projection> Projector<P> {
    /// `projection` over `db`. A read model is rebuilt from the events, so it is written
    /// through [`Database::for_derived_state`] (on SQLite, commits without an fsync each).
    pub fn new(projection: P, db: Database) -> Self {
        Self {
            projection: Arc::new(projection),
            db: db.for_derived_state(),
            target: Target {
                positions: P::NAME.to_string(),
                tables: Vec::new(),
            },
        }
    }

    /// This projection writing `target` instead of its live tables.
    pub(crate) fn retargeted(&self, target: Target) -> Self {
        Self {
            projection: Arc::clone(&self.projection),
            db: self.db.clone(),
            target,
        }
    }

    /// Whether this projector writes the live tables (and so takes the hand-over lock).
    fn is_live(&self) -> bool {
        self.target.tables.is_empty()
    }

    /// The writes of `events`, rewritten for this projector's tables.
    pub(crate) fn prepare<'e>(&self, events: &'e [FeedEvent]) -> Result<Prepared<'e>, DecodeError> {
        events
            .iter()
            .map(|event| {
                let writes = self
                    .projection
                    .writes(event)?
                    .into_iter()
                    .map(|write| (retarget_sql(write.sql, &self.target.tables), write.args))
                    .collect();
                Ok((event, writes))
            })
            .collect()
    }

    /// Applies `event` exactly once: the position is claimed and the writes made in one
    /// transaction; an event seen before is skipped; events missing before it are read from
    /// the event store and applied first, so a view never skips or reorders.
    pub async fn apply(&self, event: &FeedEvent) -> Result<Applied, ProjectionError> {
        match self.try_apply(event).await? {
            Guard::Applied => return Ok(Applied::Applied),
            Guard::AlreadyApplied => return Ok(Applied::AlreadyApplied),
            Guard::Gap { expected } => {
                tracing::debug!(projection = P::NAME, event = %event.key(), expected, "filling a gap from the event store");
            }
        }
        let history = self
            .db
            .history(&event.aggregate_type, &event.aggregate_id)
            .await?;
        for stored in history {
            let stored = FeedEvent::from_serialized(stored)?;
            if stored.sequence > event.sequence {
                break;
            }
            if let Guard::Gap { expected } = self.try_apply(&stored).await? {
                return Err(ProjectionError::Unrepairable {
                    event: stored.key(),
                    missing: expected,
                });
            }
            if stored.sequence == event.sequence {
                return Ok(Applied::Applied);
            }
        }
        Err(ProjectionError::Unrepairable {
            event: event.key(),
            missing: event.sequence,
        })
    }

    async fn try_apply(&self, event: &FeedEvent) -> Result<Guard, ProjectionError> {
        self.try_apply_all(std::slice::from_ref(event)).await
    }

    /// Applies `events` in one transaction. All or nothing: at the first gap everything is
    /// rolled back and the gap reported; events applied before are skipped.
    async fn try_apply_all(&self, events: &[FeedEvent]) -> Result<Guard, ProjectionError> {
        let prepared = self.prepare(events)?;
        let name = self.target.positions.as_str();
        let lock = self.is_live() && matches!(self.db.backend(), Backend::Postgres(_));
        if let Backend::Postgres(pool) = self.db.backend() {
            if let Some(script) = self.script(&prepared, lock) {
                match sqlx::raw_sql(&script).execute(pool).await {
                    Ok(_) => return Ok(Guard::Applied),
                    // An event applied before, or one after a gap: decided below, one by one.
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(CLAIM_REFUSED) => {
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let _turn = self.db.write_turn("projections").await;
        on_pool!(self.db, |pool| {
            let mut tx = pool.begin_safely().await?;
            if lock {
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))")
                    .bind(HANDOVER_LOCK_CLASS)
                    .bind(P::NAME)
                    .execute(&mut *tx)
                    .await?;
            }
            let guard = apply_in_tx!(tx, name, &prepared);
            match guard {
                Guard::Gap { .. } => tx.rollback().await?,
                _ => tx.commit().await?,
            }
            Ok(guard)
        })
    }

    /// The whole batch as one script for Postgres: the hand-over lock and every event's
    /// claim in one call ([`CLAIM`], which raises [`CLAIM_REFUSED`] unless each event is the
    /// next of its aggregate, in batch order), then the events' writes, arguments written in
    /// as literals. Sent as one simple-query message it runs as one transaction and costs one
    /// round trip, where the statements one by one cost two or more per event plus three per
    /// batch; a sequential consumer (the order view) spends most of its time in those round
    /// trips once the machine is busy. `None` when an argument cannot be a literal: the batch
    /// then goes statement by statement.
    fn script(&self, prepared: &Prepared<'_>, lock: bool) -> Option<String> {
        let array = |args: Vec<Arg>, of: &str| -> Option<String> {
            let literals = args
                .iter()
                .map(|arg| inline("$1", std::slice::from_ref(arg)))
                .collect::<Option<Vec<_>>>()?;
            Some(format!("ARRAY[{}]::{of}[]", literals.join(", ")))
        };
        let (mut types, mut ids, mut sequences) = (Vec::new(), Vec::new(), Vec::new());
        for (event, _) in prepared {
            types.push(Arg::from(event.aggregate_type.as_str()));
            ids.push(Arg::from(event.aggregate_id.as_str()));
            sequences.push(Arg::from(i64::try_from(event.sequence).unwrap_or(i64::MAX)));
        }
        let lock_key = if lock {
            Arg::from(P::NAME)
        } else {
            Arg::Text(None)
        };
        let mut script = format!(
            "SELECT {CLAIM}({HANDOVER_LOCK_CLASS}, {}, {}, {}, {}, {});\n",
            inline("$1", &[lock_key])?,
            inline("$1", &[self.target.positions.as_str().into()])?,
            array(types, "text")?,
            array(ids, "text")?,
            array(sequences, "bigint")?,
        );
        for (_, writes) in prepared {
            for (sql, args) in writes {
                script.push_str(&inline(sql, args)?);
                script.push_str(";\n");
            }
        }
        Some(script)
    }

    /// `events` in up to [`Projection::PARTITIONS`] parts by [`Projection::partition`], each
    /// part in stream order; one part on SQLite (one writer) or when the batch is small.
    fn split(&self, events: &[FeedEvent]) -> Vec<Vec<FeedEvent>> {
        let parts = P::PARTITIONS.min(events.len() / MIN_PART).max(1);
        if parts == 1 || !matches!(self.db.backend(), Backend::Postgres(_)) {
            return vec![events.to_vec()];
        }
        let mut split = vec![Vec::new(); parts];
        for event in events {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(self.projection.partition(event), &mut hasher);
            let part = std::hash::Hasher::finish(&hasher) % parts as u64;
            split[part as usize].push(event.clone());
        }
        split.retain(|part| !part.is_empty());
        split
    }

    /// Applies consecutive events in one transaction; if one of them follows a gap, falls
    /// back to applying them one by one (which fills the gap from the event store).
    pub async fn apply_batch(&self, events: &[FeedEvent]) -> Result<(), ProjectionError> {
        match self.try_apply_all(events).await? {
            Guard::Applied | Guard::AlreadyApplied => Ok(()),
            Guard::Gap { .. } => {
                for event in events {
                    self.apply(event).await?;
                }
                Ok(())
            }
        }
    }

    /// Rebuilds the read model from the event store: empties it, then applies every event of
    /// its aggregate types, each aggregate's in order, `batch` per transaction. Returns the
    /// events read.
    ///
    /// Safe while the system serves and its feed consumer keeps running: the position guard
    /// lets exactly one of them apply each event (the consumer repairs any gap it meets from
    /// the event store), and every projection writes each aggregate's fields independently
    /// (a field two aggregates touch, like `order_view.updated_at`, only moves forward), so
    /// the order across aggregates does not matter. Until it finishes, readers see the view
    /// partly filled. A step that fails (a deadlock with the live consumer, a busy file) is
    /// retried; if it keeps failing the error is returned and running the rebuild again
    /// starts over.
    pub async fn rebuild(&self, batch: usize) -> Result<u64, ProjectionError> {
        retrying(|| self.reset()).await?;
        self.fill(batch, &crate::handover::Quiet).await
    }

    /// Applies every event of the projection's aggregate types from the event store, each
    /// aggregate's in order, `batch` per transaction, reporting to `progress`; returns the
    /// events read.
    pub(crate) async fn fill(
        &self,
        batch: usize,
        progress: &dyn crate::handover::Progress,
    ) -> Result<u64, ProjectionError> {
        let sql = format!(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             metadata FROM events WHERE aggregate_type = $1 AND (aggregate_id, sequence) > ($2, $3) \
             ORDER BY aggregate_id, sequence LIMIT {}",
            batch.max(1)
        );
        let mut read = 0_u64;
        for aggregate_type in P::AGGREGATE_TYPES {
            let mut after = (String::new(), 0_i64);
            loop {
                let page = || async {
                    on_pool!(self.db, |pool| {
                        sqlx::query(&sql)
                            .bind(aggregate_type)
                            .bind(&after.0)
                            .bind(after.1)
                            .fetch_all(pool)
                            .await?
                            .iter()
                            .map(<FeedEvent as sqlx::FromRow<_>>::from_row)
                            .collect::<Result<Vec<_>, sqlx::Error>>()
                            .map_err(ProjectionError::from)
                    })
                };
                let events = retrying(page).await?;
                let Some(last) = events.last() else {
                    break;
                };
                after = (
                    last.aggregate_id.clone(),
                    i64::try_from(last.sequence).unwrap_or(i64::MAX),
                );
                read += events.len() as u64;
                retrying(|| self.apply_batch(&events)).await?;
                progress.advance(events.len() as u64);
            }
        }
        Ok(read)
    }

    /// Empties the projection's tables and positions, so replaying the log rebuilds it.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let name = self.target.positions.as_str();
        let tables: Vec<Cow<'static, str>> = P::TABLES
            .iter()
            .map(|table| retarget_sql(table, &self.target.tables))
            .collect();
        on_pool!(self.db, |pool| {
            let mut tx = pool.begin_safely().await?;
            for table in &tables {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM projection_positions WHERE projection = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

#[async_trait]
impl<P: Projection> EventHandler for Projector<P> {
    fn name(&self) -> &str {
        P::NAME
    }

    fn aggregate_types(&self) -> &[&'static str] {
        P::AGGREGATE_TYPES
    }

    fn own_positions(&self) -> Option<&str> {
        Some(&self.target.positions)
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        let span = event.span(P::NAME);
        async {
            let applied = self
                .apply(event)
                .await
                .map_err(|e| HandlerError::new(P::NAME, event, e))?;
            tracing::debug!(?applied, "projected");
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        match events {
            [] => Ok(()),
            [one] => self.handle(one).await,
            [first, ..] => {
                let parts = self.split(events);
                let applied = futures::future::join_all(parts.iter().map(|part| {
                    self.apply_batch(part).instrument(tracing::debug_span!(
                        "batch",
                        projection = P::NAME,
                        events = part.len()
                    ))
                }))
                .await;
                // Parts applied before another failed are skipped as applied when the feed
                // offers the batch again.
                for result in applied {
                    result.map_err(|e| HandlerError::new(P::NAME, first, e))?;
                }
                // One transaction for many orders: each event is still logged under its own trace.
                for event in events {
                    event
                        .span(P::NAME)
                        .in_scope(|| tracing::debug!("projected in a batch"));
                }
                Ok(())
            }
        }
    }
}

/// Runs `step` until it succeeds, up to 10 times with a growing pause: what fails here is a
/// lost race, a deadlock or a busy database, which a retry resolves.
pub(crate) async fn retrying<T, F, Fut>(mut step: F) -> Result<T, ProjectionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProjectionError>>,
{
    let mut pause = std::time::Duration::from_millis(20);
    for _ in 1..10 {
        match step().await {
            Err(ProjectionError::Decode(error)) => return Err(error.into()),
            Err(ProjectionError::Selection(error)) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "rebuild step failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            done => return done,
        }
    }
    step().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_table_names_are_retargeted() {
        let tables = [("order_view", "order_view__rebuild_1".to_string())];
        assert_eq!(
            replace_identifiers(
                "INSERT INTO order_view (order_id) VALUES ($1) ON CONFLICT (order_id) DO UPDATE \
                 SET updated_at = order_view.updated_at -- not order_view_by_customer, xorder_view",
                &tables
            ),
            "INSERT INTO order_view__rebuild_1 (order_id) VALUES ($1) ON CONFLICT (order_id) DO \
             UPDATE SET updated_at = order_view__rebuild_1.updated_at -- not order_view_by_customer, \
             xorder_view"
        );
        assert!(matches!(retarget_sql("SELECT 1", &[]), Cow::Borrowed(_)));
    }

    fn event(aggregate_type: &str, aggregate_id: &str, sequence: u64, order: &str) -> FeedEvent {
        FeedEvent {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            sequence,
            event_type: "Step".into(),
            event_version: "1".into(),
            payload: serde_json::Value::Null,
            metadata: [("correlation_id".to_string(), order.to_string())].into(),
        }
    }

    #[tokio::test]
    async fn a_split_batch_keeps_each_orders_events_together_and_in_order() {
        // Never connected: `split` only asks which backend it is.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://127.0.0.1/unused")
            .expect("lazy pool");
        let projector = Projector::new(
            crate::order_view::OrderViewProjection,
            Database::new(Backend::Postgres(pool)),
        );
        let mut events = Vec::new();
        for sequence in 1..=3 {
            for order in 0..12 {
                let id = format!("o{order}");
                events.push(event("Order", &id, sequence, &id));
                events.push(event("Payment", &format!("p{order}"), sequence, &id));
                events.push(event("Delivery", &format!("d{order}"), sequence, &id));
            }
        }
        let parts = projector.split(&events);
        assert_eq!(parts.len(), 4, "12 orders over 4 parts");
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), events.len());
        for order in 0..12 {
            let id = format!("o{order}");
            let holding: Vec<&Vec<FeedEvent>> = parts
                .iter()
                .filter(|part| part.iter().any(|e| e.correlation_id() == id))
                .collect();
            assert_eq!(holding.len(), 1, "{id} is in one part");
            let in_part: Vec<(&str, u64)> = holding[0]
                .iter()
                .filter(|e| e.correlation_id() == id)
                .map(|e| (e.aggregate_type.as_str(), e.sequence))
                .collect();
            let in_batch: Vec<(&str, u64)> = events
                .iter()
                .filter(|e| e.correlation_id() == id)
                .map(|e| (e.aggregate_type.as_str(), e.sequence))
                .collect();
            assert_eq!(in_part, in_batch, "{id}'s events in stream order");
        }
        assert_eq!(projector.split(&events[..7]).len(), 1, "too few to split");
    }
}
