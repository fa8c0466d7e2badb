//! Connecting to either backend and bringing its schema up to date.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use eats_domain::Versioned;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use tokio::sync::watch;

use crate::commands::CachedStore;
use crate::group_commit::Appender;
use crate::repository::EventRepository;
use crate::wiring::EventStoreOf;

/// The SQLite file inside the embedded data folder.
pub const SQLITE_FILE: &str = "eats.db";

/// The notifier's own SQLite file beside [`SQLITE_FILE`]: see [`Database::for_notifications`].
pub const NOTIFY_FILE: &str = "notify.db";

/// Why the event store could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused the connection or a query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed; the schema is left as the failed migration's transaction
    /// found it.
    #[error("migrating the event store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The embedded data folder could not be created.
    #[error("creating data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The connection pool of whichever backend is in use.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Distributed mode.
    Postgres(PgPool),
    /// Embedded mode.
    Sqlite(SqlitePool),
}

/// An open, migrated event store and how often its aggregates are snapshotted.
#[derive(Clone, Debug)]
pub struct Database {
    backend: Backend,
    /// SQLite only: a second pool on the same file for state rebuilt from the events; see
    /// [`Database::for_derived_state`].
    derived: Option<SqlitePool>,
    /// SQLite only: the pool on the notifier's own file; see [`Database::for_notifications`].
    notify: Option<SqlitePool>,
    /// SQLite only: a second pool on that file whose commits skip the fsync; see
    /// [`Database::for_notification_updates`].
    notify_updates: Option<SqlitePool>,
    snapshot_every: usize,
    aggregate_cache: usize,
    commits: Arc<watch::Sender<u64>>,
    /// How many outbox relays of this process lead (at most one, but a replaced relay may
    /// drop its mark after the next took its own): see [`Database::relay_leads_here`].
    relay_here: Arc<AtomicUsize>,
    /// SQLite only: this process's writers, one at a time, in arrival order.
    writers: Option<Writers>,
    /// SQLite only (inside a runtime): the event store's appends, committed in groups.
    appender: Option<Appender>,
    /// Aggregates' first events read here (see [`Database::first_event`]).
    first_events: Arc<std::sync::Mutex<hashlink::LruCache<(String, String), SerializedEvent>>>,
}

/// First events kept per process, at most.
const FIRST_EVENTS_KEPT: usize = 10_000;

/// The histogram of how long a writer waited for its turn, labelled `by`.
pub const WRITER_WAIT_METRIC: &str = "eats_sqlite_writer_wait_seconds";
/// The histogram of how long a writer held its turn, labelled `by`: their sum over a second
/// is how busy the one writer is (embedded mode's bound).
pub const WRITER_HELD_METRIC: &str = "eats_sqlite_writer_held_seconds";

/// This process's SQLite writers, one at a time, in arrival order (see
/// [`Database::write_turn`]).
#[derive(Clone, Debug, Default)]
pub struct Writers(Arc<tokio::sync::Mutex<()>>);

impl Writers {
    /// Waits for the turn of the writer `by` (a metric label: what writes).
    pub async fn turn(&self, by: &'static str) -> Turn {
        let asked = std::time::Instant::now();
        let guard = self.0.clone().lock_owned().await;
        let since = std::time::Instant::now();
        metrics::histogram!(WRITER_WAIT_METRIC, "by" => by).record(since - asked);
        Turn {
            _guard: guard,
            since,
            by,
        }
    }
}

/// A writer's turn, held until dropped; how long is recorded in [`WRITER_HELD_METRIC`].
#[derive(Debug)]
pub struct Turn {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    since: std::time::Instant,
    by: &'static str,
}

impl Drop for Turn {
    fn drop(&mut self) {
        metrics::histogram!(WRITER_HELD_METRIC, "by" => self.by).record(self.since.elapsed());
    }
}

/// A turn to write to SQLite (see [`Database::write_turn`]); nothing on Postgres.
pub type WriteTurn = Option<Turn>;

/// The database as seen by state rebuilt from the events: read models and consumer
/// checkpoints. On SQLite its commits skip the fsync (`synchronous = NORMAL` in WAL mode); a
/// process crash still loses nothing, and a power cut can only lose the newest such commits.
/// That is safe because SQLite's WAL checksums are cumulative, so what a power cut loses is
/// always a suffix of the log: a consumer's checkpoint is never kept while the writes it
/// covers are lost, and every event append (fsynced) makes all that came before it durable.
/// The consumer then replays from its older checkpoint, which idempotent consumers absorb.
/// It offers no way to append events or run commands, so facts cannot end up here by
/// mistake; they go through [`Database`]. On Postgres it is the same pool.
#[derive(Clone, Debug)]
pub struct DerivedState(Database);

