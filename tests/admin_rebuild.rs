//! `eats projections rebuild order_view` while orders are being placed through a running
//! server (at least 1,000 meanwhile, and on until the rebuild has switched): a reader polling the view all along never gets an error or misses an order that
//! existed before, no count ever goes down, and the view ends equal to the event store row by
//! row (checked against the aggregates, and by a dry-run rebuild that finds no difference).
//! On Postgres with the distributed server (relay, JetStream, projectors) and on SQLite with
//! the embedded one.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::api::{
    delete_nats_stream, distributed, namespace, open_store, place, registered_customer, Caller,
};
use common::{Server, EATS};
use eats_store::testing::TestDatabase;
use eats_store::{on_pool, Database};

mod common;

const BEFORE: usize = 200;
const DURING: usize = 1_000;
const PLACERS: usize = 8;
const FAST: [(&str, &str); 2] = [
    ("EATS_RATE_LIMIT_PER_SEC", "100000"),
    ("EATS_RATE_LIMIT_BURST", "100000"),
];

async fn scalar(db: &Database, sql: &str, at: Option<DateTime<Utc>>) -> Result<i64, sqlx::Error> {
    on_pool!(db, |pool| {
        let mut query = sqlx::query_scalar(sql);
        if let Some(at) = at {
            query = query.bind(at);
        }
        query.fetch_one(pool).await
    })
}

fn cli(env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut command = Command::new(EATS);
    command.args(args).env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run eats")
}

