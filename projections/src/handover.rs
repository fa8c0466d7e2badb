//! Blue/green rebuilds: a read model is rebuilt into copies of its tables while the live
//! tables keep serving, caught up to the live projector, then put in their place in one
//! transaction.
//!
//! The copy has positions of its own in `projection_positions` (under
//! `<projection>__rebuild_<n>`). The hand-over transaction first shuts the live projector out
//! (Postgres: the advisory lock every live projector transaction takes shared, here taken
//! exclusive; SQLite: the one write lock, `BEGIN IMMEDIATE`), applies to the copy every event
//! the live projector had applied and the copy lacks, drops the live tables, renames the copies
//! (and their indexes) to the live names and gives the copy's positions the live name. Readers
//! see the old table until the commit and the new one after it: on Postgres a reader waiting on
//! the dropped table is re-planned against the new one (same columns, so the same result type);
//! on SQLite readers keep their snapshot. After the commit the live projector goes on from the
//! copy's positions: an event the copy already has is skipped, a later one applied, so nothing
//! is lost or applied twice at the hand-over.

use std::borrow::Cow;

use eats_feed::FeedEvent;
use eats_store::{on_pool, Backend, BeginSafely};
use serde::Serialize;

use crate::runner::{
    apply_in_tx, replace_identifiers, retrying, Guard, Projection, ProjectionError, Projector,
    Target, HANDOVER_LOCK_CLASS,
};

/// Where a long step has got to; the CLI draws a bar or prints lines.
pub trait Progress: Send + Sync {
    /// A new phase begins, with the amount of work when it is known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `n` more units done.
    fn advance(&self, n: u64);
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
}

/// What a blue/green rebuild did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Handover {
    /// The read model.
    pub read_model: String,
    /// Events read from the event store into the copy.
    pub events: u64,
    /// Events applied to the copy afterwards, that the live projector had applied meanwhile.
    pub caught_up: u64,
    /// Of those, applied inside the hand-over transaction.
    pub caught_up_at_switch: u64,
    /// Rows of each table as rebuilt.
    pub rows: Vec<TableRows>,
    /// Whether the copy replaced the live tables (false on a dry run).
    pub switched: bool,
    /// Dry run: how the copy differs from the live tables.
    pub differences: Vec<TableDifference>,
}

/// A table's row count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableRows {
    /// The live table's name.
    pub table: String,
    /// Its rows.
    pub rows: i64,
}

/// How a rebuilt table differs from the live one (rows compared whole, both ways).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableDifference {
    /// The live table's name.
    pub table: String,
    /// Rows only the live table has (or has with other values).
    pub only_live: i64,
    /// Rows only the rebuilt table has (or has with other values).
    pub only_rebuilt: i64,
    /// The first column (the key) of up to ten such live rows.
    pub live_examples: Vec<String>,
    /// The first column of up to ten such rebuilt rows.
    pub rebuilt_examples: Vec<String>,
}

/// One read model's state, for `eats projections status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// The read model.
    pub read_model: String,
    /// Rows of each of its tables.
    pub rows: Vec<TableRows>,
    /// Aggregates it has applied events of.
    pub aggregates: i64,
    /// Events it has applied.
    pub applied: i64,
    /// Events of its aggregate types in the event store.
    pub events: i64,
    /// Tables of rebuilds that did not finish (a process killed mid-rebuild), to drop.
    pub leftovers: Vec<String>,
}

const DIFF: &str = "SELECT l.aggregate_type, l.aggregate_id, l.sequence, \
     COALESCE(r.sequence, 0) FROM projection_positions l LEFT JOIN projection_positions r \
     ON r.projection = $2 AND r.aggregate_type = l.aggregate_type \
     AND r.aggregate_id = l.aggregate_id \
     WHERE l.projection = $1 AND COALESCE(r.sequence, 0) < l.sequence";
const RANGE: &str = "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
     payload, metadata FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
     AND sequence > $3 AND sequence <= $4 ORDER BY sequence";

/// What the live projector has applied beyond the copy: (type, id, live, copy) positions.
type Behind = Vec<(String, String, i64, i64)>;