impl DerivedState {
    /// The pool to write derived state with.
    pub fn backend(&self) -> &Backend {
        self.0.backend()
    }

    /// One aggregate's stored events in order, to fill a gap in a read model.
    pub async fn history(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        self.0.history(aggregate_type, aggregate_id).await
    }

    /// Changes whenever this process commits events: see [`Database::subscribe_commits`].
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.0.subscribe_commits()
    }

    /// This process's turn to write: see [`Database::write_turn`].
    pub async fn write_turn(&self, by: &'static str) -> WriteTurn {
        self.0.write_turn(by).await
    }
}

/// Before the notifier had a file of its own (eats 0.3), its tables were in the event store's
/// file (migration 0011): a new notify.db takes their rows over once, so nothing queued is
/// lost and nothing sent is sent again. The old tables stay behind, unused.
async fn adopt_old_notifications(main: &SqlitePool, notify: &SqlitePool) -> Result<(), StoreError> {
    let had: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'notifications'",
    )
    .fetch_one(main)
    .await?;
    if had == 0 {
        return Ok(());
    }
    let main_file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(main)
            .await?;
    let mut connection = notify.acquire().await?;
    sqlx::query("ATTACH DATABASE $1 AS old")
        .bind(&main_file)
        .execute(&mut *connection)
        .await?;
    let copied = async {
        let columns = "id, event_key, order_id, recipient, phone, channel, template, parameters, \
            critical, rank, state, reason, provider, request_id, attempts, occurred_at, created_at, \
            next_attempt_at, claimed_until, sent_at, delivery";
        sqlx::query(&format!(
            "INSERT OR IGNORE INTO notifications ({columns}) SELECT {columns} FROM old.notifications"
        ))
        .execute(&mut *connection)
        .await?;
        sqlx::query(
            "INSERT OR IGNORE INTO notification_preferences SELECT customer_id, kakao, sms, \
             quiet_start, quiet_end, updated_at FROM old.notification_preferences",
        )
        .execute(&mut *connection)
        .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    sqlx::query("DETACH DATABASE old")
        .execute(&mut *connection)
        .await?;
    copied?;
    Ok(())
}

/// See [`Database::relay_leads_here`]; clears the mark when dropped.
#[derive(Debug)]
#[must_use = "commits notify again as soon as the mark is dropped"]
pub struct RelayLeadsHere {
    marks: Arc<AtomicUsize>,
    commits: Arc<watch::Sender<u64>>,
}

/// Tells this process's watchers of `commits` that events were committed.
pub(crate) fn bump(commits: &watch::Sender<u64>) {
    commits.send_modify(|n| *n = n.wrapping_add(1));
}

impl Drop for RelayLeadsHere {
    fn drop(&mut self) {
        self.marks.fetch_sub(1, Ordering::AcqRel);
        // One notification now, for the commits whose own were skipped: a leader elsewhere
        // (the one taking over) may have read the outbox before them.
        bump(&self.commits);
    }
}

/// The channel that wakes the outbox relay: notified after commits that appended events.
pub const OUTBOX_CHANNEL: &str = "eats_outbox";

/// Notifies [`OUTBOX_CHANNEL`] after this process commits events, until the database handle
/// is gone. Sent as a statement of its own after the commit, never inside it: a `NOTIFY`
/// holds a database-wide lock through its transaction's commit, so notifying writers would
/// commit one WAL flush at a time (see migration 0016). Coalesced: while one wake-up is in
/// flight, further commits add up to one more, sent after it; that one is sent after every
/// commit it stands for, so the relay, woken, reads them all.
///
/// Skipped while the leading relay is this process's own: it watches the same commits, and
/// the notification would cost a statement and a commit per wake-up for nobody (a tenth of
/// the statements of a lifecycle at light load).
async fn wake_relay(pool: PgPool, mut commits: watch::Receiver<u64>, relay_here: Arc<AtomicUsize>) {
    while commits.changed().await.is_ok() {
        commits.borrow_and_update();
        if relay_here.load(Ordering::Acquire) > 0 {
            continue;
        }
        match sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&pool)
            .await
        {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "could not wake the outbox relay; it finds the events on its next poll");
            }
        }
    }
}