/// Each customer places orders until `each` are placed, and then on until `until` is set
/// (so placing is still under way whatever the rebuild takes); counts them in `placed`.
async fn place_many(
    customers: &[Arc<Caller>],
    store: &str,
    item: &str,
    each: usize,
    until: Option<Arc<AtomicBool>>,
    placed: &Arc<AtomicUsize>,
) {
    let tasks: Vec<_> = customers
        .iter()
        .map(|customer| {
            let (customer, store, item, placed, until) = (
                customer.clone(),
                store.to_string(),
                item.to_string(),
                placed.clone(),
                until.clone(),
            );
            tokio::spawn(async move {
                let mut mine = 0;
                while mine < each || until.as_ref().is_some_and(|u| !u.load(Ordering::SeqCst)) {
                    place(&customer, &store, &item).await;
                    placed.fetch_add(1, Ordering::SeqCst);
                    mine += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("placer");
    }
}

async fn rebuilding_under_load_serves_every_order_throughout(
    server: &Server,
    db: &Database,
    cli_env: Vec<(&'static str, String)>,
) {
    let (_owner, store, item) = open_store(server).await;
    let mut customers = Vec::new();
    for _ in 0..PLACERS {
        customers.push(Arc::new(registered_customer(server).await));
    }
    let before_placed = Arc::new(AtomicUsize::new(0));
    place_many(
        &customers,
        &store,
        &item,
        BEFORE / PLACERS,
        None,
        &before_placed,
    )
    .await;
    let cutoff = Utc::now();
    let existing =
        "SELECT count(*) FROM order_view WHERE placed_at IS NOT NULL AND placed_at <= $1";
    common::api::eventually("the first orders in the view", || async {
        (scalar(db, existing, Some(cutoff)).await.ok() == Some(BEFORE as i64)).then_some(())
    })
    .await;
    let (_, one) = customers[0].get("/orders?limit=1").await;
    let first_order = one["items"][0]["order_id"]
        .as_str()
        .expect("an order")
        .to_string();

    // The reader: the view through SQL and the API, as often as it can, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, db, customer) = (stop.clone(), db.clone(), customers[0].clone());
        tokio::spawn(async move {
            let (mut polls, mut problems, mut highest) = (0_u64, Vec::new(), 0_i64);
            while !stop.load(Ordering::SeqCst) {
                polls += 1;
                match scalar(&db, existing, Some(cutoff)).await {
                    Ok(n) if n == BEFORE as i64 => {}
                    Ok(n) => {
                        problems.push(format!("{n} of the {BEFORE} earlier orders in the view"))
                    }
                    Err(e) => problems.push(format!("reading the view: {e}")),
                }
                match scalar(
                    &db,
                    "SELECT count(*) FROM order_view WHERE placed_at IS NOT NULL",
                    None,
                )
                .await
                {
                    Ok(n) if n >= highest => highest = n,
                    Ok(n) => problems.push(format!("the view went from {highest} orders to {n}")),
                    Err(e) => problems.push(format!("counting the view: {e}")),
                }
                let (status, body) = customer.get(&format!("/orders/{first_order}")).await;
                if status != 200 {
                    problems.push(format!("GET an earlier order: {status} {body}"));
                }
                let (status, body) = customer.get("/orders?limit=50").await;
                if status != 200 {
                    problems.push(format!("GET /orders: {status} {body}"));
                }
            }
            (polls, problems)
        })
    };

    let placed = Arc::new(AtomicUsize::new(0));
    let switched = Arc::new(AtomicBool::new(false));
    let placing = {
        let (customers, store, item, placed, switched) = (
            customers.clone(),
            store.clone(),
            item.clone(),
            placed.clone(),
            switched.clone(),
        );
        tokio::spawn(async move {
            place_many(
                &customers,
                &store,
                &item,
                DURING / PLACERS,
                Some(switched),
                &placed,
            )
            .await
        })
    };
    common::api::eventually("placing under way", || async {
        (placed.load(Ordering::SeqCst) >= 100).then_some(())
    })
    .await;
    let rebuild = {
        let env = cli_env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
            cli(
                &env,
                &[
                    "projections",
                    "rebuild",
                    "order_view",
                    "--json",
                    "--batch",
                    "50",
                ],
            )
        })
        .await
        .expect("rebuild")
    };
    let placed_at_switch = placed.load(Ordering::SeqCst);
    switched.store(true, Ordering::SeqCst);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&rebuild.stdout).expect("one JSON line");
    assert_eq!(report["switched"], true, "{report}");
    assert!(report["events"].as_u64() > Some(BEFORE as u64), "{report}");
    placing.await.expect("placing");
    stop.store(true, Ordering::SeqCst);
    let (polls, problems) = reader.await.expect("reader");
    assert!(polls > 10, "the reader polled {polls} times only");
    eprintln!(
        "rebuild under load: {report}; {placed_at_switch} placed when it returned; \
         {polls} polls"
    );
    assert!(
        problems.is_empty(),
        "{} problems in {polls} polls: {problems:#?}",
        problems.len()
    );

    let during = placed.load(Ordering::SeqCst);
    assert!(during >= DURING, "{during} placed meanwhile");
    let orders = (BEFORE + during) as i64;
    common::api::eventually("every order in the view", || async {
        (scalar(
            db,
            "SELECT count(*) FROM order_view WHERE placed_at IS NOT NULL",
            None,
        )
        .await
        .ok()
            == Some(orders))
        .then_some(())
    })
    .await;
    assert_eq!(
        scalar(db, "SELECT count(*) FROM order_view", None)
            .await
            .expect("count"),
        orders,
        "one row per order, nothing else"
    );
    let report = eats_projections::verify::verify(db).await.expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    // Every order's events applied once, up to its last: the positions the live projector
    // went on from after the switch.
    let applied = scalar(
        db,
        "SELECT CAST(sum(sequence) AS BIGINT) FROM projection_positions \
         WHERE projection = 'order_view' AND aggregate_type = 'Order'",
        None,
    )
    .await
    .expect("positions");
    let stored = scalar(
        db,
        "SELECT count(*) FROM events WHERE aggregate_type = 'Order'",
        None,
    )
    .await
    .expect("events");
    assert_eq!(applied, stored);

    // The rebuilt table has the live one's indexes under the live names (migrations name them).
    let indexes: Vec<String> = match db.backend() {
        eats_store::Backend::Postgres(pool) => sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'order_view' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .expect("indexes"),
        eats_store::Backend::Sqlite(pool) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'order_view' \
             AND sql IS NOT NULL ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .expect("indexes"),
    };
    let expected: &[&str] = match db.backend() {
        eats_store::Backend::Postgres(_) => &["order_view_by_customer", "order_view_pkey"],
        eats_store::Backend::Sqlite(_) => &["order_view_by_customer"],
    };
    assert_eq!(indexes, expected);

    let dry = cli(
        &cli_env,
        &["projections", "rebuild", "order_view", "--dry-run"],
    );
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(printed.contains("no differences"), "{printed}");
    let status = cli(&cli_env, &["projections", "status", "order_view", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["leftovers"], serde_json::json!([]), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_rebuild_under_load_serves_every_order_throughout() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let ns = namespace("admin_rebuild_");
    let server = distributed(&url, &ns, &FAST);
    rebuilding_under_load_serves_every_order_throughout(
        &server,
        &test.db,
        vec![("EATS_DATABASE_URL", url.clone())],
    )
    .await;
    assert!(server.terminate());
    delete_nats_stream(&ns).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_a_rebuild_under_load_serves_every_order_throughout() {
    let test = TestDatabase::sqlite().await;
    let data_dir = test.data_dir.clone().expect("sqlite folder");
    let folder = data_dir.to_str().expect("utf-8").to_string();
    let mut env = vec![("EATS_DATA_DIR", folder.as_str())];
    env.extend_from_slice(&FAST);
    let server = Server::start(&env);
    rebuilding_under_load_serves_every_order_throughout(
        &server,
        &test.db,
        vec![("EATS_DATA_DIR", folder.clone())],
    )
    .await;
    assert!(server.terminate());
    test.cleanup().await;
}
