//! Whole order lifecycles through the HTTP API, closed loop, as real clients do them: each
//! client places an order and follows it on its live stream (`GET /orders/{id}/stream`), pays,
//! waits until the stream shows it paid, accepts, starts and finishes cooking as the store,
//! waits as the rider on the jobs-nearby stream until the job is open near the store, claims,
//! picks up, waits until the order is in delivery, and confirms; then starts the next. The
//! waits read the pushed streams as the web app does, so they cost the server what real
//! clients cost it (no polling) and time each hop to the push.
//!
//! It starts the `eats` binary itself (embedded; distributed with every role in one process;
//! or distributed with each role its own process) on a fresh data folder or database, runs a
//! phase per client count for a fixed time after a warm-up, and prints per phase: lifecycles/s,
//! commands/s, each step's latency p50/p99/p99.9, each asynchronous hop's time (what a
//! process manager and a projector take between a command and what the client waits for), and
//! the server processes' CPU and peak memory.
//!
//! ```sh
//! cargo build --release --bin eats
//! cargo run --release -p eats-bench --bin lifecycles -- --mode embedded --clients 16,48 --seconds 30
//! ```
//!
//! Each client has its own store, rider and customer, the stores 11 km apart, so a rider's
//! "jobs near me" shows its own store's job: clients contend on the server, not on each other.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use eats_api::{Auth, Role};
use eats_bench::baseline::{self, BaselineReport};
use eats_bench::{percentile, procfs, write_path};
use eats_store::testing::TestDatabase;
use serde_json::{json, Value};
use uuid::Uuid;

/// How the server runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Deployment {
    /// One process on SQLite, the embedded feed.
    Embedded,
    /// One process with every role, on Postgres and JetStream.
    Distributed,
    /// One process per role (api, relay, projectors, sagas, notifier), Postgres and JetStream.
    Separate,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "embedded")]
    mode: Deployment,
    /// Client counts, one phase each, in this order.
    #[arg(long, value_delimiter = ',', default_value = "16,48")]
    clients: Vec<usize>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Unmeasured seconds before each phase (connections, caches, the first orders).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// The eats binary to run.
    #[arg(long, default_value = "target/release/eats")]
    binary: PathBuf,
    /// NATS for the distributed modes.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Print one JSON object per phase instead of tables.
    #[arg(long)]
    json: bool,
    /// Measured seconds of each write-path baseline after each phase (raw SQL floor, bare
    /// postgres-es, SQLite's floor, eats's command path), at the phase's client count while
    /// the server idles; 0 skips them.
    #[arg(long, default_value_t = 10)]
    baseline_seconds: u64,
    /// Extra settings for every server process, `KEY=VALUE` (e.g.
    /// `EATS_DATABASE_MAX_CONNECTIONS=32`); repeatable.
    #[arg(long = "env", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Paced phases: start lifecycles at this many per second in all (each client takes the
    /// next start time and waits for it), instead of each client starting its next lifecycle
    /// as soon as the last ends. For latency at a given share of the maximum throughput: the
    /// goal's "each hop at half the maximum" is a paced run at half a closed-loop run's rate.
    /// A client that falls behind starts at once, so the clients must outnumber the
    /// lifecycles in flight.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
}

fn parse_rate(rate: &str) -> Result<f64, String> {
    match rate.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{rate:?} is not a positive number of lifecycles per second"
        )),
    }
}

fn parse_setting(setting: &str) -> Result<(String, String), String> {
    setting
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("{setting:?} is not KEY=VALUE"))
}

const SECRET: &str = "eats-bench-lifecycles-secret-0123456789";

/// The client-visible steps, in lifecycle order: commands, then the waits between them.
const COMMANDS: [&str; 8] = [
    "place", "pay", "accept", "start", "finish", "claim", "pickup", "confirm",
];
const HOPS: [&str; 3] = ["pay->paid", "finish->job", "pickup->in_delivery"];
/// Paced phases: how late each lifecycle started after its slot.
const LATE: &str = "start late (paced)";

