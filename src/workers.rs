//! The background roles of `eats serve`: the outbox relay, the projectors, the process
//! managers, the deadline runner and the notifier (on JetStream with the reconciler that
//! recovers what a NATS crash drops), with consumer lag exported as metrics; and,
//! next to the API, the listener that brings the projectors' live announcements to its streams.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eats_feed::{EmbeddedFeed, EventHandler};
use eats_nats::{ensure_stream, JetStreamFeed, Reconciler, Recorded, Relay, StreamSettings};
use eats_projections::live::{Announcer, Hub};
use eats_saga::clock::SystemClock;
use eats_saga::{DeadlineRunner, ProcessManager};
use eats_store::{Aggregates, Backend, Database};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Role, ServeConfig};

/// Running background roles; stopped together, each finishing its in-flight event.
pub struct Workers {
    board: eats_api::LagBoard,
    tasks: JoinSet<()>,
    /// What each task runs, to say which one died.
    names: HashMap<tokio::task::Id, String>,
    shutdown: CancellationToken,
    /// The NATS connection, when distributed (for readiness).
    pub nats: Option<async_nats::Client>,
}

fn export_lag(board: &eats_api::LagBoard, consumer: &str, events: u64, seconds: f64) {
    board.set(consumer, eats_feed::Lag { events, seconds });
    let consumer = consumer.to_string();
    metrics::gauge!("eats_consumer_lag_events", "consumer" => consumer.clone()).set(events as f64);
    metrics::gauge!("eats_consumer_lag_seconds", "consumer" => consumer).set(seconds);
}

/// The event consumers `config` asks this process to run.
fn consumers(
    config: &ServeConfig,
    db: &Database,
    sagas_db: &Database,
    aggregates: &Aggregates,
    hub: &Hub,
    notifier: Option<&(Arc<dyn eats_notify::Provider>, Arc<tokio::sync::Notify>)>,
) -> Vec<Arc<dyn EventHandler>> {
    let mut handlers = Vec::new();
    if config.fanout.runs(Role::Projectors) {
        let announcer = Announcer::for_database(db, hub);
        handlers.extend(eats_projections::announcing(db, &announcer));
    }
    if config.fanout.runs(Role::Sagas) {
        handlers.push(Arc::new(ProcessManager::new(
            aggregates.clone(),
            sagas_db.clone(),
            config.saga.settings(),
        )));
    }
    if let Some((provider, wake)) = notifier {
        handlers.push(Arc::new(eats_notify::Notifier::new(
            db.clone(),
            provider.clone(),
            wake.clone(),
        )));
    }
    handlers
}