impl<P: Projection> Projector<P> {
    /// Rebuilds the read model into new tables while the live ones serve, then switches
    /// them in one transaction (see the module). With `dry_run` the copy is compared with
    /// the live tables instead and dropped. `batch` events go in one transaction.
    pub async fn rebuild_blue_green(
        &self,
        batch: usize,
        dry_run: bool,
        progress: &dyn Progress,
    ) -> Result<Handover, ProjectionError> {
        let suffix = format!("rebuild_{}", chrono::Utc::now().timestamp_millis());
        let copy = self.retargeted(Target {
            positions: format!("{}__{suffix}", P::NAME),
            tables: P::TABLES
                .iter()
                .map(|table| (*table, format!("{table}__{suffix}")))
                .collect(),
        });
        self.create_copies(&copy.target).await?;
        let outcome = self.hand_over(&copy, batch, dry_run, progress).await;
        if !matches!(outcome, Ok(Handover { switched: true, .. })) {
            if let Err(error) = self.drop_copies(&copy.target).await {
                tracing::warn!(%error, projection = P::NAME, "could not drop the rebuild's tables");
            }
        }
        outcome
    }

    async fn hand_over(
        &self,
        copy: &Projector<P>,
        batch: usize,
        dry_run: bool,
        progress: &dyn Progress,
    ) -> Result<Handover, ProjectionError> {
        let mut report = Handover {
            read_model: P::NAME.to_string(),
            ..Handover::default()
        };
        progress.phase("rebuilding", Some(self.events_in_store().await? as u64));
        report.events = copy.fill(batch, progress).await?;
        // Until little is left, so the transaction that shuts the projector out is short.
        for _ in 0..10 {
            let behind = self.behind(copy).await?;
            progress.phase("catching up", Some(behind.len() as u64));
            let applied = copy.catch_up(&behind, progress).await?;
            report.caught_up += applied;
            if behind.len() < 50 {
                break;
            }
        }
        if dry_run {
            progress.phase("comparing", None);
            report.differences = self.differences(&copy.target).await?;
            report.rows = self.rows(&copy.target).await?;
            return Ok(report);
        }
        progress.phase("switching", None);
        report.caught_up_at_switch = retrying(|| self.switch(copy)).await?;
        report.caught_up += report.caught_up_at_switch;
        report.rows = self.rows(&self.target).await?;
        report.switched = true;
        Ok(report)
    }

    /// Applies to this (copy) projector the events the live one has applied beyond it.
    async fn catch_up(
        &self,
        behind: &Behind,
        progress: &dyn Progress,
    ) -> Result<u64, ProjectionError> {
        let mut applied = 0;
        for (kind, id, live, copied) in behind {
            let mut missing = Vec::new();
            for stored in self.db.history(kind, id).await? {
                let event = FeedEvent::from_serialized(stored)?;
                let sequence = event.sequence as i64;
                if sequence > *copied && sequence <= *live {
                    missing.push(event);
                }
            }
            // One transaction per aggregate: consecutive events after the copy's position.
            retrying(|| self.apply_batch(&missing)).await?;
            applied += missing.len() as u64;
            progress.advance(1);
        }
        Ok(applied)
    }

