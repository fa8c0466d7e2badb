//! Live order streams of the real `eats` binary: each change is pushed as it happens (no
//! stream polls, so a broken wake-up hangs these tests), in one embedded process and across
//! processes when the API runs no projectors; the per-user cap, freeing a slot when a client
//! leaves, and heartbeats.

mod common;

use std::time::{Duration, Instant};

use common::{Server, NATS_URL, SECRET};
use eats_api::{Auth, Role};
use eats_store::testing::TestDatabase;
use serde_json::{json, Value};
use uuid::Uuid;

/// Longest wait for anything pushed: generous, only there so a broken push fails instead of
/// hanging forever.
const LIVENESS: Duration = Duration::from_secs(30);

/// A user of the API with their own token.
struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    fn new(server: &Server, role: Role) -> Self {
        let token = Auth::hs256(SECRET.as_bytes())
            .expect("key")
            .mint(Uuid::new_v4(), role, chrono::Duration::minutes(30))
            .expect("token");
        Self {
            http: reqwest::Client::new(),
            base: format!("{}/api/v1", server.base),
            token,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn open_stream(&self, order: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/orders/{order}/stream", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("stream request")
    }

    /// The order's stream over a socket of its own, read up to its first change: dropping it
    /// closes the connection the way a closed browser tab does.
    async fn raw_stream(&self, order: &str) -> tokio::net::TcpStream {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = reqwest::Url::parse(&self.base).expect("base");
        let host = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().expect("port")
        );
        let mut socket = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let request = format!(
            "GET {}/orders/{order}/stream HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
            url.path(),
            self.token
        );
        socket.write_all(request.as_bytes()).await.expect("send");
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("awaiting_payment") {
            let mut buf = [0_u8; 4096];
            let n = tokio::time::timeout(LIVENESS, socket.read(&mut buf))
                .await
                .expect("the first change before the liveness bound")
                .expect("read");
            assert!(
                n > 0,
                "the stream ended early: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
        socket
    }

    async fn stream(&self, order: &str) -> Stream {
        let response = self.open_stream(order).await;
        assert_eq!(response.status(), 200);
        Stream {
            response,
            buffer: String::new(),
        }
    }
}

/// What arrives on an SSE stream, block by block.
#[derive(Debug, PartialEq)]
enum Block {
    /// A status change: (event id, status).
    Change(String, String),
    /// A comment line: the heartbeat.
    Heartbeat,
    /// The server ended the stream.
    End,
}

struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn next(&mut self) -> Block {
        loop {
            if let Some(at) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..at + 2).collect();
                if block.starts_with(':') {
                    return Block::Heartbeat;
                }
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                let id = field("id:").expect("an id");
                let data: Value =
                    serde_json::from_str(&field("data:").expect("data")).expect("JSON");
                return Block::Change(id, data["status"].as_str().expect("status").to_string());
            }
            let chunk = tokio::time::timeout(LIVENESS, self.response.chunk())
                .await
                .expect("something pushed before the liveness bound")
                .expect("reading the stream");
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                None => return Block::End,
            }
        }
    }

    /// The next status change, skipping heartbeats (which do not extend the liveness bound).
    async fn change(&mut self) -> Block {
        let skipping_heartbeats = async {
            loop {
                match self.next().await {
                    Block::Heartbeat => continue,
                    other => return other,
                }
            }
        };
        tokio::time::timeout(LIVENESS, skipping_heartbeats)
            .await
            .expect("a change pushed before the liveness bound")
    }
}

fn change(id: u32, status: &str) -> Block {
    Block::Change(id.to_string(), status.to_string())
}

/// An open store with one item, a registered customer and their order awaiting payment:
/// (owner, store id, customer, order id).
async fn placed_order(server: &Server) -> (Caller, String, Caller, String) {
    let owner = Caller::new(server, Role::StoreOwner);
    let here = json!({"lat": 37.5665, "lng": 126.978});
    let (s, store) = owner
        .post("/stores", json!({"name": "김밥천국 시청점", "address": "서울 중구 세종대로 110", "location": here}))
        .await;
    assert_eq!(s, 201, "{store}");
    let store = store["id"].as_str().expect("id").to_string();
    let (s, item) = owner
        .post(
            &format!("/stores/{store}/menu/items"),
            json!({"name": "참치김밥", "price": 4500}),
        )
        .await;
    assert_eq!(s, 201, "{item}");
    let (s, _) = owner
        .post(&format!("/stores/{store}/open"), json!({}))
        .await;
    assert_eq!(s, 200);
    let customer = Caller::new(server, Role::Customer);
    let (s, body) = customer
        .post(
            "/customers",
            json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item["id"], "quantity": 1}]}),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let order = order["id"].as_str().expect("id").to_string();
    (owner, store, customer, order)
}

