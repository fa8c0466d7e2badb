//! What idle live streams cost the server: the CPU an `eats serve` process uses while it
//! holds many `GET /orders/{id}/stream` connections on which nothing happens, against the
//! same process holding none; and how long the server takes to free streams whose clients
//! hung up. The server is a child process (any build of `eats`, so two versions can be
//! compared on one machine); its CPU time is read from `/proc/<pid>/stat`.
//!
//! `cargo run -p eats-bench --bin idle_streams -- --eats target/debug/eats --streams 500`

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use eats_api::{Auth, Role};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

const SECRET: &str = "bench-secret-bench-secret-bench-secret";

#[derive(Parser)]
struct Args {
    /// The `eats` binary to measure.
    #[arg(long, default_value = "target/debug/eats")]
    eats: PathBuf,
    /// Idle streams to hold open.
    #[arg(long, default_value_t = 500)]
    streams: usize,
    /// Orders they follow (streams are spread evenly over them).
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Seconds each CPU measurement lasts.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Streams closed by their clients to time how fast the server frees them.
    #[arg(long, default_value_t = 50)]
    hang_ups: usize,
    /// Extra `KEY=VALUE` environment for the server, e.g. `EATS_STREAM_HEARTBEAT_SECS=1`.
    #[arg(long = "env")]
    env: Vec<String>,
}

/// The server under measurement, killed when dropped.
struct Server {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Server {
    fn start(args: &Args) -> anyhow::Result<Self> {
        let data =
            std::env::temp_dir().join(format!("eats_idle_streams_{}", Uuid::new_v4().simple()));
        let mut command = Command::new(&args.eats);
        command
            .arg("serve")
            .env_clear()
            .env("EATS_LISTEN", "127.0.0.1:0")
            .env("EATS_DATA_DIR", &data)
            .env("EATS_LOG_FORMAT", "json")
            .env("EATS_JWT_SECRET", SECRET)
            .env("EATS_RATE_LIMIT_PER_SEC", "100000")
            .env("EATS_RATE_LIMIT_BURST", "100000")
            .env("EATS_STREAMS_PER_USER", "100000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for pair in &args.env {
            let (key, value) = pair.split_once('=').context("--env takes KEY=VALUE")?;
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", args.eats.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let addr = loop {
            let line = lines.next().context("eats exited before listening")??;
            let log: Value = serde_json::from_str(&line).context("a JSON log line")?;
            if log["fields"]["message"] == "eats is listening" {
                break log["fields"]["addr"].as_str().context("addr")?.to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            base: format!("http://{addr}"),
            data,
        })
    }

    /// CPU seconds (user + system) the server has used so far.
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("a /proc stat line")?
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
        Ok(ticks / clock_ticks_per_second()?)
    }

    /// Share of one core the server uses over `seconds`, in percent.
    async fn cpu_percent(&self, seconds: u64) -> anyhow::Result<f64> {
        let (before, started) = (self.cpu_seconds()?, Instant::now());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let used = self.cpu_seconds()? - before;
        Ok(100.0 * used / started.elapsed().as_secs_f64())
    }

    /// `eats_open_streams` on `/metrics`, when the build exports it.
    async fn open_streams(&self) -> anyhow::Result<Option<f64>> {
        let metrics = reqwest::get(format!("{}/metrics", self.base))
            .await?
            .text()
            .await?;
        Ok(metrics
            .lines()
            .find_map(|l| l.strip_prefix("eats_open_streams "))
            .map(|v| v.trim().parse())
            .transpose()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

struct Client {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl Client {
    fn new(server: &Server, role: Role) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::new(),
            api: format!("{}/api/v1", server.base),
            token: Auth::hs256(SECRET.as_bytes())?.mint(
                Uuid::new_v4(),
                role,
                chrono::Duration::hours(2),
            )?,
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Opens the order's stream on a socket of its own and reads up to its first event.
    async fn open_stream(&self, order: &str) -> anyhow::Result<TcpStream> {
        let url = reqwest::Url::parse(&self.api)?;
        let host = format!(
            "{}:{}",
            url.host_str().context("host")?,
            url.port().context("port")?
        );
        let mut socket = TcpStream::connect(&host).await?;
        let request = format!(
            "GET {}/orders/{order}/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Accept: text/event-stream\r\n\r\n",
            url.path(),
            self.token
        );
        socket.write_all(request.as_bytes()).await?;
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("awaiting_payment") {
            let mut buf = [0_u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buf)).await??;
            if n == 0 {
                bail!("stream ended early: {}", String::from_utf8_lossy(&seen));
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(socket)
    }
}

/// Keeps reading (and discarding) a stream, so heartbeats never fill its buffers; dropping
/// the task closes the socket.
fn drain(mut socket: TcpStream) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = [0_u8; 1024];
        while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
    })
}

/// Orders awaiting payment, all of one customer.
async fn orders(server: &Server, count: usize) -> anyhow::Result<(Client, Vec<String>)> {
    let owner = Client::new(server, Role::StoreOwner)?;
    let store = owner
        .post(
            "/stores",
            json!({"name": "김밥천국 시청점", "address": "서울 중구 세종대로 110", "location": {"lat": 37.5665, "lng": 126.978}}),
        )
        .await?;
    let store = store["id"].as_str().context("store id")?.to_string();
    let item = owner
        .post(
            &format!("/stores/{store}/menu/items"),
            json!({"name": "참치김밥", "price": 4500}),
        )
        .await?;
    owner
        .post(&format!("/stores/{store}/open"), json!({}))
        .await?;
    let customer = Client::new(server, Role::Customer)?;
    customer
        .post(
            "/customers",
            json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}),
        )
        .await?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let order = customer
            .post(
                "/orders",
                json!({"store_id": store, "lines": [{"item_id": item["id"], "quantity": 1}]}),
            )
            .await?;
        ids.push(order["id"].as_str().context("order id")?.to_string());
    }
    Ok((customer, ids))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = Server::start(&args)?;
    let (customer, orders) = orders(&server, args.orders.max(1)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = server.cpu_percent(args.seconds).await?;

    let mut streams = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        let socket = customer.open_stream(&orders[i % orders.len()]).await?;
        streams.push(drain(socket));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = server.cpu_percent(args.seconds).await?;

    let open_before = server.open_streams().await?;
    let hang_ups = args.hang_ups.min(streams.len());
    for task in streams.drain(..hang_ups) {
        task.abort();
    }
    let hung_up = Instant::now();
    let freed_after = match open_before {
        None => None,
        Some(before) => loop {
            let now = server.open_streams().await?.unwrap_or(before);
            if now <= before - hang_ups as f64 {
                break Some(hung_up.elapsed());
            }
            if hung_up.elapsed() > Duration::from_secs(60) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        },
    };

    println!("binary: {}", args.eats.display());
    println!("server env: {:?}", args.env);
    println!(
        "idle server, no streams: {idle:.2}% of a core over {}s",
        args.seconds
    );
    println!(
        "with {} idle streams on {} orders: {held:.2}% of a core over {}s ({:+.2} points for the streams)",
        args.streams,
        orders.len(),
        args.seconds,
        held - idle
    );
    match freed_after {
        Some(after) => println!("{hang_ups} streams whose clients hung up freed after {after:?}"),
        None if open_before.is_none() => {
            println!("freeing hung-up streams: not measurable (no eats_open_streams gauge)")
        }
        None => println!("{hang_ups} streams whose clients hung up: not all freed within 60 s"),
    }
    drop(streams);
    Ok(())
}