impl Workers {
    /// Starts the roles `config` asks for on `db`; the projectors announce their changes
    /// to `hub` (embedded) or over Postgres (distributed).
    pub async fn start(
        config: &ServeConfig,
        db: &Database,
        aggregates: &Aggregates,
        board: eats_api::LagBoard,
        hub: &Hub,
    ) -> anyhow::Result<Self> {
        let mut workers = Self {
            board,
            tasks: JoinSet::new(),
            names: HashMap::new(),
            shutdown: CancellationToken::new(),
            nats: None,
        };
        let fanout = &config.fanout;
        let interval = Duration::from_secs(fanout.lag_interval_secs.max(1));
        let notifier = match fanout.runs(Role::Notifier) {
            true => Some((
                config.notify.provider()?,
                Arc::new(tokio::sync::Notify::new()),
            )),
            false => None,
        };
        // The consumers' statements must not queue behind the API's requests for a connection.
        let own_pool;
        let consumes = [Role::Projectors, Role::Sagas, Role::Notifier, Role::Relay]
            .into_iter()
            .any(|role| fanout.runs(role));
        let db =
            if consumes && fanout.runs(Role::Api) && matches!(db.backend(), Backend::Postgres(_)) {
                own_pool = db
                    .with_own_pool()
                    .await
                    .context("opening the event consumers' database pool")?;
                &own_pool
            } else {
                db
            };
        // The process managers take up to 2,048 events at once. Sharing a pool, their runs
        // held every connection and each sequential consumer waited its turn for every
        // statement: at 64 clients the notifier, a few statements per batch, recorded about
        // 12 events a second and fell behind by 500 a second. Beside other consumers they get
        // a pool of their own, their position bookkeeping and deadlines included.
        let sagas_own_pool;
        let beside_sagas = [Role::Projectors, Role::Notifier, Role::Relay]
            .into_iter()
            .any(|role| fanout.runs(role));
        let sagas_db = if fanout.runs(Role::Sagas)
            && beside_sagas
            && matches!(db.backend(), Backend::Postgres(_))
        {
            sagas_own_pool = db
                .with_own_pool()
                .await
                .context("opening the process managers' database pool")?;
            &sagas_own_pool
        } else {
            db
        };
        let handlers = consumers(config, db, sagas_db, aggregates, hub, notifier.as_ref());
        if let Some((provider, wake)) = notifier {
            let dispatcher =
                eats_notify::Dispatcher::new(db.clone(), provider, config.notify.settings(), wake);
            let shutdown = workers.shutdown.clone();
            workers.spawn("the notification dispatcher".into(), async move {
                dispatcher.run(shutdown).await
            });
        }
        // Listed from the start (as 0 until the first measurement, one lag interval at most).
        for handler in &handlers {
            let consumer = handler.name().to_string();
            metrics::gauge!("eats_consumer_lag_events", "consumer" => consumer.clone()).set(0.0);
            metrics::gauge!("eats_consumer_lag_seconds", "consumer" => consumer).set(0.0);
        }
        if fanout.runs(Role::Sagas) {
            let runner = DeadlineRunner::new(
                aggregates.clone(),
                sagas_db.clone(),
                Arc::new(SystemClock),
                Duration::from_secs(1),
            );
            let shutdown = workers.shutdown.clone();
            workers.spawn("the deadline runner".into(), async move {
                runner.run(shutdown).await
            });
        }
        if fanout.runs(Role::Api) {
            workers.start_idempotency_purge(db.clone(), config.auth.idempotency().ttl);
        }
        match db.backend() {
            Backend::Sqlite(_) => {
                if !handlers.is_empty() {
                    workers.start_embedded(db, handlers, interval)?;
                }
            }
            Backend::Postgres(pool) => {
                let relay = fanout.runs(Role::Relay);
                if !relay && handlers.is_empty() {
                    return Ok(workers);
                }
                let url = fanout.nats_url.as_deref().context(
                    "EATS_NATS_URL is required in Postgres mode for the relay, projectors and \
                     process managers (or set EATS_ROLES=api)",
                )?;
                let client = async_nats::connect(url)
                    .await
                    .with_context(|| format!("connecting to NATS at {url}"))?;
                let jetstream = async_nats::jetstream::new(client.clone());
                let topology = fanout.topology()?;
                let settings = StreamSettings {
                    replicas: fanout.nats_stream_replicas.max(1),
                    ..StreamSettings::default()
                };
                ensure_stream(&jetstream, &topology, &settings)
                    .await
                    .with_context(|| format!("creating JetStream stream {}", topology.stream))?;
                let recovery = fanout.recovery();
                if relay {
                    workers.start_relay(
                        Relay::new(db, jetstream.clone(), topology.clone())?
                            .with_recovery_window(recovery.window),
                        interval,
                    );
                }
                if !handlers.is_empty() {
                    let feed = JetStreamFeed::new(jetstream, topology);
                    let recorded: Vec<Arc<Recorded>> = handlers
                        .into_iter()
                        .map(|handler| {
                            let own = match (handler.name(), sagas_db.backend()) {
                                (ProcessManager::NAME, Backend::Postgres(sagas)) => sagas,
                                _ => pool,
                            };
                            Arc::new(Recorded::new(handler, own.clone()))
                        })
                        .collect();
                    let reconciler = Reconciler::new(
                        pool.clone(),
                        feed.clone(),
                        recorded.clone(),
                        client.clone(),
                        recovery,
                    );
                    workers.start_jetstream(feed, recorded, reconciler, interval);
                }
                workers.nats = Some(client);
            }
        }
        Ok(workers)
    }

