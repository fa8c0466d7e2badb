//! Baselines of the write path, so a load run can say how far eats is from what the database
//! and the bare framework give on the same machine at the same concurrency.
//!
//! Every baseline runs the same workload: `clients` concurrent clients in a closed loop, each
//! taking fresh orders through place -> pay -> accept. Each of those three commands loads
//! the order's events and then appends exactly one event in its own transaction, as a
//! cqrs-es command does. Commands are counted and timed for a fixed time after a warm-up.
//!
//! - [`raw_sql_floor`]: the cheapest SQL of that shape on Postgres: per command, on one pooled
//!   connection, `SELECT` the aggregate's rows, then `BEGIN; INSERT` one row; `COMMIT`. No
//!   framework, no triggers: what the database and the disk's fsync give.
//! - [`bare_postgres_es`]: plain cqrs-es `CqrsFramework` over postgres-es's
//!   `PostgresEventRepository` (no snapshots, no queries, no upcasters) with a minimal
//!   aggregate of this module: what the framework costs above the floor.
//! - [`sqlite_floor`]: the raw-SQL floor on SQLite with the embedded store's settings (WAL,
//!   `synchronous = FULL`, 10 s busy timeout, a pool of 8) and its one-writer-at-a-time turns.
//!
//! The events written are the same JSON in every baseline ([`BenchEvent`] serialised as
//! cqrs-es serialises it), with the metadata map eats stamps on every event (correlation,
//! causation, actor, occurred-at, traceparent). The tables have postgres-es's event table
//! shape (`jsonb` as in eats) under names of their own, so they can share a database with
//! anything else, eats's migrations included, without its outbox trigger touching them.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework, DomainEvent};
use eats_domain::metadata::{Actor, EventMetadata, Traceparent};
use eats_domain::CustomerId;
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Acquire, ConnectOptions, Row};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::percentile;

/// Connections in each Postgres baseline's pool: eats's default `EATS_DATABASE_MAX_CONNECTIONS`,
/// so clients queue for connections as they do on an eats server.
pub const POSTGRES_POOL: u32 = 16;

/// Connections in the SQLite baseline's pool: the embedded event store's pool size.
pub const SQLITE_POOL: u32 = 8;

/// The aggregate type written by every baseline (as eats's orders).
const AGGREGATE_TYPE: &str = "Order";

/// The raw floors' event table (Postgres and SQLite).
const RAW_TABLE: &str = "baseline_raw_events";
/// postgres-es's event table in [`bare_postgres_es`].
const ES_TABLE: &str = "baseline_es_events";
/// postgres-es's snapshot table in [`bare_postgres_es`]; never written (no snapshots), but the
/// repository is configured with a name for it.
const ES_SNAPSHOT_TABLE: &str = "baseline_es_snapshots";

/// The SQLite file the SQLite floor writes in its folder.
const SQLITE_FILE: &str = "baseline.db";

/// One of the three commands every client issues on each order, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The customer places the order: the first event of a new aggregate.
    Place,
    /// The payment is recorded: the second event.
    Pay,
    /// The store accepts: the third event.
    Accept,
}

impl Step {
    /// The steps of one order, in order.
    pub const ALL: [Step; 3] = [Step::Place, Step::Pay, Step::Accept];

    /// The step's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Place => "place",
            Step::Pay => "pay",
            Step::Accept => "accept",
        }
    }
}

/// Latency of one step's commands, for seeing whether the first event of an aggregate costs
/// more than the later ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLatency {
    /// Which command.
    pub step: Step,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
}

/// What one baseline measured at one client count.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineReport {
    /// The baseline: `raw_sql_floor`, `bare_postgres_es` or `sqlite_floor`.
    pub name: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// The measured window (after the warm-up).
    pub measured: Duration,
    /// Commands that started and finished inside the measured window.
    pub commands: u64,
    /// `commands` per second of the measured window.
    pub commands_per_sec: f64,
    /// Median latency of one command, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency of one command, milliseconds.
    pub p99_ms: f64,
    /// The same per step, in [`Step::ALL`] order.
    pub steps: Vec<StepLatency>,
}