/// One `eats serve` process: its pid, its address and its log drain.
struct Process {
    role: String,
    child: Child,
    base: String,
}

impl Process {
    fn start(binary: &PathBuf, role: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env_clear()
            .env("EATS_LISTEN", "127.0.0.1:0")
            .env("EATS_LOG_FORMAT", "json")
            .env("EATS_LOG", "warn,eats=info")
            .env("EATS_DEMO_DATA", "0")
            .env("EATS_JWT_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        if role != "all" {
            command.env("EATS_ROLES", role);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} (build it first)", binary.display()))?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .context("eats serve exited before listening")??;
            let Ok(log) = serde_json::from_str::<Value>(&line) else {
                eprintln!("{role}: {line}");
                continue;
            };
            if log["fields"]["message"] == "eats is listening" {
                break log["fields"]["addr"]
                    .as_str()
                    .context("listening without an address")?
                    .to_string();
            }
        };
        let name = role.to_string();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#) {
                    eprintln!("{name}: {line}");
                }
            }
        });
        Ok(Self {
            role: role.to_string(),
            child,
            base: format!("http://{addr}"),
        })
    }

    /// CPU seconds used so far (user + system).
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        procfs::cpu_seconds(self.child.id())
    }

    /// Peak resident memory, MiB.
    fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        procfs::peak_rss_mib(self.child.id())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running system and what to clean up after.
struct System {
    processes: Vec<Process>,
    api: String,
    _data: Option<tempdir::Folder>,
    database: Option<TestDatabase>,
    stream: Option<(String, String)>,
}

mod tempdir {
    /// A scratch folder removed when dropped.
    pub struct Folder(pub std::path::PathBuf);
    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl System {
    async fn start(args: &Args) -> anyhow::Result<Self> {
        match args.mode {
            Deployment::Embedded => {
                let folder =
                    std::env::temp_dir().join(format!("eats-bench-{}", Uuid::new_v4().simple()));
                let mut env = vec![("EATS_DATA_DIR".into(), folder.display().to_string())];
                env.extend(args.settings.iter().cloned());
                let process = Process::start(&args.binary, "all", &env)?;
                Ok(Self {
                    api: process.base.clone(),
                    processes: vec![process],
                    _data: Some(tempdir::Folder(folder)),
                    database: None,
                    stream: None,
                })
            }
            Deployment::Distributed | Deployment::Separate => {
                let database = TestDatabase::postgres().await;
                let url = database.url.clone().context("a Postgres test database")?;
                let namespace = format!("bench{}", Uuid::new_v4().simple());
                let mut env = vec![
                    ("EATS_DATABASE_URL".into(), url),
                    ("EATS_NATS_URL".into(), args.nats_url.clone()),
                    ("EATS_NATS_NAMESPACE".into(), namespace.clone()),
                ];
                env.extend(args.settings.iter().cloned());
                let roles: &[&str] = if args.mode == Deployment::Distributed {
                    &["all"]
                } else {
                    // The API first: it runs the migrations the others expect.
                    &["api", "relay", "projectors", "sagas", "notifier"]
                };
                let mut processes = Vec::new();
                for role in roles {
                    processes.push(Process::start(&args.binary, role, &env)?);
                }
                Ok(Self {
                    api: processes[0].base.clone(),
                    processes,
                    _data: None,
                    database: Some(database),
                    stream: Some((args.nats_url.clone(), format!("EATS_EVENTS_{namespace}"))),
                })
            }
        }
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        self.processes.iter().map(Process::cpu_seconds).sum()
    }

    async fn cleanup(mut self) {
        self.processes.clear();
        if let Some(database) = self.database.take() {
            database.cleanup().await;
        }
        if let Some((url, stream)) = self.stream.take() {
            if let Ok(client) = async_nats::connect(&url).await {
                if let Err(error) = async_nats::jetstream::new(client)
                    .delete_stream(&stream)
                    .await
                {
                    eprintln!("could not delete the stream {stream}: {error}");
                }
            }
        }
    }
}

/// One HTTP caller of the API.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| format!("{path}: not JSON"))?
        };
        Ok((status, body))
    }

    /// A command: 2xx, retried on a lost optimistic-concurrency race.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        loop {
            let (status, answer) = self
                .call(method.clone(), path, token, Some(body.clone()))
                .await?;
            match status {
                200..=299 => return Ok(answer),
                409 if answer["type"] == "urn:eats:problem:concurrent-modification" => continue,
                _ => bail!("{method} {path}: {status} {answer}"),
            }
        }
    }
}

