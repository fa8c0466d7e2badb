//! The write-path baselines on their own: what the database and the bare framework give on
//! this machine, so eats's figures (from `lifecycles`) can be read as ratios to them.
//!
//! Each baseline runs N concurrent clients in a closed loop, each taking fresh orders through
//! place -> pay -> accept: three commands, each loading the order's events and appending one
//! event (a ~200-350 byte payload and eats's metadata map) in its own transaction.
//!
//! - `raw_sql_floor`: the cheapest SQL of that shape on Postgres (`SELECT` the rows, `BEGIN`,
//!   `INSERT`, `COMMIT` on one pooled connection). No framework can beat it on this machine:
//!   it is the database's and the disk's cost of a command.
//! - `bare_postgres_es`: plain cqrs-es over postgres-es (no snapshots, no queries) with a
//!   minimal aggregate. The gap to the floor is the framework's own cost (two connection
//!   checkouts per command, JSON round trips); the gap from here to eats is what eats adds
//!   (its domain, the outbox trigger, snapshots, indexes, the HTTP API).
//! - `sqlite_floor`: the raw-SQL floor on SQLite with the embedded store's settings and its
//!   one-writer-at-a-time turns: the ceiling of the embedded mode.
//!
//! ```sh
//! cargo run --release -p eats-bench --bin baselines -- --clients 8,16 --seconds 10
//! ```
//!
//! Without `--postgres-url` it creates a scratch database on the server of
//! `EATS_TEST_DATABASE_URL` (default: the local server) and drops it afterwards; with one it
//! works in tables of its own there (dropped afterwards), so any database will do.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use eats_bench::baseline::{self, event_sizes, BaselineReport, Baselines, ScratchDatabase};

#[derive(Parser)]
struct Args {
    /// Client counts, one phase each, in this order.
    #[arg(long, value_delimiter = ',', default_value = "8,16")]
    clients: Vec<usize>,
    /// Measured seconds per baseline and client count.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// A Postgres database to run in (default: a scratch database, dropped afterwards).
    #[arg(long)]
    postgres_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = match &args.postgres_url {
        Some(_) => None,
        None => {
            let admin = std::env::var("EATS_TEST_DATABASE_URL")
                .unwrap_or_else(|_| eats_store::testing::DEFAULT_ADMIN_URL.to_string());
            Some(ScratchDatabase::create(&admin).await?)
        }
    };
    let url = match (&args.postgres_url, &scratch) {
        (Some(url), _) => url.clone(),
        (None, Some(scratch)) => scratch.url.clone(),
        (None, None) => unreachable!("a scratch database is made when no URL is given"),
    };
    let sqlite_dir =
        std::env::temp_dir().join(format!("eats-baseline-{}", uuid::Uuid::new_v4().simple()));
    let result = run(&args, &url, &sqlite_dir).await;
    let _ = std::fs::remove_dir_all(&sqlite_dir);
    if let Some(scratch) = scratch {
        scratch.remove().await;
    }
    result
}

async fn run(args: &Args, url: &str, sqlite_dir: &std::path::Path) -> anyhow::Result<()> {
    let warmup = Duration::from_secs(args.warmup);
    let measured = Duration::from_secs(args.seconds);
    println!(
        "write-path baselines: place -> pay -> accept per order, closed loop, {}s measured \
         after {}s warm-up",
        args.seconds, args.warmup
    );
    let sizes: Vec<String> = event_sizes()
        .into_iter()
        .map(|(step, payload, metadata)| format!("{} {payload}+{metadata}", step.name()))
        .collect();
    println!(
        "event JSON bytes (payload+metadata): {}; Postgres pool {}, SQLite pool {}",
        sizes.join(", "),
        baseline::POSTGRES_POOL,
        baseline::SQLITE_POOL
    );
    for &clients in &args.clients {
        let baselines = baseline::run_all(url, sqlite_dir, clients, warmup, measured)
            .await
            .with_context(|| format!("baselines at {clients} clients"))?;
        print_table(clients, &baselines);
    }
    Ok(())
}

fn print_table(clients: usize, baselines: &Baselines) {
    println!();
    println!("clients {clients}");
    println!(
        "  {:<18} {:>8} {:>7} {:>7}  {:>13} {:>13} {:>13}",
        "baseline", "cmd/s", "p50 ms", "p99 ms", "place p50/99", "pay p50/99", "accept p50/99"
    );
    for report in baselines.all() {
        print_row(report);
    }
    let (bare, raw) = (&baselines.bare_postgres_es, &baselines.raw_sql_floor);
    println!(
        "  bare_postgres_es / raw_sql_floor: cmd/s {:.2}, p50 {:.2}, p99 {:.2}",
        baselines.framework_throughput_ratio(),
        baseline::ratio(bare.p50_ms, raw.p50_ms),
        baseline::ratio(bare.p99_ms, raw.p99_ms),
    );
}

fn print_row(report: &BaselineReport) {
    let steps: Vec<String> = report
        .steps
        .iter()
        .map(|s| format!("{:>13}", format!("{:.1}/{:.1}", s.p50_ms, s.p99_ms)))
        .collect();
    println!(
        "  {:<18} {:>8.0} {:>7.2} {:>7.2}  {}",
        report.name,
        report.commands_per_sec,
        report.p50_ms,
        report.p99_ms,
        steps.join(" ")
    );
}
