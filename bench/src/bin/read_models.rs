//! Read models at scale: how fast the two lists that grow with the business answer once the
//! read-model tables are big, and whether their plans use indexes.
//!
//! - The store's order queue (`GET /stores/{sid}/orders`, [`store_queue::page`]) over
//!   1,000,000 orders spread over 2,000 stores (about 500 each, most delivered or cancelled,
//!   a handful active): the kitchen's default filter, `status=all` and one status, first
//!   pages and follow-on pages (cursors from walking whole stores).
//! - "Jobs within R metres" (`GET /deliveries/available`, [`delivery_board::page_near`]) with
//!   10,000 open jobs around Seoul (and a closed job for every order that got that far):
//!   radius 1, 3 and 5 km, first and follow-on pages.
//!
//! It creates a fresh Postgres database with the project's migrations, fills `store_queue`
//! and `delivery_board` with set-based SQL (`INSERT ... SELECT ... FROM generate_series`)
//! exactly as the projections would have written them (H3 cells computed by the projection's
//! own [`delivery_board::cell_of`]), runs `VACUUM ANALYZE`, then calls the real query
//! functions through [`eats_store::Database`] as the API does, from 1 and from 8 concurrent
//! clients, and reports p50/p99/p99.9 and calls/s per query, with the CPU time each call cost
//! the callers and the Postgres backends (and anything else on the machine, which should be
//! nothing: the runs share its cores). Finally it prints `EXPLAIN
//! (ANALYZE, BUFFERS)` of the exact statements those functions run (their text and arguments
//! come from [`store_queue::page_query`] and [`delivery_board::near_query`]), once with the
//! planner's custom plan and once with the generic plan a cached prepared statement may
//! switch to, and says whether each uses an index (no `Seq Scan` on the big tables); it exits
//! non-zero if one does not.
//!
//! `cargo run --release -p eats-bench --bin read_models` (about two minutes on 2 cores), or
//! `-- --quick` (100,000 orders, 1,000 calls per query); `--json` prints one JSON document
//! instead of tables, `--keep` leaves the database for a look with `psql`. Postgres comes from
//! `EATS_TEST_DATABASE_URL` (default: the local server). Results: `bench/read_models.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use eats_bench::percentile;
use eats_domain::GeoPoint;
use eats_projections::delivery_board::{self, JobKey};
use eats_projections::page::OrderKey;
use eats_projections::sql::Arg;
use eats_projections::store_queue::{self, QueueFilter};
use eats_store::testing::TestDatabase;
use eats_store::{Backend, Database};
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

/// Where stores, jobs and riders are: Seoul, roughly.
const LAT: (f64, f64) = (37.40, 37.70);
const LNG: (f64, f64) = (126.80, 127.20);
/// The page size the API uses by default.
const LIMIT: i64 = 50;
/// The goal.
const GOAL_P99_MS: f64 = 5.0;

#[derive(Parser)]
struct Args {
    /// Orders in the store queue.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Stores they are spread over (default: one per 500 orders).
    #[arg(long)]
    stores: Option<u64>,
    /// Open delivery jobs.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Timed calls per query and client count (default 5,000; 1,000 with --quick).
    #[arg(long)]
    calls: Option<usize>,
    /// Concurrent client counts to measure, e.g. `1,8`.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8])]
    clients: Vec<usize>,
    /// A short run: 100,000 orders, 1,000 calls per query.
    #[arg(long)]
    quick: bool,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// Leave the database for inspection (printed on stderr) instead of dropping it; the next
    /// test database created on the server drops it after an hour.
    #[arg(long)]
    keep: bool,
}