/// One open server-sent-events stream, read as the web app reads it: each `data:` line of an
/// event is its JSON; comments (heartbeats) are skipped.
struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
    path: String,
}

impl Sse {
    async fn open(api: &Api, path: &str, token: &str) -> anyhow::Result<Self> {
        let response = api
            .http
            .get(format!("{}/api/v1{path}", api.base))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = match response.text().await {
                Ok(body) => body,
                Err(error) => format!("(body unreadable: {error})"),
            };
            bail!("{path}: {status} {body}");
        }
        Ok(Self {
            response,
            buffer: Vec::new(),
            path: path.to_string(),
        })
    }

    /// The next event's data, parsed; an error when the stream ends or stays silent for two
    /// minutes.
    async fn next(&mut self) -> anyhow::Result<Value> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = std::str::from_utf8(&block).context("SSE is not UTF-8")?;
                let data: Vec<&str> = text
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if data.is_empty() {
                    continue;
                }
                return serde_json::from_str(&data.join("\n"))
                    .with_context(|| format!("{}: event data is not JSON", self.path));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(120), self.response.chunk())
                .await
                .with_context(|| format!("{}: nothing for 120 s", self.path))??
                .with_context(|| format!("{}: the stream ended", self.path))?;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// Reads status changes until `status`.
    async fn until_status(&mut self, status: &str) -> anyhow::Result<()> {
        while self.next().await?["status"] != status {}
        Ok(())
    }

    /// Reads job snapshots until one holds `order`'s job; its delivery id.
    async fn until_job(&mut self, order: &str) -> anyhow::Result<String> {
        loop {
            let snapshot = self.next().await?;
            let job = snapshot["items"].as_array().and_then(|jobs| {
                jobs.iter()
                    .find(|job| job["order_id"] == order)
                    .and_then(|job| job["delivery_id"].as_str())
            });
            if let Some(job) = job {
                return Ok(job.to_string());
            }
        }
    }
}

/// What one client drives: its store, its customer and its rider.
struct Client {
    api: Api,
    owner: String,
    store: String,
    item: String,
    customer: String,
    rider: String,
    at: (f64, f64),
}

fn token(role: Role) -> anyhow::Result<String> {
    Ok(Auth::hs256(SECRET.as_bytes())?.mint(Uuid::new_v4(), role, chrono::Duration::hours(12))?)
}

impl Client {
    /// A store 11 km from every other client's, its menu item, a customer and a rider there.
    async fn set_up(api: Api, n: usize) -> anyhow::Result<Self> {
        let at = (37.0 + 0.1 * (n / 16) as f64, 126.5 + 0.1 * (n % 16) as f64);
        let (owner, customer, rider) = (
            token(Role::StoreOwner)?,
            token(Role::Customer)?,
            token(Role::Rider)?,
        );
        let post = reqwest::Method::POST;
        let store = api
            .command(
                post.clone(),
                "/stores",
                &owner,
                json!({"name": format!("벤치 {n}호점"), "address": "서울 중구 세종대로 110",
                       "location": {"lat": at.0, "lng": at.1}}),
            )
            .await?["id"]
            .as_str()
            .context("store id")?
            .to_string();
        let item = api
            .command(
                post.clone(),
                &format!("/stores/{store}/menu/items"),
                &owner,
                json!({"name": "참치김밥", "price": 4500}),
            )
            .await?["id"]
            .as_str()
            .context("item id")?
            .to_string();
        api.command(
            post.clone(),
            &format!("/stores/{store}/open"),
            &owner,
            json!({}),
        )
        .await?;
        api.command(
            post,
            "/customers",
            &customer,
            json!({"name": format!("손님{n}"), "phone": "010-1234-5678",
                   "address": "서울 중구 을지로 12",
                   "location": {"lat": at.0 + 0.003, "lng": at.1 + 0.003}}),
        )
        .await?;
        api.command(
            reqwest::Method::PUT,
            "/riders/me/location",
            &rider,
            json!({"lat": at.0, "lng": at.1}),
        )
        .await?;
        Ok(Self {
            api,
            owner,
            store,
            item,
            customer,
            rider,
            at,
        })
    }

