//! Live order streams of the real `eats` binary: each change is pushed as it happens (no
//! stream polls, so a broken wake-up hangs these tests), in one embedded process and across
//! processes when the API runs no projectors; the per-user cap, freeing a slot when a client
//! leaves, and heartbeats.

mod common;

use std::time::{Duration, Instant};

use common::api::{embedded, open_store, place, registered_customer, ApiWithoutConsumers, Caller};
use common::Server;
use reqwest::Method;
use serde_json::{json, Value};

/// Longest wait for anything pushed: generous, only there so a broken push fails instead of
/// hanging forever.
const LIVENESS: Duration = Duration::from_secs(30);

/// Opening an order's live stream, three ways.
trait Streams {
    /// The response to a stream request, whatever its status.
    async fn open_stream(&self, order: &str) -> reqwest::Response;
    /// The order's stream over a socket of its own, read up to its first change: dropping it
    /// closes the connection the way a closed browser tab does.
    async fn raw_stream(&self, order: &str) -> tokio::net::TcpStream;
    /// The order's stream, accepted, to read block by block.
    async fn stream(&self, order: &str) -> Stream;
}

impl Streams for Caller {
    async fn open_stream(&self, order: &str) -> reqwest::Response {
        self.request(Method::GET, &format!("/orders/{order}/stream"))
            .send()
            .await
            .expect("stream request")
    }

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
            self.token.as_deref().expect("token")
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
    /// The reconnection delay (`retry:`, milliseconds) a stream sends before it ends on
    /// shutdown.
    Retry(u64),
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
                if let Some(ms) = block.strip_prefix("retry:") {
                    return Block::Retry(ms.trim().parse().expect("retry in ms"));
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
    let (owner, store, item) = open_store(server).await;
    let customer = registered_customer(server).await;
    let order = place(&customer, &store, &item).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_pushed_each_status_change_as_it_happens_embedded() {
    let (server, data) = embedded(&[]);
    each_change_is_pushed_as_it_happens(&server).await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_pushed_each_status_change_across_processes_when_the_api_runs_no_projectors() {
    let split = ApiWithoutConsumers::start("streams").await;
    each_change_is_pushed_as_it_happens(&split.api).await;
    split.stop().await;
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
async fn open_streams_end_with_a_reconnection_hint_when_the_server_shuts_down_so_it_stops_at_once()
{
    let (server, data) = embedded(&[]);
    let (_, _, customer, order) = placed_order(&server).await;
    let mut stream = customer.stream(&order).await;
    assert_eq!(stream.change().await, change(1, "awaiting_payment"));
    assert!(server.terminate(), "stopped cleanly within its 5 s bound");
    // The client is told when to come back (to another replica), then the stream ends.
    let hint = stream.change().await;
    let Block::Retry(ms) = hint else {
        panic!("no retry hint before the end: {hint:?}");
    };
    let (from, spread) = (
        eats_api::live::RECONNECT_AFTER.as_millis() as u64,
        eats_api::live::RECONNECT_SPREAD.as_millis() as u64,
    );
    assert!((from..from + spread).contains(&ms), "retry: {ms}");
    assert_eq!(stream.change().await, Block::End);
    let _ = std::fs::remove_dir_all(data);
}
