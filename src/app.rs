//! Start-up: open the event store for the configured mode, bind the listener, serve until
//! told to stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Data;
use poem::{get, handler, EndpointExt, IntoResponse, Route, Server};

use crate::config::{Role, ServeConfig};
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
}

/// What the ops endpoints check.
#[derive(Clone)]
struct Health {
    db: eats_store::Database,
    nats: Option<async_nats::Client>,
}

impl Application {
    /// Opens and migrates the event store, starts the background roles, then binds the
    /// listener (port 0 picks a free one).
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        crate::telemetry::metrics();
        let db = config
            .store
            .open()
            .await
            .with_context(|| format!("opening the {} event store", config.store.mode()))?;
        let aggregates = config.aggregates(&db)?;
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
        Ok(Self {
            api,
            acceptor: HeaderTimeoutAcceptor::new(acceptor, config.http.header_read_timeout()),
            limits: config.http.limits(),
            addr,
            db,
            aggregates,
            workers,
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

    /// Serves until `shutdown` resolves, then finishes in-flight requests and stops the
    /// background roles after their in-flight events.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let health = Health {
            db: self.db.clone(),
            nats: self.workers.nats.clone(),
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
                ops.nest("/", eats_api::routes(state, auth, limits)).boxed()
            }
            None => ops.boxed(),
        };
        let app = self.limits.around(app);
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(std::time::Duration::from_secs(10)))
            .await
            .context("serving HTTP");
        self.workers.stop().await;
        served
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