/// A small deterministic generator (splitmix64), so runs pick the same stores and points.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
    fn point(&mut self) -> GeoPoint {
        GeoPoint {
            lat: LAT.0 + self.unit() * (LAT.1 - LAT.0),
            lng: LNG.0 + self.unit() * (LNG.1 - LNG.0),
        }
    }
    fn uuid(&mut self) -> String {
        let bytes = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// One call of a query function, with its arguments.
#[derive(Clone)]
enum Call {
    Queue {
        store: String,
        filter: QueueFilter,
        after: Option<OrderKey>,
    },
    Board {
        at: GeoPoint,
        radius_m: u32,
        after: Option<JobKey>,
    },
}

impl Call {
    /// Runs it as the API does; the rows of the page.
    async fn run(&self, db: &Database) -> anyhow::Result<usize> {
        Ok(match self {
            Call::Queue {
                store,
                filter,
                after,
            } => store_queue::page(db, store, filter, after.as_ref(), LIMIT)
                .await?
                .items
                .len(),
            Call::Board {
                at,
                radius_m,
                after,
            } => delivery_board::page_near(db, *at, *radius_m, after.as_ref(), LIMIT)
                .await?
                .items
                .len(),
        })
    }

    /// The statement the function runs for this call, and its arguments.
    fn statement(&self) -> Option<(String, Vec<Arg>)> {
        match self {
            Call::Queue {
                store,
                filter,
                after,
            } => Some(store_queue::page_query(
                store,
                filter,
                after.as_ref(),
                LIMIT,
            )),
            Call::Board { at, radius_m, .. } => delivery_board::near_query(*at, *radius_m),
        }
    }
}

/// A query measured: its name and the calls it is measured with.
struct Case {
    name: String,
    table: &'static str,
    calls: Vec<Call>,
}

/// Latencies of one case at one client count.
struct Measured {
    clients: usize,
    calls: usize,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    calls_per_sec: f64,
    rows_per_call: f64,
    cpu_busy: f64,
    /// CPU time of the whole machine per call (this process, Postgres, anything else).
    cpu_us_per_call: f64,
    /// CPU time of this process (the callers: sqlx, decoding, the page functions) per call.
    own_cpu_us_per_call: f64,
    /// CPU time of the Postgres backends serving this database per call.
    postgres_cpu_us_per_call: f64,
}

impl Measured {
    fn json(&self) -> Value {
        json!({
            "clients": self.clients,
            "calls": self.calls,
            "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms),
            "p99_9_ms": round3(self.p999_ms),
            "max_ms": round3(self.max_ms),
            "calls_per_sec": self.calls_per_sec.round(),
            "rows_per_call": round3(self.rows_per_call),
            "machine_cpu_busy": round3(self.cpu_busy),
            "cpu_us_per_call": self.cpu_us_per_call.round(),
            "own_cpu_us_per_call": self.own_cpu_us_per_call.round(),
            "postgres_cpu_us_per_call": self.postgres_cpu_us_per_call.round(),
            "other_cpu_us_per_call": (self.cpu_us_per_call
                - self.own_cpu_us_per_call
                - self.postgres_cpu_us_per_call)
                .max(0.0)
                .round(),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Busy and total jiffies of the whole machine (`/proc/stat`), to tell whether a run was
/// bounded by CPU.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// CPU jiffies this process has used (`/proc/self/stat`: user + system).
fn own_jiffies() -> Option<u64> {
    proc_jiffies("self")
}

/// CPU jiffies a process has used (user + system), if it is on this machine.
fn proc_jiffies(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Jiffies per second as `/proc` counts them (USER_HZ, 100 on Linux).
const HZ: f64 = 100.0;

/// The Postgres backends serving this run's database, and the CPU jiffies each has used
/// (when the server runs on this machine).
async fn backend_jiffies(db: &Database) -> anyhow::Result<HashMap<i32, u64>> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND backend_type = 'client backend'",
    )
    .fetch_all(pg(db)?)
    .await?;
    Ok(pids
        .into_iter()
        .filter_map(|pid| Some((pid, proc_jiffies(&pid.to_string())?)))
        .collect())
}

/// Calls `calls` spread over `clients` concurrent tasks, each taking the next call.
async fn measure(db: &Database, calls: &[Call], clients: usize) -> anyhow::Result<Measured> {
    let calls = Arc::new(calls.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let backends_before = backend_jiffies(db).await?;
    let cpu_before = cpu_jiffies();
    let own_before = own_jiffies();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (db, calls, next) = (db.clone(), calls.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut rows = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(call) = calls.get(i) else { break };
                let t = Instant::now();
                rows += call.run(&db).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok((latencies, rows))
        });
    }
    let mut latencies = Vec::with_capacity(calls.len());
    let mut rows = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, r) = done??;
        latencies.extend(l);
        rows += r;
    }
    let wall = started.elapsed().as_secs_f64();
    let n = latencies.len().max(1) as f64;
    let (cpu_busy, cpu_us_per_call) = match (cpu_before, cpu_jiffies()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (
            (b1 - b0) as f64 / (t1 - t0) as f64,
            (b1 - b0) as f64 / HZ * 1e6 / n,
        ),
        _ => (f64::NAN, f64::NAN),
    };
    let own_cpu_us_per_call = match (own_before, own_jiffies()) {
        (Some(a), Some(b)) => (b - a) as f64 / HZ * 1e6 / n,
        _ => f64::NAN,
    };
    let backends_after = backend_jiffies(db).await?;
    let postgres_cpu_us_per_call = if backends_after.is_empty() {
        f64::NAN
    } else {
        let used: u64 = backends_after
            .iter()
            .map(|(pid, after)| after - backends_before.get(pid).copied().unwrap_or(0).min(*after))
            .sum();
        used as f64 / HZ * 1e6 / n
    };
    latencies.sort_by(f64::total_cmp);
    Ok(Measured {
        clients,
        calls: latencies.len(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        p999_ms: percentile(&latencies, 99.9),
        max_ms: latencies.last().copied().unwrap_or_default(),
        calls_per_sec: latencies.len() as f64 / wall,
        rows_per_call: rows as f64 / n,
        cpu_busy,
        cpu_us_per_call,
        own_cpu_us_per_call,
        postgres_cpu_us_per_call,
    })
}

fn pg(db: &Database) -> anyhow::Result<&PgPool> {
    match db.backend() {
        Backend::Postgres(pool) => Ok(pool),
        Backend::Sqlite(_) => bail!("this run needs Postgres"),
    }
}

/// What the load wrote and how long it took.
struct Loaded {
    seconds: f64,
    stores: Vec<String>,
    facts: Value,
}

/// Fills `store_queue` and `delivery_board` as the projections would have.
async fn load(db: &Database, orders: u64, stores: u64, jobs: u64) -> anyhow::Result<Loaded> {
    let pool = pg(db)?;
    let started = Instant::now();
    let mut rng = Rng(0x5EED_0009);

    // The stores: where they are (the pickup point of their jobs), the H3 cell the delivery
    // board projection stores for it, and two menu items for the order lines.
    let (mut ids, mut lats, mut lngs, mut cells, mut item_a, mut item_b) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..stores {
        let at = rng.point();
        ids.push(rng.uuid());
        lats.push(at.lat);
        lngs.push(at.lng);
        cells.push(delivery_board::cell_of(at).context("a cell in Seoul")?);
        item_a.push(rng.uuid());
        item_b.push(rng.uuid());
    }
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "CREATE TABLE bench_stores (idx bigint PRIMARY KEY, store_id text NOT NULL, \
         lat double precision NOT NULL, lng double precision NOT NULL, cell bigint NOT NULL, \
         item_a text NOT NULL, item_b text NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO bench_stores \
         SELECT n - 1, s, lat, lng, cell, a, b \
         FROM unnest($1::text[], $2::float8[], $3::float8[], $4::int8[], $5::text[], $6::text[]) \
              WITH ORDINALITY AS t(s, lat, lng, cell, a, b, n)",
    )
    .bind(&ids)
    .bind(&lats)
    .bind(&lngs)
    .bind(&cells)
    .bind(&item_a)
    .bind(&item_b)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT setseed(0.42)")
        .execute(&mut *conn)
        .await?;

    // The orders, round-robin over the stores, placed over the past year. 1% were placed in
    // the last 90 minutes and are spread over every status (about 5 per store, 3 of them for
    // the kitchen); older ones are finished: 90% delivered, 3% rejected, 3% cancelled after
    // payment, 4% cancelled unpaid (never visible to the store). `visible` and the JSON lines
    // are what the projection writes (0 until paid; `serde_json` of the priced lines).
    let t = Instant::now();
    sqlx::query(
        r#"INSERT INTO store_queue (order_id, store_id, status, total, lines, visible, placed_at, updated_at)
        SELECT gen_random_uuid()::text, s.store_id, o.status, o.qa * 9000 + o.qb * 12000,
               '[' || format('{"item_id":"%s","name":"Bibimbap","unit_price":9000,"quantity":%s,"line_total":%s}',
                             s.item_a, o.qa, o.qa * 9000)
                   || CASE WHEN o.qb > 0 THEN format(',{"item_id":"%s","name":"Kimchi jjigae","unit_price":12000,"quantity":%s,"line_total":%s}',
                             s.item_b, o.qb, o.qb * 12000) ELSE '' END || ']',
               CASE WHEN o.status = 'awaiting_payment' OR o.unpaid THEN 0 ELSE 1 END,
               o.placed_at,
               LEAST(o.placed_at + o.took, now())
        FROM (
            SELECT g, placed_at, qa, qb, took,
                   CASE WHEN recent THEN
                        CASE WHEN r2 < 0.08 THEN 'awaiting_payment' WHEN r2 < 0.12 THEN 'cancelled'
                             WHEN r2 < 0.30 THEN 'paid' WHEN r2 < 0.45 THEN 'accepted'
                             WHEN r2 < 0.65 THEN 'cooking' WHEN r2 < 0.75 THEN 'ready_for_pickup'
                             WHEN r2 < 0.85 THEN 'in_delivery' WHEN r2 < 0.95 THEN 'delivered'
                             WHEN r2 < 0.97 THEN 'rejected' ELSE 'cancelled' END
                   ELSE
                        CASE WHEN r2 < 0.90 THEN 'delivered' WHEN r2 < 0.93 THEN 'rejected'
                             ELSE 'cancelled' END
                   END AS status,
                   CASE WHEN recent THEN r2 >= 0.08 AND r2 < 0.12 ELSE r2 >= 0.96 END AS unpaid
            FROM (
                SELECT g, r1 < 0.01 AS recent, r2,
                       CASE WHEN r1 < 0.01 THEN now() - r3 * interval '90 minutes'
                            ELSE now() - interval '90 minutes' - r3 * interval '365 days' END AS placed_at,
                       1 + floor(r4 * 3)::int AS qa, floor(r5 * 3)::int AS qb,
                       r4 * interval '60 minutes' AS took
                FROM (
                    SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                           random() AS r5
                    FROM generate_series(0, $1 - 1) AS g
                ) r
            ) p
        ) o
        JOIN bench_stores s ON s.idx = o.g % $2"#,
    )
    .bind(orders as i64)
    .bind(stores as i64)
    .execute(&mut *conn)
    .await?;
    let orders_s = t.elapsed().as_secs_f64();

    // A delivery job for every order that got to ready for pickup: assigned, picked up or
    // completed; its pickup is the store, its drop-off within a few km.
    let t = Instant::now();
    sqlx::query(
        r#"INSERT INTO delivery_board (delivery_id, order_id, store_id, status, pickup_lat, pickup_lng,
               pickup_cell, dropoff_lat, dropoff_lng, radius_m, rider_id, requested_at, updated_at)
        SELECT gen_random_uuid()::text, q.order_id, q.store_id,
               CASE q.status WHEN 'ready_for_pickup' THEN 'assigned'
                             WHEN 'in_delivery' THEN 'picked_up' ELSE 'completed' END,
               s.lat, s.lng, s.cell,
               s.lat + (random() - 0.5) * 0.04, s.lng + (random() - 0.5) * 0.05,
               CASE WHEN random() < 0.85 THEN 2000 ELSE 4000 END,
               md5('rider' || floor(random() * 5000)::text)::uuid::text,
               q.updated_at, q.updated_at
        FROM store_queue q JOIN bench_stores s ON s.store_id = q.store_id
        WHERE q.status IN ('ready_for_pickup', 'in_delivery', 'delivered')"#,
    )
    .execute(&mut *conn)
    .await?;
    let closed_s = t.elapsed().as_secs_f64();

    // The open jobs, at random stores, opened in the last 20 minutes; most still at the
    // first radius (2 km), some widened once, twice or three times by the claim deadline.
    let t = Instant::now();
    sqlx::query(
        r#"INSERT INTO delivery_board (delivery_id, order_id, store_id, status, pickup_lat, pickup_lng,
               pickup_cell, dropoff_lat, dropoff_lng, radius_m, rider_id, requested_at, updated_at)
        SELECT gen_random_uuid()::text, gen_random_uuid()::text, s.store_id, 'open',
               s.lat, s.lng, s.cell,
               s.lat + (j.r1 - 0.5) * 0.04, s.lng + (j.r2 - 0.5) * 0.05,
               CASE WHEN j.r3 < 0.75 THEN 2000 WHEN j.r3 < 0.93 THEN 4000
                    WHEN j.r3 < 0.99 THEN 8000 ELSE 16000 END,
               NULL, now() - j.r4 * interval '20 minutes', now() - j.r4 * interval '10 minutes'
        FROM (
            SELECT g, floor(random() * $2)::bigint AS s_idx, random() AS r1, random() AS r2,
                   random() AS r3, random() AS r4
            FROM generate_series(1, $1) AS g
        ) j
        JOIN bench_stores s ON s.idx = j.s_idx"#,
    )
    .bind(jobs as i64)
    .bind(stores as i64)
    .execute(&mut *conn)
    .await?;
    let open_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    sqlx::query("VACUUM ANALYZE store_queue")
        .execute(&mut *conn)
        .await?;
    sqlx::query("VACUUM ANALYZE delivery_board")
        .execute(&mut *conn)
        .await?;
    let analyze_s = t.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();

    let mut counts = serde_json::Map::new();
    for (table, sql) in [
        (
            "store_queue",
            "SELECT status || CASE WHEN visible = 1 THEN '' ELSE ' (unpaid, hidden)' END, \
             count(*) FROM store_queue GROUP BY 1 ORDER BY 2 DESC",
        ),
        (
            "delivery_board",
            "SELECT status, count(*) FROM delivery_board GROUP BY 1 ORDER BY 2 DESC",
        ),
    ] {
        let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
        let by_status: serde_json::Map<String, Value> = rows
            .iter()
            .map(|r| (r.get::<String, _>(0), json!(r.get::<i64, _>(1))))
            .collect();
        let size: (String, String) = sqlx::query_as(
            "SELECT pg_size_pretty(pg_table_size($1::regclass)), \
             pg_size_pretty(pg_indexes_size($1::regclass))",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        counts.insert(
            table.into(),
            json!({"rows_by_status": by_status, "table_size": size.0, "indexes_size": size.1}),
        );
    }
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings \
         WHERE name IN ('shared_buffers', 'work_mem', 'random_page_cost', 'jit', 'server_version', \
         'max_parallel_workers_per_gather')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let facts = json!({
        "orders_seconds": round3(orders_s),
        "closed_jobs_seconds": round3(closed_s),
        "open_jobs_seconds": round3(open_s),
        "vacuum_analyze_seconds": round3(analyze_s),
        "tables": counts,
        "postgres": settings
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect::<serde_json::Map<_, _>>(),
    });
    Ok(Loaded {
        seconds,
        stores: ids,
        facts,
    })
}

