//! Start-up: open the event store for the configured mode, bind the listener, serve until
//! told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Data;
use poem::{get, handler, EndpointExt, IntoResponse, Route, Server};

use crate::config::{Role, ServeConfig, ShutdownConfig};
use crate::edge::{HeaderLimits, HeaderTimeoutAcceptor};
use crate::workers::Workers;

/// A bound, not yet running eats server.
pub struct Application {
    api: Option<(
        eats_api::ApiState,
        eats_api::Auth,
        eats_api::RateLimitSettings,
    )>,
    acceptor: HeaderTimeoutAcceptor<eats_api::HangupAware<TcpAcceptor>>,
    limits: HeaderLimits,
    addr: SocketAddr,
    db: eats_store::Database,
    aggregates: eats_store::Aggregates,
    workers: Workers,
    shutdown: ShutdownConfig,
}

/// What the ops endpoints check.
#[derive(Clone)]
struct Health {
    db: eats_store::Database,
    nats: Option<async_nats::Client>,
    /// Set when stopping: not ready any more, though still serving for a while.
    draining: Arc<AtomicBool>,
}

impl Application {
    /// Opens and migrates the event store, starts the background roles, then binds the
    /// listener (port 0 picks a free one).
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        crate::telemetry::metrics();
        let embedded = config.store.database_url.is_none();
        let first_run = embedded
            && !config
                .store
                .data_dir
                .join(eats_store::database::SQLITE_FILE)
                .exists();
        let db = config
            .store
            .open()
            .await
            .with_context(|| format!("opening the {} event store", config.store.mode()))?;
        let aggregates = config.aggregates(&db)?;
        if first_run && config.demo_data {
            let stores = crate::demo::seed(&aggregates).await?;
            tracing::info!(
                stores,
                owner = %crate::demo::DEMO_OWNER,
                "first run: demo stores seeded near Seoul City Hall (EATS_DEMO_DATA=0 to start empty)"
            );
        }
        let auth = config.auth.auth(&config.store)?;
        let board = eats_api::LagBoard::default();
        let hub = eats_projections::live::Hub::default();
        let mut workers = Workers::start(config, &db, &aggregates, board.clone(), &hub).await?;
        if config.fanout.runs(Role::Api) {
            workers.listen_live(&db, &hub);
        }
        let api = config.fanout.runs(Role::Api).then(|| {
            (
                eats_api::ApiState {
                    db: db.clone(),
                    aggregates: aggregates.clone(),
                    lag: board,
                    idempotency: config.auth.idempotency(),
                    live: config.streams.live(hub),
                    dead_letter_retry: Some(std::sync::Arc::new(
                        eats_saga::ProcessManager::new(
                            aggregates.clone(),
                            db.clone(),
                            config.saga.settings(),
                        )
                        .strict(),
                    )),
                },
                auth,
                config.auth.limits(),
            )
        });
        let acceptor = eats_api::HangupAware(
            TcpListener::bind(config.listen)
                .into_acceptor()
                .await
                .with_context(|| format!("binding {}", config.listen))?,
        );
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("reading the bound address")?;
        tracing::info!(%addr, mode = config.store.mode(), roles = ?config.fanout.roles, "eats is listening");
        if first_run {
            tracing::info!(
                api = %format!("http://{addr}/api/v1"),
                docs = %format!("http://{addr}/docs"),
                token = "eats token --role customer (store_owner, rider, admin)",
                "first run: where to start"
            );
        }
        Ok(Self {
            api,
            acceptor: HeaderTimeoutAcceptor::new(acceptor, config.http.header_read_timeout()),
            limits: config.http.limits(),
            addr,
            db,
            aggregates,
            workers,
            shutdown: config.shutdown.clone(),
        })
    }

    /// The bound address, e.g. to learn which port 0 became.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The event store this application runs on.
    pub fn db(&self) -> &eats_store::Database {
        &self.db
    }

    /// The command handlers, wired to the configured gateway.
    pub fn aggregates(&self) -> &eats_store::Aggregates {
        &self.aggregates
    }

    /// Serves until `shutdown` resolves, then stops in two phases: readiness answers 503 for
    /// `EATS_SHUTDOWN_DELAY_SECS` while requests are still served, then the listener closes
    /// and in-flight requests and events get `EATS_SHUTDOWN_GRACE_SECS` to finish. A
    /// background role that ends on its own stops the process the same way, with an error,
    /// so the orchestrator restarts it.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let draining = Arc::new(AtomicBool::new(false));
        let health = Health {
            db: self.db.clone(),
            nats: self.workers.nats.clone(),
            draining: draining.clone(),
        };
        let ops = Route::new()
            .at("/healthz", get(healthz).data(health.clone()))
            .at("/readyz", get(readyz).data(health.clone()))
            .at("/metrics", get(metrics));
        let live = self.api.as_ref().map(|(state, ..)| state.live.clone());
        let shutdown = async move {
            shutdown.await;
            if let Some(live) = live {
                live.close_all();
            }
        };
        let app = match self.api {
            Some((state, auth, limits)) => {
                crate::web::WebApp(ops.nest("/", eats_api::routes(state, auth, limits))).boxed()
            }
            None => ops.boxed(),
        };
        let app = self.limits.around(app);
        let (delay, grace) = (self.shutdown.delay(), self.shutdown.grace());
        let stop_serving = tokio_util::sync::CancellationToken::new();
        let server = Server::new_with_acceptor(self.acceptor).run_with_graceful_shutdown(
            app,
            stop_serving.clone().cancelled_owned(),
            Some(grace),
        );
        tokio::pin!(server, shutdown);
        let died = tokio::select! {
            served = &mut server => {
                // The listener failed: nothing is served any more, stop the rest.
                stop_within(self.workers, grace).await;
                return served.context("serving HTTP");
            }
            () = &mut shutdown => None,
            died = self.workers.died() => Some(died),
        };
        draining.store(true, Ordering::SeqCst);
        match &died {
            Some(role) => tracing::error!(%role, "a background role stopped; shutting down"),
            None if !delay.is_zero() => {
                tracing::info!(
                    ?delay,
                    "not ready any more; still serving until the delay ends"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    served = &mut server => tracing::warn!(?served, "the listener ended while draining"),
                }
            }
            None => {}
        }
        tracing::info!(
            ?grace,
            "closing the listener; in-flight work has the grace period"
        );
        stop_serving.cancel();
        let (served, ()) = tokio::join!(server, stop_within(self.workers, grace));
        if let Some(role) = died {
            anyhow::bail!("{role} stopped on its own; exiting so the process is restarted");
        }
        served.context("serving HTTP")
    }
}