/// Default events between snapshots: aggregates here live for tens of events, so a snapshot
/// every 20 keeps loads to a handful of rows without writing snapshots on most commands.
pub const DEFAULT_SNAPSHOT_EVERY: usize = 20;

/// Aggregates of each type the command handlers remember by default: a few minutes of orders
/// at a busy node's rate, a few MiB.
pub const DEFAULT_AGGREGATE_CACHE: usize = 10_000;

/// A pooled Postgres connection used this recently is lent without a ping first.
///
/// sqlx pings every connection it lends by default: a round trip before each statement run
/// on the pool, about a tenth of the process's CPU under load. A connection that answered a
/// moment ago is almost surely alive (HikariCP's rule, with its 500 ms), and if it died in
/// between, the statement fails as it would have had it died a moment later; idle ones are
/// still checked, so a database restarted while the process was quiet costs no error.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

/// Options for every Postgres pool of the process: see [`PING_IF_IDLE_FOR`].
fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

impl Database {
    /// Connects to Postgres at `url` and applies pending migrations.
    pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("eats");
        let pool = postgres_pool_options()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self::new(Backend::Postgres(pool)))
    }

    /// Opens (creating if needed) the SQLite event store in `data_dir` and applies pending
    /// migrations.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed order survives a power cut, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        let notify_path = data_dir.join(NOTIFY_FILE);
        if !notify_path.exists() {
            // Built aside and renamed into place, so a notify.db that exists has adopted the
            // old rows: a crash midway starts the adoption over instead of skipping it.
            let fresh = data_dir.join(format!("{NOTIFY_FILE}.new"));
            for leftover in ["", "-wal", "-shm"] {
                let path = data_dir.join(format!("{NOTIFY_FILE}.new{leftover}"));
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|source| StoreError::DataDir {
                        path: path.display().to_string(),
                        source,
                    })?;
                }
            }
            let building = SqlitePoolOptions::new()
                .max_connections(1)
                // A rollback journal, not WAL: once closed, the file alone holds everything.
                .connect_with(
                    options
                        .clone()
                        .filename(&fresh)
                        .journal_mode(SqliteJournalMode::Delete),
                )
                .await?;
            sqlx::migrate!("./migrations/sqlite-notify")
                .run(&building)
                .await?;
            adopt_old_notifications(&pool, &building).await?;
            building.close().await;
            std::fs::rename(&fresh, &notify_path).map_err(|source| StoreError::DataDir {
                path: notify_path.display().to_string(),
                source,
            })?;
        }
        let notify = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().filename(&notify_path))
            .await?;
        sqlx::migrate!("./migrations/sqlite-notify")
            .run(&notify)
            .await?;
        let notify_updates = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .clone()
                    .filename(&notify_path)
                    .synchronous(SqliteSynchronous::Normal),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let derived = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        Ok(Self {
            derived: Some(derived),
            notify: Some(notify),
            notify_updates: Some(notify_updates),
            ..Self::new(Backend::Sqlite(pool))
        })
    }

    /// The database the notifier keeps its records and the customers' notification
    /// preferences in. On SQLite that is a file of its own (with its own writer lock), so the
    /// notifier's many small writes never make an order command wait for the event store's
    /// one writer; it is fsynced like the event store, because a record is the promise that a
    /// message will be sent. It has no events: the notifier reads those from [`Database`].
    /// On Postgres, and for a pool wrapped with [`Database::new`], it is this database.
    pub fn for_notifications(&self) -> Database {
        match &self.notify {
            Some(notify) => Database {
                backend: Backend::Sqlite(notify.clone()),
                derived: None,
                notify: None,
                notify_updates: None,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// The notifier's database for changing the state of what is recorded (claims, results,
    /// shedding, delivery verdicts), as opposed to recording it. On SQLite its commits skip
    /// the fsync (`synchronous = NORMAL` in WAL mode): a process crash loses nothing, and a
    /// power cut can lose only the newest state changes, never a record (each recording
    /// commit is fsynced, which also makes every state change before it durable). What such a
    /// loss costs: a claim is taken again, a result asked again, and a message whose `sent`
    /// was lost is sent again with the same idempotency key. That trade keeps the notifier's
    /// many small writes from fsyncing the disk the order commands fsync on.
    pub fn for_notification_updates(&self) -> Database {
        match &self.notify_updates {
            Some(updates) => Database {
                backend: Backend::Sqlite(updates.clone()),
                derived: None,
                notify: None,
                notify_updates: None,
                ..self.clone()
            },
            None => self.for_notifications(),
        }
    }

    /// The handle for state that is rebuilt from the events: see [`DerivedState`].
    pub fn for_derived_state(&self) -> DerivedState {
        DerivedState(match &self.derived {
            Some(derived) => Database {
                backend: Backend::Sqlite(derived.clone()),
                ..self.clone()
            },
            None => self.clone(),
        })
    }

    /// Wraps an already migrated pool. On Postgres (inside a Tokio runtime) it also starts
    /// waking the outbox relay after this process's commits: see [`wake_relay`]. On SQLite
    /// (inside a runtime) it starts the task that commits appends in groups
    /// ([`crate::group_commit`]); should that runtime end, appends go one by one.
    pub fn new(backend: Backend) -> Self {
        let writers = matches!(backend, Backend::Sqlite(_)).then(Writers::default);
        let commits = Arc::new(watch::channel(0).0);
        let appender = match (&backend, &writers, tokio::runtime::Handle::try_current()) {
            (Backend::Sqlite(pool), Some(writers), Ok(_)) => Some(Appender::start(
                pool.clone(),
                writers.clone(),
                commits.clone(),
            )),
            _ => None,
        };
        let relay_here = Arc::new(AtomicUsize::new(0));
        if let Backend::Postgres(pool) = &backend {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(wake_relay(
                        pool.clone(),
                        commits.subscribe(),
                        relay_here.clone(),
                    ));
                }
                Err(_) => tracing::warn!(
                    "no async runtime: commits will not wake the outbox relay (it polls)"
                ),
            }
        }
        Self {
            backend,
            derived: None,
            notify: None,
            notify_updates: None,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            aggregate_cache: DEFAULT_AGGREGATE_CACHE,
            commits,
            relay_here,
            writers,
            appender,
            first_events: Arc::new(std::sync::Mutex::new(hashlink::LruCache::new(
                FIRST_EVENTS_KEPT,
            ))),
        }
    }

    /// On SQLite, waits for this process's turn to write and holds it until dropped; on
    /// Postgres, returns at once. SQLite has one writer per file, and its busy handler lets
    /// waiting connections poll with growing sleeps, so under load one of them can lose every
    /// race for the whole busy timeout and fail with "database is locked". Taking turns here
    /// first (a fair, first-come queue across both pools) leaves the busy handler only
    /// writers of other processes to wait for. Hold it for one short transaction and await
    /// nothing else that could wait for another writer meanwhile.
    /// `by` names the writer in the metrics.
    pub async fn write_turn(&self, by: &'static str) -> WriteTurn {
        match &self.writers {
            Some(writers) => Some(writers.turn(by).await),
            None => None,
        }
    }

    /// Changes whenever this process commits events, so in-process consumers (the embedded
    /// feed) wake at once instead of polling. Commits by other processes are not seen here.
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Marks an outbox relay of this process as the leader until the mark is dropped: this
    /// process's commits then stop notifying [`OUTBOX_CHANNEL`], since the leader sees them
    /// through [`Database::subscribe_commits`]. Take it only once the relay watches those
    /// commits, and drop it as soon as it stops leading: a leader elsewhere needs the
    /// notifications again (until then it finds these commits by polling).
    /// When dropped it also sends one notification, for the commits that skipped theirs.
    pub fn relay_leads_here(&self) -> RelayLeadsHere {
        self.relay_here.fetch_add(1, Ordering::AcqRel);
        RelayLeadsHere {
            marks: self.relay_here.clone(),
            commits: self.commits.clone(),
        }
    }

    /// On Postgres, this database through a pool of its own, as large as this one's, sharing
    /// everything else (the commits that wake an in-process relay included); on SQLite, the
    /// same handle (one writer per file, shared by design). For the event consumers of a
    /// process that also serves the API: at hundreds of clients the API's requests fill its
    /// pool, and a projector waiting in that queue for each statement fell tens of seconds
    /// behind.
    pub async fn with_own_pool(&self) -> Result<Self, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(self.clone());
        };
        let own = postgres_pool_options()
            .max_connections(pool.options().get_max_connections())
            .acquire_timeout(pool.options().get_acquire_timeout())
            .connect_with((*pool.connect_options()).clone())
            .await?;
        Ok(Self {
            backend: Backend::Postgres(own),
            ..self.clone()
        })
    }

    /// Sets the events between snapshots; 0 turns snapshots off.
    pub fn with_snapshot_every(mut self, events: usize) -> Self {
        self.snapshot_every = events;
        self
    }

    /// Sets how many aggregates of each type the command handlers remember; 0 turns the cache
    /// off (see [`crate::commands`]).
    pub fn with_aggregate_cache(mut self, aggregates: usize) -> Self {
        self.aggregate_cache = aggregates;
        self
    }

    /// The pool, for read models and relays that share the database.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Closes every pool on the database (both, on SQLite), waiting for connections in use
    /// to be returned; for an orderly shutdown, and before a test deletes the file.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
        if let Some(derived) = &self.derived {
            derived.close().await;
        }
        if let Some(notify) = &self.notify {
            notify.close().await;
        }
        if let Some(updates) = &self.notify_updates {
            updates.close().await;
        }
    }

    /// The event repository for aggregate `A`.
    pub fn repository<A: Versioned>(&self) -> EventRepository {
        EventRepository::new(&self.backend, A::SNAPSHOT_LAYOUT)
            .notifying(self.commits.clone())
            .taking_turns(self.writers.clone())
            .appending_through(self.appender.clone())
    }

    /// The event store for aggregate `A`, with its upcasters and snapshot policy: snapshots
    /// only for aggregates whose histories grow without end ([`Versioned::SNAPSHOTS`]).
    pub fn event_store<A: Versioned>(&self) -> EventStoreOf<A> {
        let repo = self.repository::<A>();
        let store = if self.snapshot_every == 0 || !A::SNAPSHOTS {
            PersistedEventStore::new_event_store(repo)
        } else {
            PersistedEventStore::new_snapshot_store(repo, self.snapshot_every)
        };
        store.with_upcasters(A::upcasters())
    }

    /// The event store the command handlers of `A` use: [`Self::event_store`] with the
    /// aggregate cache in front, for the aggregates without snapshots.
    pub fn command_store<A: Versioned>(&self) -> CachedStore<A> {
        let uses_snapshots = self.snapshot_every > 0 && A::SNAPSHOTS;
        let capacity = if uses_snapshots {
            0
        } else {
            self.aggregate_cache
        };
        CachedStore::new(self.event_store::<A>(), capacity)
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await?,
            Backend::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
                return Ok(());
            }
        };
        Ok(())
    }

    /// The first event of one aggregate (its creation: an order's placement, a customer's
    /// registration, a delivery's request), as stored; `None` while it has none. Kept once
    /// read: a stored event never changes, and several steps of each order need these (the
    /// rider's commands need the delivery's order, placing an order the customer's address, the
    /// notifier each message's order, store and customer). Read whole, a returning customer's
    /// history grew with every order.
    pub async fn first_event(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<SerializedEvent>, StoreError> {
        let key = (aggregate_type.to_string(), aggregate_id.to_string());
        let kept = self
            .first_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if kept.is_some() {
            return Ok(kept);
        }
        let sql = "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
            payload, metadata FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
            AND sequence = 1";
        let first = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(aggregate_type)
                .bind(aggregate_id)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(serialized_event)
                .transpose()
        })?;
        if let Some(event) = &first {
            self.first_events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, event.clone());
        }
        Ok(first)
    }

    /// Every stored event of one aggregate, as stored (not upcast): the audit trail.
    pub async fn history(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        self.history_after(aggregate_type, aggregate_id, 0).await
    }

    /// The stored events of one aggregate after sequence `after`, as stored (not upcast).
    pub async fn history_after(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: u64,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        const COLUMNS: &str =
            "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence > $3 ORDER BY sequence"
        );
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(after)
                .fetch_all(pool)
                .await?
                .iter()
                .map(serialized_event)
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        Ok(rows)
    }
}

fn serialized_event<R>(row: &R) -> Result<SerializedEvent, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Value: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let sequence: i64 = row.try_get("sequence")?;
    Ok(SerializedEvent::new(
        row.try_get("aggregate_id")?,
        usize::try_from(sequence).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        row.try_get("aggregate_type")?,
        row.try_get("event_type")?,
        row.try_get("event_version")?,
        row.try_get("payload")?,
        row.try_get("metadata")?,
    ))
}