/// Every cursor of `filter` over `stores`, walking each store's queue to its end.
async fn queue_cursors(
    db: &Database,
    stores: &[String],
    filter: &QueueFilter,
) -> anyhow::Result<Vec<Call>> {
    let mut calls = Vec::new();
    for store in stores {
        let mut after = None;
        loop {
            let page = store_queue::page(db, store, filter, after.as_ref(), LIMIT).await?;
            let Some(next) = page.next else { break };
            calls.push(Call::Queue {
                store: store.clone(),
                filter: filter.clone(),
                after: Some(next.clone()),
            });
            after = Some(next);
        }
    }
    Ok(calls)
}

/// Every cursor of the job lists at `points` within `radius_m`.
async fn board_cursors(
    db: &Database,
    points: &[GeoPoint],
    radius_m: u32,
) -> anyhow::Result<Vec<Call>> {
    let mut calls = Vec::new();
    for at in points {
        let mut after = None;
        loop {
            let page = delivery_board::page_near(db, *at, radius_m, after.as_ref(), LIMIT).await?;
            let Some(next) = page.next else { break };
            calls.push(Call::Board {
                at: *at,
                radius_m,
                after: Some(next.clone()),
            });
            after = Some(next);
        }
    }
    Ok(calls)
}

/// `n` calls drawn from `pool` at random.
fn draw(rng: &mut Rng, pool: &[Call], n: usize) -> Vec<Call> {
    (0..n)
        .filter_map(|_| pool.get(rng.below(pool.len())).cloned())
        .collect()
}

