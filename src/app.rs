//! Start-up: open the event store for the configured mode, bind the listener, serve until
//! told to stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Data;
use poem::{get, handler, EndpointExt, IntoResponse, Route, Server};

use crate::config::ServeConfig;

/// A bound, not yet running eats server.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    db: eats_store::Database,
}

impl Application {
    /// Opens and migrates the event store, then binds the listener (port 0 picks a free one).
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let db = config
            .store
            .open()
            .await
            .with_context(|| format!("opening the {} event store", config.store.mode()))?;
        let acceptor = TcpListener::bind(config.listen)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("reading the bound address")?;
        tracing::info!(%addr, mode = config.store.mode(), "eats is listening");
        Ok(Self { acceptor, addr, db })
    }

    /// The bound address, e.g. to learn which port 0 became.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let app = Route::new()
            .at("/healthz", get(healthz))
            .at("/readyz", get(readyz))
            .data(self.db);
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(std::time::Duration::from_secs(10)))
            .await
            .context("serving HTTP")
    }
}

/// Alive: the process answers. Orchestrators restart it when this fails.
#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// Ready: the event store answers. Load balancers route to it only then.
#[handler]
async fn readyz(db: Data<&eats_store::Database>) -> poem::Response {
    match db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: event store unreachable");
            poem::Response::builder()
                .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
                .body("event store unreachable")
        }
    }
}