/// The three baselines at one client count, as the load generator prints them beside eats.
#[derive(Clone, Debug, PartialEq)]
pub struct Baselines {
    /// See [`raw_sql_floor`].
    pub raw_sql_floor: BaselineReport,
    /// See [`bare_postgres_es`].
    pub bare_postgres_es: BaselineReport,
    /// See [`sqlite_floor`].
    pub sqlite_floor: BaselineReport,
}

impl Baselines {
    /// The reports in print order.
    pub fn all(&self) -> [&BaselineReport; 3] {
        [
            &self.raw_sql_floor,
            &self.bare_postgres_es,
            &self.sqlite_floor,
        ]
    }

    /// bare_postgres_es / raw_sql_floor commands per second: the share of the floor's
    /// throughput the bare framework keeps.
    pub fn framework_throughput_ratio(&self) -> f64 {
        ratio(
            self.bare_postgres_es.commands_per_sec,
            self.raw_sql_floor.commands_per_sec,
        )
    }
}

/// `a / b`, or NaN when `b` is zero (a ratio to nothing is not a number).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Runs the three baselines one after another: the Postgres ones on `postgres_url`, the
/// SQLite one in `sqlite_dir`.
pub async fn run_all(
    postgres_url: &str,
    sqlite_dir: &Path,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<Baselines> {
    Ok(Baselines {
        raw_sql_floor: raw_sql_floor(postgres_url, clients, warmup, measured).await?,
        bare_postgres_es: bare_postgres_es(postgres_url, clients, warmup, measured).await?,
        sqlite_floor: sqlite_floor(sqlite_dir, clients, warmup, measured).await?,
    })
}

// ---------------------------------------------------------------------------------------
// The events and the minimal aggregate
// ---------------------------------------------------------------------------------------

/// A priced line of a placed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchLine {
    /// The menu item.
    pub item_id: Uuid,
    /// Its name when ordered.
    pub name: String,
    /// Price of one, KRW.
    pub unit_price: i64,
    /// How many.
    pub quantity: u32,
}

/// The events of the baselines' order, sized like eats's (a few hundred bytes of JSON each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BenchEvent {
    /// The first event of an order.
    OrderPlaced {
        /// The order.
        order_id: Uuid,
        /// Who ordered.
        customer: Uuid,
        /// From which store.
        store_id: Uuid,
        /// What.
        lines: Vec<BenchLine>,
        /// What it costs, KRW.
        total: i64,
        /// Where to.
        address: String,
        /// Drop-off latitude.
        lat: f64,
        /// Drop-off longitude.
        lng: f64,
    },
    /// The payment was approved.
    OrderPaid {
        /// The payment.
        payment_id: Uuid,
        /// The amount charged, KRW.
        amount: i64,
        /// The gateway's key of the payment.
        payment_key: String,
        /// How it was paid.
        method: String,
        /// When the gateway approved it, RFC 3339.
        approved_at: String,
    },
    /// The store took the order.
    OrderAccepted {
        /// The store.
        store_id: Uuid,
        /// The owner who accepted.
        by: Uuid,
        /// When the food should be ready, RFC 3339.
        estimated_ready_at: String,
        /// A word from the store.
        note: String,
    },
}