/// The cases measured, each with `n` calls.
async fn cases(db: &Database, stores: &[String], n: usize) -> anyhow::Result<Vec<Case>> {
    let mut rng = Rng(0xCA11_5EED);
    let queue_first = |rng: &mut Rng, filter: QueueFilter| -> Vec<Call> {
        (0..n)
            .map(|_| Call::Queue {
                store: stores[rng.below(stores.len())].clone(),
                filter: filter.clone(),
                after: None,
            })
            .collect()
    };
    let walked: Vec<String> = (0..100.min(stores.len()))
        .map(|_| stores[rng.below(stores.len())].clone())
        .collect();
    let delivered = QueueFilter::Status("delivered".into());
    let all_next = queue_cursors(db, &walked, &QueueFilter::All).await?;
    let delivered_next = queue_cursors(db, &walked, &delivered).await?;
    let mut cases = vec![
        Case {
            name: "store queue, kitchen (default), first page".into(),
            table: "store_queue",
            calls: queue_first(&mut rng, QueueFilter::Kitchen),
        },
        Case {
            name: "store queue, status=all, first page".into(),
            table: "store_queue",
            calls: queue_first(&mut rng, QueueFilter::All),
        },
        Case {
            name: format!(
                "store queue, status=all, next pages ({} cursors)",
                all_next.len()
            ),
            table: "store_queue",
            calls: draw(&mut rng, &all_next, n),
        },
        Case {
            name: "store queue, status=delivered, first page".into(),
            table: "store_queue",
            calls: queue_first(&mut rng, delivered.clone()),
        },
        Case {
            name: format!(
                "store queue, status=delivered, next pages ({} cursors)",
                delivered_next.len()
            ),
            table: "store_queue",
            calls: draw(&mut rng, &delivered_next, n),
        },
        Case {
            name: "store queue, status=cooking, first page".into(),
            table: "store_queue",
            calls: queue_first(&mut rng, QueueFilter::Status("cooking".into())),
        },
    ];
    let walk_points: Vec<GeoPoint> = (0..100).map(|_| rng.point()).collect();
    for radius_m in [1_000, 3_000, 5_000] {
        cases.push(Case {
            name: format!("jobs within {} km, first page", radius_m / 1000),
            table: "delivery_board",
            calls: (0..n)
                .map(|_| Call::Board {
                    at: rng.point(),
                    radius_m,
                    after: None,
                })
                .collect(),
        });
        let next = board_cursors(db, &walk_points, radius_m).await?;
        if !next.is_empty() {
            cases.push(Case {
                name: format!(
                    "jobs within {} km, next pages ({} cursors)",
                    radius_m / 1000,
                    next.len()
                ),
                table: "delivery_board",
                calls: draw(&mut rng, &next, n),
            });
        }
    }
    Ok(cases)
}