/// Stops the background roles, waiting at most `grace` for their in-flight events (what
/// is not acknowledged by then is redelivered, to another replica or after the restart).
async fn stop_within(workers: Workers, grace: Duration) {
    if tokio::time::timeout(grace, workers.stop()).await.is_err() {
        tracing::warn!(
            ?grace,
            "background roles did not finish within the grace period; exiting anyway"
        );
    }
}

/// Alive: the process answers. Orchestrators restart it when this fails.
#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// Ready: the event store (and, when distributed, NATS) answers. Load balancers route to it
/// only then.
#[handler]
async fn readyz(health: Data<&Health>) -> poem::Response {
    let unavailable = |what: &'static str| {
        poem::Response::builder()
            .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
            .body(what)
    };
    if health.draining.load(Ordering::SeqCst) {
        return unavailable("shutting down");
    }
    if let Err(error) = health.db.ping().await {
        tracing::warn!(%error, "not ready: event store unreachable");
        return unavailable("event store unreachable");
    }
    if let Some(nats) = &health.nats {
        if nats.connection_state() != async_nats::connection::State::Connected {
            return unavailable("NATS unreachable");
        }
    }
    "ready".into_response()
}

/// Prometheus metrics: consumer and outbox lag among them.
#[handler]
fn metrics() -> poem::Response {
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::metrics().render())
}
