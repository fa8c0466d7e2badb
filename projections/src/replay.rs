//! Replaying a range of the event store through one read model, for repairs: the selected
//! aggregates' events are applied again, in order, to the live tables.
//!
//! Only the projector runs: nothing is appended or published, so no process manager, deadline
//! or notifier sees a replayed event (refunds, deliveries and messages cannot follow). Each
//! selected aggregate is replayed whole (its position reset and every event applied again,
//! in one transaction, under the live projector's hand-over lock on Postgres), because a
//! projection's writes bring a row to the state after an aggregate's latest event only when
//! applied from the first: `--since`/`--until` select which aggregates, not which events.

use chrono::{DateTime, SecondsFormat, Utc};
use eats_feed::FeedEvent;
use eats_store::{on_pool, Backend, BeginSafely};
use serde::Serialize;

use crate::handover::Progress;
use crate::runner::{
    apply_in_tx, retrying, Guard, Projection, ProjectionError, Projector, HANDOVER_LOCK_CLASS,
};

/// Which aggregates to replay.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only this aggregate id.
    pub aggregate_id: Option<String>,
    /// Only this aggregate type (one the read model reads).
    pub aggregate_type: Option<String>,
    /// Only aggregates with an event that occurred at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only aggregates with an event that occurred before this.
    pub until: Option<DateTime<Utc>>,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Replayed {
    /// The read model.
    pub read_model: String,
    /// Aggregates replayed.
    pub aggregates: u64,
    /// Events applied again.
    pub events: u64,
}

/// A selection that names a type the read model does not read.
#[derive(Debug, thiserror::Error)]
#[error("{read_model} does not read {aggregate_type} events; it reads {reads:?}")]
pub struct NotRead {
    /// The read model.
    pub read_model: &'static str,
    /// The type asked for.
    pub aggregate_type: String,
    /// The types it reads.
    pub reads: &'static [&'static str],
}

fn stamp(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

impl<P: Projection> Projector<P> {
    /// Replays the aggregates `selection` picks through this read model (see the module).
    pub async fn replay(
        &self,
        selection: &Selection,
        progress: &dyn Progress,
    ) -> Result<Replayed, ProjectionError> {
        let types: Vec<&'static str> = P::AGGREGATE_TYPES
            .iter()
            .copied()
            .filter(|t| {
                selection
                    .aggregate_type
                    .as_deref()
                    .is_none_or(|wanted| wanted == *t)
            })
            .collect();
        if types.is_empty() {
            return Err(ProjectionError::Selection(NotRead {
                read_model: P::NAME,
                aggregate_type: selection.aggregate_type.clone().unwrap_or_default(),
                reads: P::AGGREGATE_TYPES,
            }));
        }
        let occurred = match self.db.backend() {
            Backend::Postgres(_) => "metadata ->> 'occurred_at'",
            Backend::Sqlite(_) => "json_extract(metadata, '$.occurred_at')",
        };
        let sql = format!(
            "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR aggregate_id = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR {occurred} >= $3) \
             AND (CAST($4 AS TEXT) IS NULL OR {occurred} < $4) ORDER BY aggregate_id"
        );
        let (since, until) = (stamp(selection.since), stamp(selection.until));
        let mut chosen = Vec::new();
        for kind in types {
            let ids: Vec<String> = on_pool!(self.db, |pool| {
                sqlx::query_scalar(&sql)
                    .bind(kind)
                    .bind(&selection.aggregate_id)
                    .bind(&since)
                    .bind(&until)
                    .fetch_all(pool)
                    .await?
            });
            chosen.extend(ids.into_iter().map(|id| (kind, id)));
        }
        progress.phase("replaying", Some(chosen.len() as u64));
        let mut report = Replayed {
            read_model: P::NAME.to_string(),
            ..Replayed::default()
        };
        for (kind, id) in &chosen {
            report.events += retrying(|| self.replay_one(kind, id)).await?;
            report.aggregates += 1;
            progress.advance(1);
        }
        Ok(report)
    }

    /// Resets one aggregate's position and applies all its events again, in one transaction.
    async fn replay_one(&self, kind: &str, id: &str) -> Result<u64, ProjectionError> {
        let postgres = matches!(self.db.backend(), Backend::Postgres(_));
        let name = self.target.positions.as_str();
        on_pool!(self.db, |pool| {
            let mut tx = pool.begin_safely().await?;
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))")
                    .bind(HANDOVER_LOCK_CLASS)
                    .bind(P::NAME)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "DELETE FROM projection_positions WHERE projection = $1 \
                 AND aggregate_type = $2 AND aggregate_id = $3",
            )
            .bind(name)
            .bind(kind)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let events = sqlx::query(
                "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                 payload, metadata FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
                 ORDER BY sequence",
            )
            .bind(kind)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(<FeedEvent as sqlx::FromRow<_>>::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let prepared = self.prepare(&events)?;
            if let Guard::Gap { expected } = apply_in_tx!(tx, name, &prepared) {
                return Err(ProjectionError::Unrepairable {
                    event: format!("{kind}-{id}"),
                    missing: expected,
                });
            }
            tx.commit().await?;
            Ok(events.len() as u64)
        })
    }
}