    /// The customer's live stream of `order`'s status changes, as the app follows it.
    async fn order_stream(&self, order: &str) -> anyhow::Result<Sse> {
        Sse::open(
            &self.api,
            &format!("/orders/{order}/stream"),
            &self.customer,
        )
        .await
    }

    /// The rider's live stream of the open jobs near the store.
    async fn jobs_stream(&self) -> anyhow::Result<Sse> {
        Sse::open(
            &self.api,
            &format!(
                "/deliveries/available/stream?lat={}&lng={}&radius_m=1000",
                self.at.0, self.at.1
            ),
            &self.rider,
        )
        .await
    }

    /// One whole lifecycle, each step's time recorded under its name.
    async fn lifecycle(&self, n: u64, times: &mut Vec<(&'static str, f64)>) -> anyhow::Result<()> {
        let post = reqwest::Method::POST;
        let mut timed = Instant::now();
        let lap =
            |name: &'static str, times: &mut Vec<(&'static str, f64)>, timed: &mut Instant| {
                let now = Instant::now();
                times.push((name, (now - *timed).as_secs_f64() * 1e3));
                *timed = now;
            };
        let order = self
            .api
            .command(
                post.clone(),
                "/orders",
                &self.customer,
                json!({"store_id": self.store, "lines": [{"item_id": self.item, "quantity": 1}]}),
            )
            .await?["id"]
            .as_str()
            .context("order id")?
            .to_string();
        lap("place", times, &mut timed);
        // The customer's app follows the order from here on, as the web app does.
        let mut status = self.order_stream(&order).await?;
        let paid = self
            .api
            .command(
                post.clone(),
                &format!("/orders/{order}/payment"),
                &self.customer,
                json!({"payment_key": format!("tgen_bench_{n}")}),
            )
            .await?;
        if paid["payment_status"] != "approved" {
            bail!("payment of {order} not approved: {paid}");
        }
        lap("pay", times, &mut timed);
        status.until_status("paid").await?;
        lap("pay->paid", times, &mut timed);
        let mut jobs = None;
        for (step, path) in [
            ("accept", "accept"),
            ("start", "start-cooking"),
            ("finish", "finish-cooking"),
        ] {
            if step == "finish" {
                // The rider's app shows the jobs nearby while the food cooks.
                jobs = Some(self.jobs_stream().await?);
                timed = Instant::now();
            }
            self.api
                .command(
                    post.clone(),
                    &format!("/stores/{}/orders/{order}/{path}", self.store),
                    &self.owner,
                    json!({}),
                )
                .await?;
            lap(step, times, &mut timed);
        }
        let delivery = jobs.context("jobs stream")?.until_job(&order).await?;
        lap("finish->job", times, &mut timed);
        for step in ["claim", "pickup"] {
            self.api
                .command(
                    post.clone(),
                    &format!("/deliveries/{delivery}/{step}"),
                    &self.rider,
                    json!({}),
                )
                .await?;
            lap(step, times, &mut timed);
        }
        status.until_status("in_delivery").await?;
        lap("pickup->in_delivery", times, &mut timed);
        self.api
            .command(
                post,
                &format!("/orders/{order}/confirm-delivery"),
                &self.customer,
                json!({}),
            )
            .await?;
        lap("confirm", times, &mut timed);
        Ok(())
    }
}

