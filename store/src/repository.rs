//! The event repository over both backends, with versioned snapshots.
//!
//! Delegates to postgres-es or sqlite-es. On top, every snapshot is stamped with the
//! aggregate's [`SNAPSHOT_LAYOUT`](eats_domain::Versioned::SNAPSHOT_LAYOUT); a snapshot of
//! another layout is deleted and ignored, so after a change to an aggregate's fields its
//! state is rebuilt from the events rather than read in the wrong shape.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use std::sync::Arc;

use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio::sync::watch;

use crate::database::{bump, Backend, Writers};
use crate::group_commit::{Appender, Refused, MOST_EVENTS};
use crate::transaction::to_the_end;

/// The key under which the layout is stored inside a snapshot's JSON.
const LAYOUT_KEY: &str = "_snapshot_layout";

enum Inner {
    Postgres(Arc<PostgresEventRepository>, PgPool),
    Sqlite(SqliteEventRepository, SqlitePool),
}

/// The `PersistedEventRepository` for one aggregate type on either backend.
pub struct EventRepository {
    inner: Inner,
    snapshot_layout: u32,
    commits: Option<Arc<watch::Sender<u64>>>,
    writers: Option<Writers>,
    appender: Option<Appender>,
}

impl EventRepository {
    /// A repository over `backend` whose snapshots have layout `snapshot_layout`.
    pub fn new(backend: &Backend, snapshot_layout: u32) -> Self {
        let inner = match backend {
            Backend::Postgres(pool) => Inner::Postgres(
                Arc::new(PostgresEventRepository::new(pool.clone())),
                pool.clone(),
            ),
            Backend::Sqlite(pool) => {
                Inner::Sqlite(SqliteEventRepository::new(pool.clone()), pool.clone())
            }
        };
        Self {
            inner,
            snapshot_layout,
            commits: None,
            writers: None,
            appender: None,
        }
    }

    /// Appends only in turn with the process's other SQLite writers (see
    /// [`Database::write_turn`](crate::Database::write_turn)).
    pub fn taking_turns(mut self, writers: Option<Writers>) -> Self {
        self.writers = writers;
        self
    }

    /// On SQLite, appends without a snapshot through `appender`, committed together with the
    /// appends waiting at the same moment (see [`crate::group_commit`]).
    pub fn appending_through(mut self, appender: Option<Appender>) -> Self {
        self.appender = appender;
        self
    }

    /// Bumps `commits` after every successful append.
    pub fn notifying(mut self, commits: Arc<watch::Sender<u64>>) -> Self {
        self.commits = Some(commits);
        self
    }

    async fn delete_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<(), PersistenceError> {
        let result = match &self.inner {
            Inner::Postgres(_, pool) => {
                sqlx::query("DELETE FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2")
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .execute(pool)
                    .await
                    .map(drop)
            }
            Inner::Sqlite(_, pool) => {
                sqlx::query("DELETE FROM snapshots WHERE aggregate_type = ? AND aggregate_id = ?")
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .execute(pool)
                    .await
                    .map(drop)
            }
        };
        result.map_err(|e| PersistenceError::ConnectionError(Box::new(e)))
    }
}

/// Appends `events` (one aggregate's, in order) in a single statement. postgres-es sends
/// `BEGIN`, one `INSERT` per event and `COMMIT`: three round trips for the usual command of one
/// event, each waiting for a connection's turn on a busy server. One statement is atomic on
/// its own (the outbox trigger's row included), so it needs no explicit transaction; a
/// sequence that is already taken fails it as a whole, which is the optimistic lock.
const APPEND: &str = "INSERT INTO events \
     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
     SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload, e.metadata \
     FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) \
       AS e(sequence, event_type, event_version, payload, metadata) \
     ORDER BY e.sequence";