/// Opens the order's stream before anything happens to it, then takes each step only once
/// the previous one has been pushed, so every change must arrive by a wake-up.
async fn each_change_is_pushed_as_it_happens(api: &Server) {
    let (owner, store, customer, order) = placed_order(api).await;
    let mut stream = customer.stream(&order).await;
    assert_eq!(stream.change().await, change(1, "awaiting_payment"));

    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_20261204"}),
        )
        .await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(stream.change().await, change(2, "paid"));

    let (s, body) = owner
        .post(&format!("/stores/{store}/orders/{order}/accept"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(stream.change().await, change(3, "accepted"));

    let (s, body) = customer
        .post(&format!("/orders/{order}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(stream.change().await, change(4, "cancelled"));
    assert_eq!(
        stream.change().await,
        Block::End,
        "closed after the last change"
    );
}

fn embedded(extra: &[(&str, &str)]) -> (Server, std::path::PathBuf) {
    let data = std::env::temp_dir().join(format!("eats_streams_{}", Uuid::new_v4().simple()));
    let mut env = vec![("EATS_DATA_DIR", data.to_str().expect("path"))];
    env.extend_from_slice(extra);
    (Server::start(&env), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_pushed_each_status_change_as_it_happens_embedded() {
    let (server, data) = embedded(&[]);
    each_change_is_pushed_as_it_happens(&server).await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_pushed_each_status_change_across_processes_when_the_api_runs_no_projectors() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("url");
    let namespace = format!("streams{}", Uuid::new_v4().simple());
    // The API process has no NATS and runs no consumer: every wake-up comes from the other one.
    let api = Server::start(&[("EATS_DATABASE_URL", &url), ("EATS_ROLES", "api")]);
    let workers = Server::start(&[
        ("EATS_DATABASE_URL", &url),
        ("EATS_NATS_URL", NATS_URL),
        ("EATS_NATS_NAMESPACE", &namespace),
        ("EATS_ROLES", "relay,projectors,sagas"),
    ]);
    each_change_is_pushed_as_it_happens(&api).await;
    assert!(api.terminate());
    assert!(workers.terminate());
    let nats = async_nats::connect(NATS_URL).await.expect("nats");
    let _ = async_nats::jetstream::new(nats)
        .delete_stream(format!("EATS_EVENTS_{namespace}"))
        .await;
    test.cleanup().await;
}

async fn open_streams_gauge(server: &Server) -> f64 {
    let (_, metrics) = server.get("/metrics").await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("eats_open_streams "))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_at_the_stream_cap_gets_429_with_retry_after_until_a_client_leaves() {
    let (server, data) = embedded(&[("EATS_STREAMS_PER_USER", "2")]);
    let (_, _, customer, order) = placed_order(&server).await;
    let first = customer.raw_stream(&order).await;
    let mut second = customer.stream(&order).await;
    assert_eq!(second.change().await, change(1, "awaiting_payment"));
    assert_eq!(open_streams_gauge(&server).await, 2.0);

    let refused = customer.open_stream(&order).await;
    assert_eq!(refused.status(), 429);
    let retry_after = refused.headers().get("retry-after").expect("Retry-After");
    assert!(
        retry_after
            .to_str()
            .expect("text")
            .parse::<u64>()
            .expect("seconds")
            > 0
    );
    let content_type = refused.headers().get("content-type").expect("content type");
    assert!(content_type
        .to_str()
        .expect("text")
        .starts_with("application/problem+json"));
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["type"], "urn:eats:problem:too-many-streams");

    // The client goes away without a word; its slot frees within the liveness bound (well
    // under the heartbeat interval, so the server notices the closed socket itself).
    drop(first);
    let left = Instant::now();
    loop {
        let open = open_streams_gauge(&server).await;
        if open == 1.0 {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(10),
            "slot never freed: {open} open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("a closed stream was freed after {:?}", left.elapsed());
    let mut again = customer.stream(&order).await;
    assert_eq!(again.change().await, change(1, "awaiting_payment"));
    drop((second, again));
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_sends_heartbeats_at_the_configured_interval() {
    let (server, data) = embedded(&[("EATS_STREAM_HEARTBEAT_SECS", "1")]);
    let (_, _, customer, order) = placed_order(&server).await;
    let mut stream = customer.stream(&order).await;
    assert_eq!(stream.next().await, change(1, "awaiting_payment"));
    // Three heartbeats take about 3 s at the configured interval; the default (15 s) would
    // send none within this bound.
    let bound = Instant::now() + Duration::from_secs(12);
    for _ in 0..3 {
        let next = tokio::time::timeout_at(bound.into(), stream.next()).await;
        assert_eq!(
            next.expect("a heartbeat at the configured interval"),
            Block::Heartbeat
        );
    }
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_when_the_server_shuts_down_so_it_stops_at_once() {
    let (server, data) = embedded(&[]);
    let (_, _, customer, order) = placed_order(&server).await;
    let mut stream = customer.stream(&order).await;
    assert_eq!(stream.change().await, change(1, "awaiting_payment"));
    assert!(server.terminate(), "stopped cleanly within its 5 s bound");
    assert_eq!(stream.change().await, Block::End);
    let _ = std::fs::remove_dir_all(data);
}