/// What one phase measured.
struct Phase {
    clients: usize,
    seconds: f64,
    lifecycles: usize,
    steps: BTreeMap<&'static str, Vec<f64>>,
    cpu_seconds: f64,
    /// CPU seconds of the services beside eats: PostgreSQL's processes and NATS.
    postgres_cpu_seconds: f64,
    nats_cpu_seconds: f64,
    /// CPU seconds of this process: the clients themselves (HTTP, JSON, the streams).
    generator_cpu_seconds: f64,
}

/// The command names of the services' processes, as `/proc/<pid>/stat` spells them.
const POSTGRES: &[&str] = &["postgres"];
const NATS: &[&str] = &["nats-server"];

async fn phase(
    system: &System,
    clients: &[Arc<Client>],
    warmup: Duration,
    measured: Duration,
    rate: Option<f64>,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let until = measure_from + measured;
    let results = Arc::new(Mutex::new((0usize, BTreeMap::<&str, Vec<f64>>::new())));
    // The next start slot of a paced phase, shared by its clients.
    let slots = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.iter().enumerate() {
        let (client, results, slots) = (client.clone(), results.clone(), slots.clone());
        tasks.spawn(async move {
            let mut n = index as u64 * 1_000_000;
            while Instant::now() < until {
                let mut scheduled = None;
                if let Some(rate) = rate {
                    let slot = slots.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let at = started + Duration::from_secs_f64(slot as f64 / rate);
                    if at >= until {
                        break;
                    }
                    scheduled = Some(at);
                    tokio::time::sleep_until(at.into()).await;
                }
                let mut times = Vec::with_capacity(12);
                if let Some(at) = scheduled {
                    // A late start is queueing the step times do not show: reported apart.
                    times.push((LATE, (Instant::now() - at).as_secs_f64() * 1e3));
                }
                client.lifecycle(n, &mut times).await?;
                n += 1;
                let ended = Instant::now();
                // Counted when it ends inside the measured window, wherever it began:
                // completions per second. Counting only lifecycles that lie wholly inside
                // the window undercounts by about one per client (clients / window
                // lifecycles/s: 13/s at 256 clients and 20 s), which made throughput look
                // as if it fell with more clients.
                if ended >= measure_from && ended <= until {
                    let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                    results.0 += 1;
                    for (step, ms) in times {
                        results.1.entry(step).or_default().push(ms);
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = system.cpu_seconds()?;
    let generator_before = procfs::cpu_seconds(std::process::id())?;
    let (postgres_before, nats_before) = (
        procfs::sample_cpu_of(POSTGRES)?,
        procfs::sample_cpu_of(NATS)?,
    );
    tokio::time::sleep_until(until.into()).await;
    let cpu_seconds = system.cpu_seconds()? - cpu_before;
    let generator_cpu_seconds = procfs::cpu_seconds(std::process::id())? - generator_before;
    let postgres_cpu_seconds = procfs::sample_cpu_of(POSTGRES)?.since(&postgres_before);
    let nats_cpu_seconds = procfs::sample_cpu_of(NATS)?.since(&nats_before);
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let (lifecycles, mut steps) =
        std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    for values in steps.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    Ok(Phase {
        clients: clients.len(),
        seconds: measured.as_secs_f64(),
        lifecycles,
        steps,
        cpu_seconds,
        postgres_cpu_seconds,
        nats_cpu_seconds,
        generator_cpu_seconds,
    })
}

fn report(args: &Args, system: &System, phase: &Phase) -> anyhow::Result<()> {
    let rate = phase.lifecycles as f64 / phase.seconds;
    let stats = |name: &str| {
        let values = phase.steps.get(name).map(Vec::as_slice).unwrap_or(&[]);
        (
            percentile(values, 50.0),
            percentile(values, 99.0),
            percentile(values, 99.9),
        )
    };
    let rss: Vec<(String, f64)> = system
        .processes
        .iter()
        .map(|p| Ok((p.role.clone(), p.peak_rss_mib()?)))
        .collect::<anyhow::Result<_>>()?;
    let late = args.rate.map(|_| &LATE);
    let cores = phase.cpu_seconds / phase.seconds;
    let postgres_cores = phase.postgres_cpu_seconds / phase.seconds;
    let nats_cores = phase.nats_cpu_seconds / phase.seconds;
    let generator_cores = phase.generator_cpu_seconds / phase.seconds;
    if args.json {
        let steps: serde_json::Map<String, Value> = COMMANDS
            .iter()
            .chain(HOPS.iter())
            .chain(late)
            .map(|name| {
                let (p50, p99, p999) = stats(name);
                (
                    name.to_string(),
                    json!({"p50_ms": p50, "p99_ms": p99, "p999_ms": p999}),
                )
            })
            .collect();
        println!(
            "{}",
            json!({
                "mode": format!("{:?}", args.mode).to_lowercase(),
                "clients": phase.clients,
                "paced_lifecycles_per_s": args.rate,
                "seconds": phase.seconds,
                "lifecycles": phase.lifecycles,
                "lifecycles_per_s": rate,
                "commands_per_s": rate * COMMANDS.len() as f64,
                "steps": steps,
                "server_cpu_cores": cores,
                "postgres_cpu_cores": postgres_cores,
                "nats_cpu_cores": nats_cores,
                "load_generator_cpu_cores": generator_cores,
                "peak_rss_mib": rss.iter().map(|(r, m)| (r.clone(), json!(m))).collect::<serde_json::Map<_, _>>(),
            })
        );
        return Ok(());
    }
    if let Some(paced) = args.rate {
        println!("\npaced: lifecycles started at {paced:.1}/s");
    }
    println!(
        "\n{:?}, {} clients, {:.0} s: {} lifecycles, {:.1} lifecycles/s, {:.0} commands/s; CPU: eats {:.2} cores, postgres {:.2}, nats {:.2}, load generator {:.2}; peak RSS {}",
        args.mode,
        phase.clients,
        phase.seconds,
        phase.lifecycles,
        rate,
        rate * COMMANDS.len() as f64,
        cores,
        postgres_cores,
        nats_cores,
        generator_cores,
        rss.iter()
            .map(|(role, mib)| format!("{role} {mib:.0} MiB"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>9}",
        "step (ms)", "p50", "p99", "p99.9"
    );
    for name in COMMANDS.iter().chain(HOPS.iter()).chain(late) {
        let (p50, p99, p999) = stats(name);
        println!("  {name:<22} {p50:>9.1} {p99:>9.1} {p999:>9.1}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let system = System::start(&args).await?;
    let outcome = run(&args, &system).await;
    system.cleanup().await;
    outcome
}

async fn run(args: &Args, system: &System) -> anyhow::Result<()> {
    let most = args
        .clients
        .iter()
        .copied()
        .max()
        .context("no client count")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(most)
        .timeout(Duration::from_secs(60))
        .build()?;
    let api = Api {
        http,
        base: system.api.clone(),
    };
    let mut clients = Vec::with_capacity(most);
    for n in 0..most {
        clients.push(Arc::new(Client::set_up(api.clone(), n).await?));
    }
    for &count in &args.clients {
        let phase = phase(
            system,
            &clients[..count],
            Duration::from_secs(args.warmup),
            Duration::from_secs(args.seconds),
            args.rate,
        )
        .await?;
        report(args, system, &phase)?;
        if args.baseline_seconds > 0 {
            let baselines = write_path_baselines(args, count).await?;
            report_baselines(args, &phase, &baselines);
        }
    }
    Ok(())
}

/// The write path at `clients` clients: eats's own command path (on the mode's backend, a
/// fresh database of its own) and the baselines, one after another while the server idles.
async fn write_path_baselines(
    args: &Args,
    clients: usize,
) -> anyhow::Result<(BaselineReport, baseline::Baselines)> {
    let warmup = Duration::from_secs(1);
    let measured = Duration::from_secs(args.baseline_seconds);
    let eats_db = match args.mode {
        Deployment::Embedded => TestDatabase::sqlite().await,
        _ => TestDatabase::postgres().await,
    };
    quiet().await?;
    let eats = write_path::eats_write_path(&eats_db.db, "eats", clients, warmup, measured).await;
    eats_db.cleanup().await;
    let scratch = TestDatabase::postgres().await;
    let url = scratch.url.clone().context("a Postgres scratch database")?;
    let folder = std::env::temp_dir().join(format!("eats-baseline-{}", Uuid::new_v4().simple()));
    let _folder = tempdir::Folder(folder.clone());
    quiet().await?;
    let baselines = baseline::run_all(&url, &folder, clients, warmup, measured).await;
    scratch.cleanup().await;
    Ok((eats?, baselines?))
}

/// Waits for the machine to settle before a write-path measurement: the phase before leaves
/// the server catching up (seconds of projector backlog at 256 clients), and a measurement
/// started then would charge that to eats, measured first.
async fn quiet() -> anyhow::Result<()> {
    let share = procfs::wait_until_quiet(0.15, Duration::from_secs(60)).await?;
    if share >= 0.15 {
        eprintln!(
            "the machine stayed {:.0}% busy; measuring anyway",
            share * 100.0
        );
    }
    Ok(())
}

fn report_baselines(
    args: &Args,
    phase: &Phase,
    (eats, baselines): &(BaselineReport, baseline::Baselines),
) {
    let bare = baselines.bare_postgres_es.commands_per_sec;
    let floor = match args.mode {
        Deployment::Embedded => &baselines.sqlite_floor,
        _ => &baselines.raw_sql_floor,
    };
    if args.json {
        let entry = |r: &BaselineReport| json!({"commands_per_s": r.commands_per_sec, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms});
        println!(
            "{}",
            json!({
                "mode": format!("{:?}", args.mode).to_lowercase(),
                "clients": phase.clients,
                "write_path": {
                    "eats": entry(eats),
                    "raw_sql_floor": entry(&baselines.raw_sql_floor),
                    "bare_postgres_es": entry(&baselines.bare_postgres_es),
                    "sqlite_floor": entry(&baselines.sqlite_floor),
                    "eats_over_bare_postgres_es": baseline::ratio(eats.commands_per_sec, bare),
                    "eats_over_floor": baseline::ratio(eats.commands_per_sec, floor.commands_per_sec),
                    "bare_postgres_es_over_raw_sql_floor": baselines.framework_throughput_ratio(),
                },
            })
        );
        return;
    }
    println!(
        "  write path, place -> pay -> accept on fresh orders, {} clients, {} s each:",
        phase.clients, args.baseline_seconds
    );
    println!(
        "  {:<34} {:>11} {:>9} {:>9}",
        "", "commands/s", "p50 ms", "p99 ms"
    );
    let eats_name = match args.mode {
        Deployment::Embedded => "eats (SQLite, in-process)",
        _ => "eats (Postgres, in-process)",
    };
    for (name, r) in [
        (eats_name, eats),
        ("raw SQL floor (Postgres)", &baselines.raw_sql_floor),
        ("bare postgres-es", &baselines.bare_postgres_es),
        ("raw SQL floor (SQLite)", &baselines.sqlite_floor),
    ] {
        println!(
            "  {name:<34} {:>11.0} {:>9.2} {:>9.2}",
            r.commands_per_sec, r.p50_ms, r.p99_ms
        );
    }
    println!(
        "  ratios: eats / bare postgres-es {:.2}, eats / {} {:.2}, bare postgres-es / raw SQL floor {:.2}",
        baseline::ratio(eats.commands_per_sec, bare),
        floor.name,
        baseline::ratio(eats.commands_per_sec, floor.commands_per_sec),
        baselines.framework_throughput_ratio(),
    );
}