async fn append_postgres<A: Aggregate>(
    pool: &PgPool,
    events: &[SerializedEvent],
) -> Result<(), PersistenceError> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let sequence = |e: &SerializedEvent| {
        i64::try_from(e.sequence).map_err(|e| PersistenceError::UnknownError(Box::new(e)))
    };
    let sequences = events.iter().map(sequence).collect::<Result<Vec<_>, _>>()?;
    let result = sqlx::query(APPEND)
        .bind(A::TYPE)
        .bind(&first.aggregate_id)
        .bind(sequences)
        .bind(
            events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.event_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| &e.payload).collect::<Vec<_>>())
        .bind(events.iter().map(|e| &e.metadata).collect::<Vec<_>>())
        .execute(pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            Err(PersistenceError::OptimisticLockError)
        }
        Err(e @ (sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut)) => {
            Err(PersistenceError::ConnectionError(Box::new(e)))
        }
        Err(e) => Err(PersistenceError::UnknownError(Box::new(e))),
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match &self.inner {
            Inner::Postgres(repo, _) => repo.get_events::<A>(aggregate_id).await,
            Inner::Sqlite(repo, _) => repo.get_events::<A>(aggregate_id).await,
        }
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match &self.inner {
            Inner::Postgres(repo, _) => {
                repo.get_last_events::<A>(aggregate_id, last_sequence).await
            }
            Inner::Sqlite(repo, _) => repo.get_last_events::<A>(aggregate_id, last_sequence).await,
        }
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let snapshot = match &self.inner {
            Inner::Postgres(repo, _) => repo.get_snapshot::<A>(aggregate_id).await?,
            Inner::Sqlite(repo, _) => repo.get_snapshot::<A>(aggregate_id).await?,
        };
        let Some(mut snapshot) = snapshot else {
            return Ok(None);
        };
        let layout = match &mut snapshot.aggregate {
            Value::Object(fields) => fields.remove(LAYOUT_KEY).and_then(|v| v.as_u64()),
            _ => None,
        };
        if layout == Some(u64::from(self.snapshot_layout)) {
            return Ok(Some(snapshot));
        }
        tracing::info!(
            aggregate_type = A::TYPE,
            aggregate_id,
            stored_layout = ?layout,
            current_layout = self.snapshot_layout,
            "discarding a snapshot of another layout; rebuilding from events"
        );
        self.delete_snapshot(A::TYPE, aggregate_id).await?;
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let snapshot_update = snapshot_update.map(|(id, mut state, current_snapshot)| {
            if let Value::Object(fields) = &mut state {
                fields.insert(LAYOUT_KEY.into(), self.snapshot_layout.into());
            }
            (id, state, current_snapshot)
        });
        if events.is_empty() && snapshot_update.is_none() {
            return Ok(());
        }
        match &self.inner {
            Inner::Postgres(_, pool) if snapshot_update.is_none() => {
                append_postgres::<A>(pool, events).await?
            }
            // postgres-es begins a transaction here (see `crate::transaction`).
            Inner::Postgres(repo, _) => {
                let (repo, events) = (repo.clone(), events.to_vec());
                to_the_end(async move { repo.persist::<A>(&events, snapshot_update).await })
                    .await
                    .map_err(|e| PersistenceError::ConnectionError(Box::new(e)))??
            }
            Inner::Sqlite(repo, _) => {
                let grouped = self
                    .appender
                    .as_ref()
                    .filter(|_| snapshot_update.is_none() && events.len() <= MOST_EVENTS);
                if let Some(appender) = grouped {
                    match appender.append(A::TYPE, events).await {
                        // The appender has woken this process's consumers.
                        Ok(()) => return Ok(()),
                        Err(Refused::Failed(error)) => return Err(error),
                        Err(Refused::Stopped) => {}
                    }
                }
                let _turn = match &self.writers {
                    Some(writers) => Some(writers.turn("commands").await),
                    None => None,
                };
                repo.persist::<A>(events, snapshot_update).await?
            }
        }
        if let Some(commits) = &self.commits {
            bump(commits);
        }
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        match &self.inner {
            Inner::Postgres(repo, _) => repo.stream_events::<A>(aggregate_id).await,
            Inner::Sqlite(repo, _) => repo.stream_events::<A>(aggregate_id).await,
        }
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        match &self.inner {
            Inner::Postgres(repo, _) => repo.stream_all_events::<A>().await,
            Inner::Sqlite(repo, _) => repo.stream_all_events::<A>().await,
        }
    }
}
