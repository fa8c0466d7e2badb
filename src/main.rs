//! `eats`: the one binary. `eats serve` runs the system; the other subcommands are admin tools.

use clap::{Parser, Subcommand};
use eats::config::{AuthConfig, ServeConfig, StoreConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Event-sourced food-delivery ordering backend.
#[derive(Parser)]
#[command(name = "eats", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run eats: embedded on SQLite by default, on Postgres when EATS_DATABASE_URL is set.
    Serve(Box<ServeConfig>),
    /// The stored story: an order's across its aggregates, one aggregate's, and checks.
    Audit {
        #[command(subcommand)]
        what: AuditWhat,
    },
    /// Messages the process managers gave up on.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Check every read model row against the event store.
    VerifyProjections {
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Rebuild read models (all, or those named) from the event store, blue/green one after
    /// the other, as `eats projections rebuild` does for one; safe while `eats serve` runs.
    RebuildProjections {
        /// Only these read models (order_view, store_queue, delivery_board,
        /// customer_profile, audit_timeline, store_directory); all when absent.
        #[arg(long = "only")]
        only: Vec<String>,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// The read models: what they are, how far each has got, and blue/green rebuilds.
    Projections {
        #[command(subcommand)]
        action: ProjectionAction,
    },
    /// Apply chosen aggregates' stored events again to one read model (a repair); process
    /// managers and the notifier never see a replay.
    Replay {
        /// The read model (see `projections list`).
        #[arg(long)]
        projection: String,
        /// Only this aggregate.
        #[arg(long = "aggregate")]
        aggregate_id: Option<String>,
        /// Only aggregates of this type (Order, Payment, Delivery, Store, Customer).
        #[arg(long = "type")]
        aggregate_type: Option<String>,
        /// Only aggregates with an event at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only aggregates with an event before this time (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// One JSON line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Mint a development token (HS256 with EATS_JWT_SECRET or the data folder's secret).
    Token {
        /// customer, store_owner, rider or admin.
        #[arg(long)]
        role: eats_api::Role,
        /// The user's UUID; a new one when absent.
        #[arg(long)]
        sub: Option<uuid::Uuid>,
        /// Minutes until it expires.
        #[arg(long, default_value_t = 60 * 24)]
        ttl_minutes: i64,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum AuditWhat {
    /// Every event of one order across its aggregates (order, payment, delivery, customer)
    /// in commit order, with who, when, what caused it (a tree) and the state after it, and
    /// the messages recorded about it.
    Order {
        /// The order's id.
        id: String,
        /// Only what had happened by then (RFC 3339, e.g. 2026-12-04T19:00:00Z).
        #[arg(long)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// One JSON line per event instead of a table and a tree.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// One aggregate's stored events, oldest first, as stored (old versions not upcast).
    Aggregate {
        /// Order, Payment, Delivery, Store or Customer.
        aggregate_type: String,
        /// The aggregate's id.
        aggregate_id: String,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Replay an order's stored events through its aggregates and check the result against
    /// the state the store loads and the read models' rows.
    Verify {
        /// The order's id.
        id: String,
        #[command(flatten)]
        store: StoreConfig,
    },
}

#[derive(Subcommand)]
enum ProjectionAction {
    /// Every read model, its tables and the aggregate types it reads.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Rows, aggregates and events applied against the events stored, per read model.
    Status {
        /// Only this read model.
        name: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Rebuild one read model into new tables while the live ones serve, catch up, then
    /// switch in one transaction.
    Rebuild {
        /// The read model (see `list`).
        name: String,
        /// Build and compare with the live tables, print the differences, switch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Events per transaction while rebuilding.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// One JSON line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// The parked messages: id, event, attempts, reason.
    List {
        /// Include ones already retried or discarded.
        #[arg(long)]
        all: bool,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// One in full: the reason, the attempts and the event.
    Show {
        /// Its id, from `list`.
        id: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Run one through the process manager again, once (after fixing its cause); it stays
    /// parked if that fails.
    #[command(alias = "replay")]
    Retry {
        /// Its id, from `list`.
        id: i64,
        #[command(flatten)]
        config: Box<ServeConfig>,
    },
    /// Give up on one for good; it is no longer listed or retried.
    Discard {
        /// Its id, from `list`.
        id: i64,
        /// Why (kept with it).
        #[arg(long)]
        note: String,
        #[command(flatten)]
        store: StoreConfig,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eats::telemetry::init();
    match Cli::parse().command {
        Command::Serve(config) => {
            // Before anything listens: a SIGTERM right after the first answer must stop the
            // server gracefully, not kill it with the signal's default action.
            let stop =
                anyhow::Context::context(shutdown_signal(), "listening for SIGTERM and Ctrl-C")?;
            let app = eats::app::Application::build(&config).await?;
            app.run_until_stopped(stop).await
        }
        Command::Audit { what } => {
            let mut out = std::io::stdout().lock();
            match what {
                AuditWhat::Order {
                    id,
                    as_of,
                    json,
                    store,
                } => eats::admin::audit::order(&store, &id, as_of, json, &mut out)
                    .await
                    .map(drop),
                AuditWhat::Aggregate {
                    aggregate_type,
                    aggregate_id,
                    json,
                    store,
                } => eats::admin::audit::aggregate(
                    &store,
                    &aggregate_type,
                    &aggregate_id,
                    json,
                    &mut out,
                )
                .await
                .map(drop),
                AuditWhat::Verify { id, store } => {
                    eats::admin::audit::verify(&store, &id, &mut out).await
                }
            }
        }
        Command::DeadLetters { action } => {
            let mut out = std::io::stdout().lock();
            match action {
                DeadLetterAction::List { all, json, store } => {
                    eats::admin::dead_letters::list(&store, all, json, &mut out)
                        .await
                        .map(drop)
                }
                DeadLetterAction::Show { id, json, store } => {
                    eats::admin::dead_letters::show(&store, id, json, &mut out).await
                }
                DeadLetterAction::Retry { id, config } => {
                    eats::admin::dead_letters::retry(&config, id, &mut out).await
                }
                DeadLetterAction::Discard { id, note, store } => {
                    eats::admin::dead_letters::discard(&store, id, &note, &mut out).await
                }
            }
        }
        Command::Token {
            role,
            sub,
            ttl_minutes,
            auth,
            store,
        } => {
            let (secret, source) = auth.secret_with_source(&store)?;
            // On stderr, so `TOKEN=$(eats token ...)` captures the token alone; a server
            // started from another folder (another EATS_DATA_DIR) has another secret.
            eprintln!("eats token: signed with the secret from {source}");
            let minter = eats_api::Auth::hs256(secret.as_bytes())?;
            let token = minter.mint(
                sub.unwrap_or_else(uuid::Uuid::new_v4),
                role,
                chrono::Duration::minutes(ttl_minutes),
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Projections { action } => {
            let mut out = std::io::stdout().lock();
            match action {
                ProjectionAction::List { json, store } => {
                    eats::admin::projections::list(&store, json, &mut out).await
                }
                ProjectionAction::Status { name, json, store } => {
                    eats::admin::projections::status(&store, name.as_deref(), json, &mut out).await
                }
                ProjectionAction::Rebuild {
                    name,
                    dry_run,
                    batch,
                    json,
                    store,
                } => {
                    eats::admin::projections::rebuild(&store, &name, dry_run, batch, json, &mut out)
                        .await
                }
            }
        }
        Command::Replay {
            projection,
            aggregate_id,
            aggregate_type,
            since,
            until,
            json,
            store,
        } => {
            let selection = eats_projections::replay::Selection {
                aggregate_id,
                aggregate_type,
                since,
                until,
            };
            let mut out = std::io::stdout().lock();
            eats::admin::projections::replay(&store, &projection, &selection, json, &mut out).await
        }
        Command::Openapi => {
            println!("{}", eats_api::openapi_json());
            Ok(())
        }
        Command::VerifyProjections { store } => {
            let mut out = std::io::stdout().lock();
            eats::admin::verify_projections(&store, &mut out).await
        }
        Command::RebuildProjections { only, store } => {
            let mut out = std::io::stdout().lock();
            eats::admin::rebuild_projections(&store, &only, &mut out).await
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before killing a pod). The handlers
/// are installed here, at once: a signal future installs its handler only when first polled,
/// and a SIGTERM before that would end the process at once with no graceful shutdown.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
