//! Shared set-up of the load runs in `src/bin/`: a fresh store in either mode, the fan-out
//! pipeline of that mode, and waiting for it to catch up.
//!
//! - `converge`: places many orders with the projectors stopped, starts them, times the
//!   catch-up and checks every view row against the event store; compares the command rate
//!   with raw inserts on the same database.
//! - `lag`: places orders at a steady rate with everything running and reports the
//!   event-to-view lag percentiles.

pub mod baseline;
pub mod procfs;
pub mod write_path;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use eats_feed::{EmbeddedFeed, EventHandler};
use eats_nats::{ensure_stream, JetStreamFeed, Relay, StreamSettings, Topology};
use eats_store::testing::TestDatabase;
use eats_store::Database;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Which deployment mode a run measures.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SQLite and the embedded feed.
    Embedded,
    /// Postgres, the outbox relay and JetStream.
    Distributed,
}

/// The running fan-out of one mode.
pub struct Pipeline {
    /// Stops everything.
    pub shutdown: CancellationToken,
    tasks: JoinSet<()>,
    feed: Feed,
    handlers: Vec<Arc<dyn EventHandler>>,
}

enum Feed {
    Embedded(EmbeddedFeed),
    JetStream(Box<(JetStreamFeed, Relay)>),
}

/// A fresh store for `mode`, and (distributed) a private JetStream stream.
pub async fn fresh(
    mode: Mode,
) -> anyhow::Result<(
    TestDatabase,
    Option<(async_nats::jetstream::Context, Topology)>,
)> {
    match mode {
        Mode::Embedded => Ok((TestDatabase::sqlite().await, None)),
        Mode::Distributed => {
            let db = TestDatabase::postgres().await;
            let url = std::env::var("EATS_TEST_NATS_URL")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
            let client = async_nats::connect(&url)
                .await
                .context("connecting to NATS")?;
            let jetstream = async_nats::jetstream::new(client);
            let topology =
                Topology::namespaced(&format!("bench{}", uuid::Uuid::new_v4().simple()))?;
            ensure_stream(&jetstream, &topology, &StreamSettings::default()).await?;
            Ok((db, Some((jetstream, topology))))
        }
    }
}

impl Pipeline {
    /// Starts the relay (distributed) and `handlers` on the mode's feed.
    pub fn start(
        db: &Database,
        nats: Option<&(async_nats::jetstream::Context, Topology)>,
        handlers: Vec<Arc<dyn EventHandler>>,
    ) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let feed = match nats {
            None => {
                let feed = EmbeddedFeed::new(db)?;
                for handler in &handlers {
                    let (feed, handler, shutdown) =
                        (feed.clone(), handler.clone(), shutdown.clone());
                    tasks.spawn(async move { feed.run(handler.as_ref(), shutdown).await });
                }
                Feed::Embedded(feed)
            }
            Some((jetstream, topology)) => {
                let relay = Relay::new(db, jetstream.clone(), topology.clone())?;
                tasks.spawn({
                    let (relay, shutdown) = (relay.clone(), shutdown.clone());
                    async move { relay.run(shutdown).await }
                });
                let feed = JetStreamFeed::new(jetstream.clone(), topology.clone());
                for handler in &handlers {
                    let (feed, handler, shutdown) =
                        (feed.clone(), handler.clone(), shutdown.clone());
                    tasks.spawn(async move { feed.run(handler.as_ref(), shutdown).await });
                }
                Feed::JetStream(Box::new((feed, relay)))
            }
        };
        Ok(Self {
            shutdown,
            tasks,
            feed,
            handlers,
        })
    }

    /// Events not yet handled, summed over the handlers (and the outbox).
    pub async fn backlog(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        match &self.feed {
            Feed::Embedded(feed) => {
                for h in &self.handlers {
                    total += feed.lag(h.name(), h.aggregate_types()).await?.events;
                }
            }
            Feed::JetStream(pair) => {
                let (feed, relay) = pair.as_ref();
                total += relay.lag().await?.events;
                for h in &self.handlers {
                    total += feed.lag(h.as_ref()).await?.events;
                }
            }
        }
        Ok(total)
    }

    /// Waits until nothing is behind; returns how long it took.
    pub async fn wait_caught_up(&self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if self.backlog().await? == 0 {
                // Twice in a row: the relay may have just moved rows into the stream.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if self.backlog().await? == 0 {
                    return Ok(started.elapsed());
                }
            }
            anyhow::ensure!(started.elapsed() < limit, "not caught up within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops everything after its in-flight work.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The `p`-th percentile (0-100) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