/// How many rows the job query reads per call (the candidates of the covering cells) and
/// how many of them the page function keeps (within reach), over random points.
async fn board_reads(db: &Database, radius_m: u32) -> anyhow::Result<Value> {
    let pool = pg(db)?;
    let mut rng = Rng(0xB0A2D);
    let (mut read, mut kept, mut cells) = (vec![], vec![], 0);
    for _ in 0..200 {
        let at = rng.point();
        let Some((sql, args)) = delivery_board::near_query(at, radius_m) else {
            continue;
        };
        cells = delivery_board::covering_cells(at, radius_m).len();
        let counting = format!("SELECT count(*) FROM ({sql}) q");
        let count: i64 = eats_projections::bind_args!(sqlx::query_scalar(&counting), &args)
            .fetch_one(pool)
            .await?;
        read.push(count as f64);
        let mut within = 0;
        let mut after = None;
        loop {
            let page = delivery_board::page_near(db, at, radius_m, after.as_ref(), 200).await?;
            within += page.items.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        kept.push(within as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    Ok(json!({
        "radius_m": radius_m,
        "covering_cells": cells,
        "rows_read_mean": mean(&read).round(),
        "rows_read_max": max(&read),
        "jobs_within_reach_mean": mean(&kept).round(),
        "jobs_within_reach_max": max(&kept),
    }))
}

/// An argument as an SQL literal and its type, for `PREPARE`/`EXECUTE`.
fn literal(arg: &Arg) -> (String, &'static str) {
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    match arg {
        Arg::Text(v) => (v.as_deref().map_or("NULL".into(), text), "text"),
        Arg::Int(v) => (v.map_or("NULL".into(), |v| v.to_string()), "bigint"),
        Arg::Real(v) => (v.map_or("NULL".into(), |v| v.to_string()), "float8"),
        Arg::Time(v) => (
            v.map_or("NULL".into(), |v| text(&v.to_rfc3339())),
            "timestamptz",
        ),
    }
}

/// The verdict on one plan.
struct Plan {
    case: String,
    kind: &'static str,
    lines: Vec<String>,
    indexes: Vec<String>,
    seq_scan: bool,
}

impl Plan {
    fn of(case: &str, kind: &'static str, table: &str, lines: Vec<String>) -> Self {
        let seq_scan = lines
            .iter()
            .any(|l| l.contains(&format!("Seq Scan on {table}")));
        let indexes = lines
            .iter()
            .filter(|l| l.contains("Index Scan") || l.contains("Index Only Scan"))
            .map(|l| {
                l.trim()
                    .trim_start_matches("->")
                    .trim()
                    .split("  (")
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        Self {
            case: case.to_string(),
            kind,
            lines,
            indexes,
            seq_scan,
        }
    }
    fn ok(&self) -> bool {
        !self.seq_scan && !self.indexes.is_empty()
    }
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the exact statement of `call`: as the planner plans it
/// for these values, and as the generic plan a cached prepared statement may switch to.
async fn explain(db: &Database, case: &Case) -> anyhow::Result<Vec<Plan>> {
    let pool = pg(db)?;
    // The call with the fullest page among the first few: a plan over rows, not an empty one.
    let mut example = None;
    let mut most = 0;
    for call in case.calls.iter().take(20) {
        let rows = call.run(db).await?;
        if example.is_none() || rows > most {
            (example, most) = (Some(call), rows);
        }
    }
    let Some((sql, args)) = example.and_then(Call::statement) else {
        return Ok(Vec::new());
    };
    let explaining = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    let custom: Vec<String> = eats_projections::bind_args!(sqlx::query_scalar(&explaining), &args)
        .fetch_all(pool)
        .await?;
    let mut conn = pool.acquire().await?;
    let (values, types): (Vec<String>, Vec<&str>) = args.iter().map(literal).unzip();
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(&format!(
        "PREPARE bench_plan ({}) AS {sql}",
        types.join(", ")
    ))
    .execute(&mut *conn)
    .await?;
    let generic: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_plan ({})",
        values.join(", ")
    ))
    .fetch_all(&mut *conn)
    .await?;
    sqlx::raw_sql("DEALLOCATE bench_plan; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await?;
    Ok(vec![
        Plan::of(&case.name, "custom", case.table, custom),
        Plan::of(&case.name, "generic", case.table, generic),
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let orders = if args.quick && args.orders == 1_000_000 {
        100_000
    } else {
        args.orders
    };
    let stores = args.stores.unwrap_or((orders / 500).max(1));
    let calls = args.calls.unwrap_or(if args.quick { 1_000 } else { 5_000 });
    let test = TestDatabase::postgres().await;
    let result = run(&test.db, &args, orders, stores, calls).await;
    if args.keep {
        eprintln!("kept: {}", test.url.as_deref().unwrap_or_default());
        test.db.close().await;
    } else {
        test.cleanup().await;
    }
    let all_plans_ok = result?;
    if !all_plans_ok {
        bail!("a plan reads a big table without an index");
    }
    Ok(())
}

/// Prints a line unless the output is JSON (then progress goes to stderr).
macro_rules! say {
    ($json:expr, $($t:tt)*) => {
        if $json { eprintln!($($t)*) } else { println!($($t)*) }
    };
}

async fn run(
    db: &Database,
    args: &Args,
    orders: u64,
    stores: u64,
    calls: usize,
) -> anyhow::Result<bool> {
    let quiet = args.json;
    say!(
        quiet,
        "loading {orders} orders over {stores} stores and {} open jobs ...",
        args.jobs
    );
    let loaded = load(db, orders, stores, args.jobs).await?;
    say!(
        quiet,
        "loaded in {:.1} s: {}",
        loaded.seconds,
        serde_json::to_string_pretty(&loaded.facts)?
    );

    let cases = cases(db, &loaded.stores, calls).await?;
    let mut reads = Vec::new();
    for radius_m in [1_000, 3_000, 5_000] {
        reads.push(board_reads(db, radius_m).await?);
    }
    say!(
        quiet,
        "job reads per call (200 random points): {}",
        serde_json::to_string_pretty(&reads)?
    );

    // What else the machine is doing (the runs below share its cores).
    let before = cpu_jiffies();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let background = match (before, cpu_jiffies()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    };
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    say!(
        quiet,
        "machine: {} cores; CPU busy before the runs (2 s, this run idle): {:.0}%; load average: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        background * 100.0,
        loadavg.trim()
    );

    // Warm up: every case a little, so connections have their statements prepared and the
    // caches hold what a running server's would.
    for case in &cases {
        let clients = args.clients.iter().copied().max().unwrap_or(1);
        measure(db, &case.calls[..case.calls.len().min(500)], clients).await?;
    }

    say!(
        quiet,
        "\n{:<55} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>5} {:>20}",
        "query (limit 50)",
        "clients",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "calls/s",
        "rows",
        "cpu",
        "us/call: bench pg other"
    );
    say!(
        quiet,
        "(cpu: the machine busy during the run, all cores; us/call: CPU time per call of this \
         process (the callers), of the Postgres backends serving it, and of everything else on \
         the machine)"
    );
    let mut results = Vec::new();
    let mut goal_met = true;
    for case in &cases {
        let mut per_clients = Vec::new();
        for &clients in &args.clients {
            let m = measure(db, &case.calls, clients).await?;
            say!(
                quiet,
                "{:<55} {:>7} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.0} {:>6.1} {:>4.0}% {:>6.0} {:>6.0} {:>6.0}",
                case.name,
                clients,
                m.p50_ms,
                m.p99_ms,
                m.p999_ms,
                m.max_ms,
                m.calls_per_sec,
                m.rows_per_call,
                m.cpu_busy * 100.0,
                m.own_cpu_us_per_call,
                m.postgres_cpu_us_per_call,
                (m.cpu_us_per_call - m.own_cpu_us_per_call - m.postgres_cpu_us_per_call).max(0.0)
            );
            goal_met &= m.p99_ms < GOAL_P99_MS;
            per_clients.push(m.json());
        }
        results.push(json!({"query": case.name, "runs": per_clients}));
    }

    let mut plans = Vec::new();
    for case in &cases {
        plans.extend(explain(db, case).await?);
    }
    let mut all_ok = true;
    for plan in &plans {
        all_ok &= plan.ok();
        say!(
            quiet,
            "\n== {} ({} plan): {}\n{}",
            plan.case,
            plan.kind,
            if plan.ok() {
                format!("INDEX USED, no Seq Scan: {}", plan.indexes.join("; "))
            } else {
                "NOT INDEXED: Seq Scan on a big table".to_string()
            },
            plan.lines.join("\n")
        );
    }
    say!(
        quiet,
        "\nevery plan uses an index: {}; p99 < {GOAL_P99_MS} ms for every query at every client \
         count: {}",
        if all_ok { "yes" } else { "NO" },
        if goal_met { "yes" } else { "NO" }
    );
    if args.json {
        let doc = json!({
            "orders": orders,
            "stores": stores,
            "open_jobs": args.jobs,
            "calls_per_run": calls,
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "background_cpu_busy": round3(background),
            "limit": LIMIT,
            "load_seconds": round3(loaded.seconds),
            "load": loaded.facts,
            "job_reads": reads,
            "results": results,
            "plans": plans.iter().map(|p| json!({
                "query": p.case,
                "plan": p.kind,
                "index_used": p.ok(),
                "indexes": p.indexes,
                "lines": p.lines,
            })).collect::<Vec<_>>(),
            "all_plans_indexed": all_ok,
            "p99_goal_ms": GOAL_P99_MS,
            "p99_goal_met": goal_met,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(all_ok)
}