impl DomainEvent for BenchEvent {
    fn event_type(&self) -> String {
        match self {
            BenchEvent::OrderPlaced { .. } => "OrderPlaced",
            BenchEvent::OrderPaid { .. } => "OrderPaid",
            BenchEvent::OrderAccepted { .. } => "OrderAccepted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// The commands of the baselines' order; each writes one event.
#[derive(Clone, Debug, PartialEq)]
pub enum BenchCommand {
    /// Writes [`BenchEvent::OrderPlaced`].
    Place(BenchEvent),
    /// Writes [`BenchEvent::OrderPaid`].
    Pay(BenchEvent),
    /// Writes [`BenchEvent::OrderAccepted`].
    Accept(BenchEvent),
}

/// A command that does not fit the order's state.
#[derive(Debug)]
pub struct BenchOrderError(&'static str);

impl std::fmt::Display for BenchOrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BenchOrderError {}

/// A minimal order aggregate for [`bare_postgres_es`]: a state check per command and one
/// event, so what is measured is the framework and the store, not domain logic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchOrder {
    /// Events applied so far (0 new, 1 placed, 2 paid, 3 accepted).
    stage: u8,
    total: i64,
}

impl Aggregate for BenchOrder {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = BenchCommand;
    type Event = BenchEvent;
    type Error = BenchOrderError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let (needs, event) = match command {
            BenchCommand::Place(event) => (0, event),
            BenchCommand::Pay(event) => (1, event),
            BenchCommand::Accept(event) => (2, event),
        };
        if self.stage != needs {
            return Err(BenchOrderError("command out of order"));
        }
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        if let BenchEvent::OrderPlaced { total, .. } = event {
            self.total = total;
        }
        self.stage += 1;
    }
}

/// One client's order in flight: the ids the events of its three steps are built from.
pub(crate) struct OrderCtx {
    pub(crate) id: Uuid,
    pub(crate) aggregate_id: String,
    pub(crate) customer: Uuid,
    pub(crate) store: Uuid,
    pub(crate) owner: Uuid,
}

impl OrderCtx {
    fn new(customer: Uuid, store: Uuid, owner: Uuid) -> Self {
        let id = Uuid::new_v4();
        Self {
            id,
            aggregate_id: id.to_string(),
            customer,
            store,
            owner,
        }
    }

    /// The event `step` writes.
    fn event(&self, step: Step) -> BenchEvent {
        let now = chrono::Utc::now();
        match step {
            Step::Place => BenchEvent::OrderPlaced {
                order_id: self.id,
                customer: self.customer,
                store_id: self.store,
                lines: vec![BenchLine {
                    item_id: self.store,
                    name: "참치김밥".into(),
                    unit_price: 4_500,
                    quantity: 2,
                }],
                total: 9_000,
                address: "서울 중구 을지로 12, 3층 301호".into(),
                lat: 37.566,
                lng: 126.991,
            },
            Step::Pay => BenchEvent::OrderPaid {
                payment_id: Uuid::new_v5(&self.id, b"payment"),
                amount: 9_000,
                payment_key: format!("tgen_{}", self.id.simple()),
                method: "card".into(),
                approved_at: now.to_rfc3339(),
            },
            Step::Accept => BenchEvent::OrderAccepted {
                store_id: self.store,
                by: self.owner,
                estimated_ready_at: (now + chrono::Duration::minutes(20)).to_rfc3339(),
                note: "주문 접수되었습니다. 20분 후 준비됩니다.".into(),
            },
        }
    }

    /// The metadata map eats stamps on the events of one command (an API request always has
    /// a traceparent: eats starts a trace when the client sent none).
    fn metadata(&self, step: Step) -> HashMap<String, String> {
        let actor = match step {
            Step::Place => Actor::Customer(CustomerId::from(self.customer)),
            Step::Pay => Actor::System,
            Step::Accept => Actor::StoreOwner(self.owner.into()),
        };
        EventMetadata::for_command(self.id, actor, chrono::Utc::now())
            .with_traceparent(Some(Traceparent::new_root()))
            .to_map()
    }
}

/// The JSON sizes of the payload and metadata each step writes, for the report.
pub fn event_sizes() -> Vec<(Step, usize, usize)> {
    let order = OrderCtx::new(Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    Step::ALL
        .iter()
        .map(|&step| {
            let payload = serde_json::to_string(&order.event(step)).unwrap_or_default();
            let metadata = serde_json::to_string(&order.metadata(step)).unwrap_or_default();
            (step, payload.len(), metadata.len())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The closed loop
// ---------------------------------------------------------------------------------------

/// What a baseline does for one command.
pub(crate) trait Workload: Send + Sync + 'static {
    /// Loads the order's events and appends the one event of `step`.
    fn command(
        &self,
        step: Step,
        order: &OrderCtx,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `clients` closed-loop clients on `workload` for `warmup` then `measured`, and keeps
/// the commands that started after the warm-up and finished inside the measured window.
pub(crate) async fn closed_loop<W: Workload>(
    name: &'static str,
    workload: Arc<W>,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    anyhow::ensure!(clients > 0, "at least one client");
    anyhow::ensure!(!measured.is_zero(), "a measured window longer than zero");
    let from = Instant::now() + warmup;
    let until = from + measured;
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let workload = workload.clone();
        tasks.spawn(async move {
            let (customer, store, owner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let mut samples: [Vec<f64>; 3] = Default::default();
            'orders: loop {
                let order = OrderCtx::new(customer, store, owner);
                for (i, step) in Step::ALL.into_iter().enumerate() {
                    let started = Instant::now();
                    if started >= until {
                        break 'orders;
                    }
                    workload
                        .command(step, &order)
                        .await
                        .with_context(|| format!("{name}: {}", step.name()))?;
                    let done = Instant::now();
                    if started >= from && done <= until {
                        samples[i].push((done - started).as_secs_f64() * 1_000.0);
                    }
                }
            }
            Ok::<_, anyhow::Error>(samples)
        });
    }
    let mut per_step: [Vec<f64>; 3] = Default::default();
    while let Some(joined) = tasks.join_next().await {
        let samples = joined.context("a client panicked")??;
        for (all, mine) in per_step.iter_mut().zip(samples) {
            all.extend(mine);
        }
    }
    let mut all: Vec<f64> = per_step.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let steps = Step::ALL
        .iter()
        .zip(per_step.iter_mut())
        .map(|(&step, samples)| {
            samples.sort_by(f64::total_cmp);
            StepLatency {
                step,
                p50_ms: percentile(samples, 50.0),
                p99_ms: percentile(samples, 99.0),
            }
        })
        .collect();
    Ok(BaselineReport {
        name,
        clients,
        measured,
        commands: all.len() as u64,
        commands_per_sec: all.len() as f64 / measured.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        steps,
    })
}

// ---------------------------------------------------------------------------------------
// Postgres
// ---------------------------------------------------------------------------------------

/// postgres-es's event table shape, with `jsonb` as eats stores it, and nothing else (no
/// extra index, no trigger).
fn postgres_events_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (
            aggregate_type text                         NOT NULL,
            aggregate_id   text                         NOT NULL,
            sequence       bigint CHECK (sequence >= 1) NOT NULL,
            event_type     text                         NOT NULL,
            event_version  text                         NOT NULL,
            payload        jsonb                        NOT NULL,
            metadata       jsonb                        NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence)
        )"
    )
}

async fn postgres_pool(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("a Postgres URL")?
        .application_name("eats-baseline");
    PgPoolOptions::new()
        .max_connections(POSTGRES_POOL)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// (Re)creates `tables` (name, DDL) on `pool`, empty, then checkpoints (where the user may),
/// so a checkpoint of the previous run's writes does not land in this run's window.
async fn fresh_postgres_tables(pool: &PgPool, tables: &[(&str, String)]) -> anyhow::Result<()> {
    for (name, ddl) in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(pool)
            .await?;
        sqlx::query(ddl).execute(pool).await?;
    }
    let _ = sqlx::query("CHECKPOINT").execute(pool).await;
    Ok(())
}

async fn drop_postgres_tables(pool: &PgPool, names: &[&str]) {
    for name in names {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(pool)
            .await;
    }
}

struct RawPostgres {
    pool: PgPool,
    select: String,
    insert: String,
}

impl Workload for RawPostgres {
    async fn command(&self, step: Step, order: &OrderCtx) -> anyhow::Result<()> {
        let event = order.event(step);
        let payload = serde_json::to_value(&event)?;
        let metadata = serde_json::to_value(order.metadata(step))?;
        let mut conn = self.pool.acquire().await?;
        // The same rows and columns a load reads; only the sequence is decoded.
        let rows = sqlx::query(&self.select)
            .bind(AGGREGATE_TYPE)
            .bind(&order.aggregate_id)
            .fetch_all(&mut *conn)
            .await?;
        let last: i64 = match rows.last() {
            Some(row) => row.try_get("sequence")?,
            None => 0,
        };
        let mut tx = conn.begin().await?;
        sqlx::query(&self.insert)
            .bind(AGGREGATE_TYPE)
            .bind(&order.aggregate_id)
            .bind(last + 1)
            .bind(event.event_type())
            .bind("1")
            .bind(&payload)
            .bind(&metadata)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn select_sql(table: &str, placeholder: fn(usize) -> String) -> String {
    format!(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
         metadata FROM {table} WHERE aggregate_type = {} AND aggregate_id = {} ORDER BY sequence",
        placeholder(1),
        placeholder(2)
    )
}

fn insert_sql(table: &str, placeholder: fn(usize) -> String) -> String {
    let values: Vec<String> = (1..=7).map(placeholder).collect();
    format!(
        "INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ({})",
        values.join(", ")
    )
}

/// The raw-SQL floor on Postgres at `url`: per command, on one connection of a pool of
/// [`POSTGRES_POOL`], `SELECT` the order's rows, then `BEGIN`, `INSERT` one row, `COMMIT`.
/// Works in a table of its own (`baseline_raw_events`), created empty and dropped after.
pub async fn raw_sql_floor(
    url: &str,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    let pool = postgres_pool(url).await?;
    fresh_postgres_tables(&pool, &[(RAW_TABLE, postgres_events_table(RAW_TABLE))]).await?;
    let workload = Arc::new(RawPostgres {
        pool: pool.clone(),
        select: select_sql(RAW_TABLE, |i| format!("${i}")),
        insert: insert_sql(RAW_TABLE, |i| format!("${i}")),
    });
    let report = closed_loop("raw_sql_floor", workload, clients, warmup, measured).await;
    drop_postgres_tables(&pool, &[RAW_TABLE]).await;
    pool.close().await;
    report
}

type BareCqrs = CqrsFramework<BenchOrder, PersistedEventStore<PostgresEventRepository, BenchOrder>>;

struct BarePostgresEs {
    cqrs: BareCqrs,
}

impl Workload for BarePostgresEs {
    async fn command(&self, step: Step, order: &OrderCtx) -> anyhow::Result<()> {
        let event = order.event(step);
        let command = match step {
            Step::Place => BenchCommand::Place(event),
            Step::Pay => BenchCommand::Pay(event),
            Step::Accept => BenchCommand::Accept(event),
        };
        self.cqrs
            .execute_with_metadata(&order.aggregate_id, command, order.metadata(step))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Plain cqrs-es over postgres-es at `url`: `CqrsFramework` with
/// `PersistedEventStore::new_event_store(PostgresEventRepository)` on a pool of
/// [`POSTGRES_POOL`], no snapshots, no queries, the [`BenchOrder`] aggregate, and the
/// metadata map passed with `execute_with_metadata`. Its event table (`baseline_es_events`)
/// is created empty and dropped after.
pub async fn bare_postgres_es(
    url: &str,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    let pool = postgres_pool(url).await?;
    fresh_postgres_tables(
        &pool,
        &[
            (ES_TABLE, postgres_events_table(ES_TABLE)),
            (
                ES_SNAPSHOT_TABLE,
                format!(
                    "CREATE TABLE {ES_SNAPSHOT_TABLE} (
                        aggregate_type   text   NOT NULL,
                        aggregate_id     text   NOT NULL,
                        last_sequence    bigint NOT NULL,
                        current_snapshot bigint NOT NULL,
                        payload          jsonb  NOT NULL,
                        PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
                    )"
                ),
            ),
        ],
    )
    .await?;
    let repo = PostgresEventRepository::new(pool.clone()).with_tables(ES_TABLE, ES_SNAPSHOT_TABLE);
    let workload = Arc::new(BarePostgresEs {
        cqrs: CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], ()),
    });
    let report = closed_loop("bare_postgres_es", workload, clients, warmup, measured).await;
    drop_postgres_tables(&pool, &[ES_TABLE, ES_SNAPSHOT_TABLE]).await;
    pool.close().await;
    report
}

/// A scratch Postgres database for the baselines, named like eats's test databases
/// (`eats_test_<unix time>_<random>`) so that one left behind by a run that died is dropped
/// by the next test run after an hour.
pub struct ScratchDatabase {
    /// The scratch database's URL, for the baselines.
    pub url: String,
    admin: PgPool,
    name: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the server of `admin_url` (any database there that the
    /// user may `CREATE DATABASE` from).
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .with_context(|| format!("the baselines need PostgreSQL at {admin_url}"))?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let name = format!("eats_test_{secs}_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .context("creating the scratch database")?;
        let options: PgConnectOptions = admin_url.parse()?;
        let url = options.database(&name).to_url_lossy().to_string();
        Ok(Self { url, admin, name })
    }

    /// Drops the database (closing whatever is still connected to it).
    pub async fn remove(self) {
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await;
        self.admin.close().await;
    }
}

// ---------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------

struct RawSqlite {
    pool: SqlitePool,
    /// The embedded store's writer turns: one writer at a time, first come first served.
    writers: tokio::sync::Mutex<()>,
    select: String,
    insert: String,
}

impl Workload for RawSqlite {
    async fn command(&self, step: Step, order: &OrderCtx) -> anyhow::Result<()> {
        let event = order.event(step);
        let payload = serde_json::to_string(&event)?;
        let metadata = serde_json::to_string(&order.metadata(step))?;
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(&self.select)
            .bind(AGGREGATE_TYPE)
            .bind(&order.aggregate_id)
            .fetch_all(&mut *conn)
            .await?;
        let last: i64 = match rows.last() {
            Some(row) => row.try_get("sequence")?,
            None => 0,
        };
        // As eats's repository: the load runs outside the turn, the append inside it.
        let _turn = self.writers.lock().await;
        let mut tx = conn.begin().await?;
        sqlx::query(&self.insert)
            .bind(AGGREGATE_TYPE)
            .bind(&order.aggregate_id)
            .bind(last + 1)
            .bind(event.event_type())
            .bind("1")
            .bind(&payload)
            .bind(&metadata)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The raw-SQL floor on SQLite: a fresh `baseline.db` in `dir` (created if missing; the file
/// is deleted after) with the embedded event store's settings (WAL, `synchronous = FULL`,
/// 10 s busy timeout, foreign keys on, a pool of [`SQLITE_POOL`]); per command `SELECT` the
/// order's rows, then, in this process's one-writer-at-a-time turn as eats takes it,
/// `BEGIN`, `INSERT` one row, `COMMIT`.
pub async fn sqlite_floor(
    dir: &Path,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join(SQLITE_FILE);
    remove_sqlite_files(&file);
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(SQLITE_POOL)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    sqlx::query(&format!(
        "CREATE TABLE {RAW_TABLE} (
            aggregate_type text                          NOT NULL,
            aggregate_id   text                          NOT NULL,
            sequence       integer CHECK (sequence >= 1) NOT NULL,
            event_type     text                          NOT NULL,
            event_version  text                          NOT NULL,
            payload        text                          NOT NULL,
            metadata       text                          NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence)
        ) STRICT"
    ))
    .execute(&pool)
    .await?;
    let workload = Arc::new(RawSqlite {
        pool: pool.clone(),
        writers: tokio::sync::Mutex::new(()),
        select: select_sql(RAW_TABLE, |_| "?".into()),
        insert: insert_sql(RAW_TABLE, |_| "?".into()),
    });
    let report = closed_loop("sqlite_floor", workload, clients, warmup, measured).await;
    pool.close().await;
    remove_sqlite_files(&file);
    report
}

fn remove_sqlite_files(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}