    /// Forgets expired `Idempotency-Key`s every few minutes (every API replica may do it:
    /// the delete is idempotent).
    fn start_idempotency_purge(&mut self, db: Database, ttl: Duration) {
        let shutdown = self.shutdown.clone();
        let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
        self.spawn("the idempotency key purge".into(), async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match eats_api::idempotency::purge_expired(&db, ttl).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "purged expired idempotency keys"),
                    Err(error) => tracing::warn!(%error, "purging expired idempotency keys failed"),
                }
            }
        });
    }

    /// On Postgres, forwards the projectors' announcements (from whichever process runs
    /// them) to `hub` over one listening connection; on SQLite they reach it directly.
    pub fn listen_live(&mut self, db: &Database, hub: &Hub) {
        if let Backend::Postgres(pool) = db.backend() {
            let (pool, hub, shutdown) = (pool.clone(), hub.clone(), self.shutdown.clone());
            self.tasks.spawn(async move {
                eats_projections::live::listen(pool, hub, shutdown.cancelled_owned()).await;
            });
        }
    }

    fn start_embedded(
        &mut self,
        db: &Database,
        handlers: Vec<Arc<dyn EventHandler>>,
        interval: Duration,
    ) -> anyhow::Result<()> {
        let feed = EmbeddedFeed::new(db)?;
        for handler in &handlers {
            let (feed, handler, shutdown) = (feed.clone(), handler.clone(), self.shutdown.clone());
            self.spawn(format!("consumer {}", handler.name()), async move {
                feed.run(handler.as_ref(), shutdown).await
            });
        }
        let (shutdown, board) = (self.shutdown.clone(), self.board.clone());
        self.spawn("the lag export".into(), async move {
            loop {
                for handler in &handlers {
                    if let Ok(lag) = feed.lag(handler.name(), handler.aggregate_types()).await {
                        export_lag(&board, handler.name(), lag.events, lag.seconds);
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
        Ok(())
    }

    fn start_relay(&mut self, relay: Relay, interval: Duration) {
        metrics::gauge!("eats_outbox_pending_events").set(0.0);
        metrics::gauge!("eats_outbox_oldest_seconds").set(0.0);
        let shutdown = self.shutdown.clone();
        let lag = relay.clone();
        self.spawn("the relay".into(), async move { relay.run(shutdown).await });
        let shutdown = self.shutdown.clone();
        self.spawn("the outbox lag export".into(), async move {
            loop {
                if let Ok(lag) = lag.lag().await {
                    metrics::gauge!("eats_outbox_pending_events").set(lag.events as f64);
                    metrics::gauge!("eats_outbox_oldest_seconds").set(lag.seconds);
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
    }

    /// Runs each handler on its durable consumer, behind [`Recorded`] (positions, gaps filled
    /// from the event store), with the [`Reconciler`] re-feeding what the stream lost.
    fn start_jetstream(
        &mut self,
        feed: JetStreamFeed,
        recorded: Vec<Arc<Recorded>>,
        reconciler: Reconciler,
        interval: Duration,
    ) {
        let shutdown = self.shutdown.clone();
        self.spawn("the reconciler".into(), async move {
            reconciler.run(shutdown).await
        });
        let handlers: Vec<Arc<dyn EventHandler>> = recorded
            .into_iter()
            .map(|handler| handler as Arc<dyn EventHandler>)
            .collect();
        for handler in &handlers {
            let (feed, handler, shutdown) = (feed.clone(), handler.clone(), self.shutdown.clone());
            self.spawn(format!("consumer {}", handler.name()), async move {
                feed.run(handler.as_ref(), shutdown).await
            });
        }
        let (shutdown, board) = (self.shutdown.clone(), self.board.clone());
        self.spawn("the lag export".into(), async move {
            loop {
                for handler in &handlers {
                    if let Ok(lag) = feed.lag(handler.as_ref()).await {
                        export_lag(&board, handler.name(), lag.events, lag.seconds);
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
    }

    fn spawn(&mut self, name: String, task: impl Future<Output = ()> + Send + 'static) {
        let id = self.tasks.spawn(task).id();
        self.names.insert(id, name);
    }

    /// Resolves when a role's task ends before [`Workers::stop`] (each runs until shutdown,
    /// so ending is dying: it returned or panicked), naming it; never when none runs. The
    /// process must then exit non-zero so the orchestrator restarts it.
    pub async fn died(&mut self) -> String {
        let Some(ended) = self.tasks.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let (id, how) = match ended {
            Ok((id, ())) => (id, "returned".to_string()),
            Err(error) if error.is_panic() => (error.id(), "panicked".to_string()),
            Err(error) => (error.id(), error.to_string()),
        };
        let name = self
            .names
            .remove(&id)
            .unwrap_or_else(|| format!("task {id}"));
        tracing::error!(role = %name, how, "a background role stopped before shutdown");
        format!("{name} ({how})")
    }

    /// Asks every role to stop and waits until each has finished its in-flight work.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_workers() -> Workers {
        Workers {
            board: eats_api::LagBoard::default(),
            tasks: JoinSet::new(),
            names: HashMap::new(),
            shutdown: CancellationToken::new(),
            nats: None,
        }
    }

    #[tokio::test]
    async fn a_role_that_panics_is_noticed_by_name() {
        let mut workers = idle_workers();
        let shutdown = workers.shutdown.clone();
        workers.spawn("the steady one".into(), async move {
            shutdown.cancelled().await
        });
        workers.spawn("consumer order_view".into(), async { panic!("boom") });
        let died = tokio::time::timeout(Duration::from_secs(10), workers.died())
            .await
            .expect("the panic is noticed");
        assert_eq!(died, "consumer order_view (panicked)");
        workers.stop().await;
    }

    #[tokio::test]
    async fn a_role_that_returns_before_shutdown_is_noticed_too() {
        let mut workers = idle_workers();
        workers.spawn("the relay".into(), async {});
        assert_eq!(workers.died().await, "the relay (returned)");
    }

    #[tokio::test]
    async fn no_role_running_is_not_a_death() {
        let mut workers = idle_workers();
        let waited = tokio::time::timeout(Duration::from_millis(50), workers.died()).await;
        assert!(waited.is_err(), "died() resolved with nothing running");
    }
}