    async fn behind(&self, copy: &Projector<P>) -> Result<Behind, ProjectionError> {
        let (live, copied) = (P::NAME, copy.target.positions.as_str());
        Ok(on_pool!(self.db, |pool| {
            sqlx::query_as(DIFF)
                .bind(live)
                .bind(copied)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The hand-over transaction; returns the events it applied to the copy.
    async fn switch(&self, copy: &Projector<P>) -> Result<u64, ProjectionError> {
        let postgres = matches!(self.db.backend(), Backend::Postgres(_));
        let copied = copy.target.positions.as_str();
        let tables = &copy.target.tables;
        on_pool!(self.db, |pool| {
            let mut tx = if postgres {
                pool.begin_safely().await?
            } else {
                pool.begin_with("BEGIN IMMEDIATE").await?
            };
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                    .bind(HANDOVER_LOCK_CLASS)
                    .bind(P::NAME)
                    .execute(&mut *tx)
                    .await?;
            }
            let behind: Behind = sqlx::query_as(DIFF)
                .bind(P::NAME)
                .bind(copied)
                .fetch_all(&mut *tx)
                .await?;
            let mut applied = 0_u64;
            for (kind, id, live, from) in &behind {
                let events = sqlx::query(RANGE)
                    .bind(kind)
                    .bind(id)
                    .bind(from)
                    .bind(live)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(<FeedEvent as sqlx::FromRow<_>>::from_row)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let prepared = copy.prepare(&events)?;
                if let Guard::Gap { expected } = apply_in_tx!(tx, copied, &prepared) {
                    return Err(ProjectionError::Unrepairable {
                        event: format!("{kind}-{id}-{live}"),
                        missing: expected,
                    });
                }
                applied += events.len() as u64;
            }
            for (live, copy_table) in tables {
                if postgres {
                    let indexes = "SELECT indexname, indexdef FROM pg_indexes \
                         WHERE schemaname = current_schema() AND tablename = $1";
                    let old: Vec<(String, String)> = sqlx::query_as(indexes)
                        .bind(*live)
                        .fetch_all(&mut *tx)
                        .await?;
                    let new: Vec<(String, String)> = sqlx::query_as(indexes)
                        .bind(copy_table)
                        .fetch_all(&mut *tx)
                        .await?;
                    sqlx::query(&format!("DROP TABLE {live}"))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&format!("ALTER TABLE {copy_table} RENAME TO {live}"))
                        .execute(&mut *tx)
                        .await?;
                    // The copy's indexes take the live ones' names, so migrations that name
                    // them keep working.
                    for (new_name, new_def) in &new {
                        let same = old
                            .iter()
                            .find(|(_, def)| index_shape(def) == index_shape(new_def));
                        if let Some((old_name, _)) = same {
                            sqlx::query(&format!("ALTER INDEX {new_name} RENAME TO {old_name}"))
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                } else {
                    let old: Vec<String> = sqlx::query_scalar(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                         AND sql IS NOT NULL",
                    )
                    .bind(*live)
                    .fetch_all(&mut *tx)
                    .await?;
                    sqlx::query(&format!("DROP TABLE {live}"))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&format!("ALTER TABLE {copy_table} RENAME TO {live}"))
                        .execute(&mut *tx)
                        .await?;
                    for sql in &old {
                        sqlx::query(sql).execute(&mut *tx).await?;
                    }
                }
            }
            sqlx::query("DELETE FROM projection_positions WHERE projection = $1")
                .bind(P::NAME)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE projection_positions SET projection = $1 WHERE projection = $2")
                .bind(P::NAME)
                .bind(copied)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(applied)
        })
    }

    /// Empty copies of the live tables, with their keys and indexes (SQLite: keys only; the
    /// other indexes are made at the switch, under the live names).
    async fn create_copies(&self, target: &Target) -> Result<(), ProjectionError> {
        let postgres = matches!(self.db.backend(), Backend::Postgres(_));
        on_pool!(self.db, |pool| {
            for (live, copy) in &target.tables {
                let create = if postgres {
                    format!("CREATE TABLE {copy} (LIKE {live} INCLUDING ALL)")
                } else {
                    let sql: String = sqlx::query_scalar(
                        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
                    )
                    .bind(*live)
                    .fetch_one(pool)
                    .await?;
                    replace_identifiers(&sql, &[(live, copy.clone())])
                };
                sqlx::query(&create).execute(pool).await?;
            }
            Ok(())
        })
    }

    async fn drop_copies(&self, target: &Target) -> Result<(), ProjectionError> {
        on_pool!(self.db, |pool| {
            for (_, copy) in &target.tables {
                sqlx::query(&format!("DROP TABLE IF EXISTS {copy}"))
                    .execute(pool)
                    .await?;
            }
            sqlx::query("DELETE FROM projection_positions WHERE projection = $1")
                .bind(&target.positions)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    async fn differences(&self, copy: &Target) -> Result<Vec<TableDifference>, ProjectionError> {
        let mut differences = Vec::new();
        for (live, copy_table) in &copy.tables {
            let (only_live, live_examples) = self.except(live, copy_table).await?;
            let (only_rebuilt, rebuilt_examples) = self.except(copy_table, live).await?;
            if only_live > 0 || only_rebuilt > 0 {
                differences.push(TableDifference {
                    table: live.to_string(),
                    only_live,
                    only_rebuilt,
                    live_examples,
                    rebuilt_examples,
                });
            }
        }
        Ok(differences)
    }

    /// Rows of `a` that `b` lacks: how many, and the first column of ten.
    async fn except(&self, a: &str, b: &str) -> Result<(i64, Vec<String>), ProjectionError> {
        let rows = format!("SELECT * FROM {a} EXCEPT SELECT * FROM {b}");
        let count = format!("SELECT count(*) FROM ({rows}) d");
        let examples = format!("SELECT * FROM ({rows}) d LIMIT 10");
        Ok(on_pool!(self.db, |pool| {
            let n: i64 = sqlx::query_scalar(&count).fetch_one(pool).await?;
            let keys = sqlx::query(&examples)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| sqlx::Row::try_get::<String, _>(row, 0))
                .collect::<Result<Vec<_>, _>>()?;
            (n, keys)
        }))
    }

    async fn rows(&self, target: &Target) -> Result<Vec<TableRows>, ProjectionError> {
        let mut rows = Vec::new();
        for table in P::TABLES {
            let name = crate::runner::retarget_sql(table, &target.tables);
            let sql = format!("SELECT count(*) FROM {name}");
            let n: i64 = on_pool!(self.db, |pool| {
                sqlx::query_scalar(&sql).fetch_one(pool).await?
            });
            rows.push(TableRows {
                table: table.to_string(),
                rows: n,
            });
        }
        Ok(rows)
    }

    async fn events_in_store(&self) -> Result<i64, ProjectionError> {
        let mut total = 0;
        for kind in P::AGGREGATE_TYPES {
            let n: i64 = on_pool!(self.db, |pool| {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
                    .bind(*kind)
                    .fetch_one(pool)
                    .await?
            });
            total += n;
        }
        Ok(total)
    }

    /// The read model's rows, positions and the events it reads, for an operator.
    pub async fn status(&self) -> Result<Status, ProjectionError> {
        let (aggregates, applied): (i64, Option<i64>) = on_pool!(self.db, |pool| {
            sqlx::query_as(
                "SELECT count(*), CAST(sum(sequence) AS BIGINT) FROM projection_positions \
                 WHERE projection = $1",
            )
            .bind(P::NAME)
            .fetch_one(pool)
            .await?
        });
        let postgres = matches!(self.db.backend(), Backend::Postgres(_));
        let mut leftovers = Vec::new();
        for table in P::TABLES {
            let pattern = format!("{table}\\_\\_rebuild\\_%");
            let found: Vec<String> = on_pool!(self.db, |pool| {
                let sql = if postgres {
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
                     AND tablename LIKE $1 ESCAPE '\\' ORDER BY 1"
                } else {
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name LIKE $1 ESCAPE '\\' ORDER BY 1"
                };
                sqlx::query_scalar(sql)
                    .bind(&pattern)
                    .fetch_all(pool)
                    .await?
            });
            leftovers.extend(found);
        }
        Ok(Status {
            read_model: P::NAME.to_string(),
            rows: self.rows(&self.target).await?,
            aggregates,
            applied: applied.unwrap_or(0),
            events: self.events_in_store().await?,
            leftovers,
        })
    }
}

/// An index definition without its name and table (`UNIQUE` and what follows `USING`), to
/// pair a copy's index with the live one it stands for.
fn index_shape(def: &str) -> (bool, Cow<'_, str>) {
    let unique = def.starts_with("CREATE UNIQUE");
    let body = def.split_once(" USING ").map_or(def, |(_, body)| body);
    (unique, Cow::Borrowed(body))
}
