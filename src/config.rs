//! Settings, read from `EATS_*` environment variables; every one has a mirroring flag and a
//! default that works on a laptop with nothing installed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use clap::{Args, ValueEnum};
use eats_domain::customer::GradePolicy;

/// Where events live: the mode follows from whether a Postgres URL is given.
#[derive(Args, Clone, Debug)]
pub struct StoreConfig {
    /// Postgres URL. When set, eats runs distributed on Postgres; when unset, embedded on SQLite.
    #[arg(long, env = "EATS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Embedded mode's data folder (the SQLite event store lives here).
    #[arg(long, env = "EATS_DATA_DIR", default_value = "./eats-data")]
    pub data_dir: PathBuf,

    /// Postgres connections per process.
    #[arg(long, env = "EATS_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Events between snapshots of the aggregates whose histories grow (stores, customers); 0
    /// turns snapshots off.
    #[arg(long, env = "EATS_SNAPSHOT_EVERY", default_value_t = eats_store::database::DEFAULT_SNAPSHOT_EVERY)]
    pub snapshot_every: usize,

    /// Orders, payments and deliveries the command handlers remember per type, so a command on
    /// one this process wrote last needs no load (every answer is still checked against the
    /// event store); 0 turns the cache off.
    #[arg(long, env = "EATS_AGGREGATE_CACHE", default_value_t = eats_store::database::DEFAULT_AGGREGATE_CACHE)]
    pub aggregate_cache: usize,
}

impl StoreConfig {
    /// Opens (and migrates) the configured event store.
    pub async fn open(&self) -> Result<eats_store::Database, eats_store::StoreError> {
        let db = match &self.database_url {
            Some(url) => {
                eats_store::Database::connect_postgres(url, self.database_max_connections).await?
            }
            None => eats_store::Database::open_sqlite(&self.data_dir).await?,
        };
        Ok(db
            .with_snapshot_every(self.snapshot_every)
            .with_aggregate_cache(self.aggregate_cache))
    }

    /// `postgres` or `embedded`, for logs.
    pub fn mode(&self) -> &'static str {
        if self.database_url.is_some() {
            "postgres"
        } else {
            "embedded"
        }
    }
}

/// A part of eats that one process can run. Distributed deployments run each as its own
/// scalable workload; embedded mode runs them all.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything below.
    All,
    /// The HTTP API.
    Api,
    /// The outbox relay to JetStream (Postgres mode only).
    Relay,
    /// The five read-model projectors.
    Projectors,
    /// The process managers and the deadline runner.
    Sagas,
    /// The notifier: records and sends KakaoTalk / SMS messages.
    Notifier,
}

/// How committed events fan out.
#[derive(Args, Clone, Debug)]
pub struct FanoutConfig {
    /// NATS URL with JetStream; required in Postgres mode for the relay and projectors.
    #[arg(long, env = "EATS_NATS_URL")]
    pub nats_url: Option<String>,

    /// Namespace for the stream and subjects, to run several eats on one NATS.
    #[arg(long, env = "EATS_NATS_NAMESPACE")]
    pub nats_namespace: Option<String>,

    /// Roles this process runs, comma-separated: all, api, relay, projectors, sagas, notifier.
    #[arg(
        long,
        env = "EATS_ROLES",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    pub roles: Vec<Role>,

    /// Copies of the event stream across the NATS cluster when eats creates it (3 on a
    /// three-server cluster: a publish is acknowledged once a majority stored it, so one
    /// server's crash loses no acknowledged event). An existing stream is left as it is.
    #[arg(long, env = "EATS_NATS_STREAM_REPLICAS", default_value_t = 1)]
    pub nats_stream_replicas: usize,

    /// Seconds between lag measurements exported on /metrics.
    #[arg(long, env = "EATS_LAG_INTERVAL_SECS", default_value_t = 5)]
    pub lag_interval_secs: u64,

    /// Seconds between two looks for events a consumer should have had by now but has not
    /// (the stream lost them in a NATS crash); a reconnect to NATS starts one at once.
    #[arg(long, env = "EATS_RECOVERY_INTERVAL_SECS", default_value_t = 10)]
    pub recovery_interval_secs: u64,

    /// Seconds after its relay (or after the consumer's oldest pending message) an event
    /// counts as overdue and is re-fed from the event store.
    #[arg(long, env = "EATS_RECOVERY_SETTLE_SECS", default_value_t = 10)]
    pub recovery_settle_secs: u64,

    /// Seconds the relay's notes of published events are kept: a loss found later than
    /// this is left to `eats rebuild-projections` and the deadlines.
    #[arg(long, env = "EATS_RECOVERY_WINDOW_SECS", default_value_t = 3600)]
    pub recovery_window_secs: u64,
}

impl FanoutConfig {
    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&Role::All) || self.roles.contains(&role)
    }

    /// How the reconciler looks for what a NATS crash dropped.
    pub fn recovery(&self) -> eats_nats::RecoverySettings {
        eats_nats::RecoverySettings {
            interval: Duration::from_secs(self.recovery_interval_secs.max(1)),
            settle: Duration::from_secs(self.recovery_settle_secs),
            window: Duration::from_secs(self.recovery_window_secs.max(60)),
            ..eats_nats::RecoverySettings::default()
        }
    }

    /// The stream and subjects to use.
    pub fn topology(&self) -> Result<eats_nats::Topology, eats_nats::InvalidName> {
        match &self.nats_namespace {
            Some(namespace) => eats_nats::Topology::namespaced(namespace),
            None => Ok(eats_nats::Topology::default()),
        }
    }
}

/// The payment gateway and how it is guarded.
#[derive(Args, Clone, Debug)]
pub struct PaymentConfig {
    /// Toss Payments API base URL; unset runs the built-in simulator.
    #[arg(long, env = "EATS_PAYMENT_URL")]
    pub payment_url: Option<String>,

    /// Toss secret key (Basic auth user); required with EATS_PAYMENT_URL.
    #[arg(long, env = "EATS_PAYMENT_SECRET_KEY", hide_env_values = true)]
    pub payment_secret_key: Option<String>,

    /// Longest wait for one gateway call, in milliseconds.
    #[arg(long, env = "EATS_PAYMENT_TIMEOUT_MS", default_value_t = 3_000)]
    pub payment_timeout_ms: u64,

    /// Consecutive gateway failures that open the circuit breaker.
    #[arg(long, env = "EATS_PAYMENT_BREAKER_FAILURES", default_value_t = 5)]
    pub payment_breaker_failures: u32,

    /// Seconds the breaker stays open before one trial call.
    #[arg(long, env = "EATS_PAYMENT_BREAKER_OPEN_SECS", default_value_t = 30)]
    pub payment_breaker_open_secs: u64,

    /// The simulator's latency per call, in milliseconds.
    #[arg(long, env = "EATS_PAYMENT_SIM_LATENCY_MS", default_value_t = 30)]
    pub payment_sim_latency_ms: u64,

    /// The simulator's share of failing calls, 0 to 1.
    #[arg(long, env = "EATS_PAYMENT_SIM_FAILURE_RATE", default_value_t = 0.0)]
    pub payment_sim_failure_rate: f64,
}

impl PaymentConfig {
    /// The configured gateway behind its timeout and breaker.
    pub fn gateway(
        &self,
    ) -> anyhow::Result<std::sync::Arc<dyn eats_domain::payment::PaymentGateway>> {
        use eats_saga::gateway::{
            BreakerSettings, GuardedGateway, SimulatedGateway, SimulatorSettings, TossGateway,
        };
        use std::time::Duration;
        let breaker = BreakerSettings {
            timeout: Duration::from_millis(self.payment_timeout_ms.max(1)),
            failures: self.payment_breaker_failures.max(1),
            open_for: Duration::from_secs(self.payment_breaker_open_secs.max(1)),
        };
        Ok(match &self.payment_url {
            Some(url) => {
                let secret = self.payment_secret_key.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("EATS_PAYMENT_SECRET_KEY is required with EATS_PAYMENT_URL")
                })?;
                let toss = TossGateway::new(url, secret, breaker.timeout)?;
                std::sync::Arc::new(GuardedGateway::new(toss, breaker))
            }
            None => {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&self.payment_sim_failure_rate),
                    "EATS_PAYMENT_SIM_FAILURE_RATE must be between 0 and 1"
                );
                let simulator = SimulatedGateway::new(SimulatorSettings {
                    latency: Duration::from_millis(self.payment_sim_latency_ms),
                    failure_rate: self.payment_sim_failure_rate,
                });
                std::sync::Arc::new(GuardedGateway::new(simulator, breaker))
            }
        })
    }
}

/// Process managers and deadlines.
#[derive(Args, Clone, Debug)]
pub struct SagaConfig {
    /// Seconds a placed order may stay unpaid before it is cancelled.
    #[arg(long, env = "EATS_PAYMENT_DEADLINE_SECS", default_value_t = 900)]
    pub payment_deadline_secs: u64,

    /// Seconds a paid order may wait for the store before it is rejected and refunded.
    #[arg(long, env = "EATS_STORE_DEADLINE_SECS", default_value_t = 600)]
    pub store_deadline_secs: u64,

    /// Seconds a delivery job may stay unclaimed before its radius doubles.
    #[arg(long, env = "EATS_CLAIM_DEADLINE_SECS", default_value_t = 180)]
    pub claim_deadline_secs: u64,

    /// Radius in metres a new delivery job opens with.
    #[arg(long, env = "EATS_DELIVERY_RADIUS_M", default_value_t = 2_000)]
    pub delivery_radius_m: u32,

    /// Attempts per follow-up before it is parked as a dead letter.
    #[arg(long, env = "EATS_SAGA_MAX_ATTEMPTS", default_value_t = 5)]
    pub saga_max_attempts: u32,
}

impl SagaConfig {
    /// The process manager's settings.
    pub fn settings(&self) -> eats_saga::SagaSettings {
        use std::time::Duration;
        eats_saga::SagaSettings {
            max_attempts: self.saga_max_attempts.max(1),
            first_backoff: Duration::from_millis(100),
            delivery_radius_m: self
                .delivery_radius_m
                .clamp(1, eats_domain::delivery::MAX_RADIUS_M),
            deadlines: eats_saga::deadlines::DeadlineSettings {
                payment: Duration::from_secs(self.payment_deadline_secs),
                store_response: Duration::from_secs(self.store_deadline_secs),
                claim: Duration::from_secs(self.claim_deadline_secs),
            },
        }
    }
}

/// How API callers are authenticated and limited.
#[derive(Args, Clone, Debug)]
pub struct AuthConfig {
    /// HS256 secret for bearer JWTs (at least 32 bytes). Embedded mode without it keeps a
    /// random one in the data folder (`jwt.secret`), which `eats token` also reads.
    #[arg(long, env = "EATS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM file of an RS256 public key; when set, tokens are verified with it instead.
    #[arg(long, env = "EATS_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Requests per second one client (token user, else IP) may make.
    #[arg(long, env = "EATS_RATE_LIMIT_PER_SEC", default_value_t = 50)]
    pub rate_limit_per_sec: u32,

    /// Requests one client may burst above the rate.
    #[arg(long, env = "EATS_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,

    /// Seconds an `Idempotency-Key` is remembered; after that it is purged and reusing it is
    /// a new request.
    #[arg(long, env = "EATS_IDEMPOTENCY_TTL_SECS", default_value_t = 24 * 60 * 60)]
    pub idempotency_ttl_secs: u64,

    /// Seconds after which a retry takes over a key whose first attempt never answered
    /// (client gone, process died); the retry reaches the same effect, never a second one.
    #[arg(long, env = "EATS_IDEMPOTENCY_STALE_SECS", default_value_t = 60)]
    pub idempotency_stale_secs: u64,

    /// The development sign-in (`POST /api/v1/dev/login`: a role and a name get a token),
    /// for the web app on a machine with no identity provider. Unset: on in embedded mode
    /// with an HS256 secret, off with Postgres or a public key.
    #[arg(long, env = "EATS_DEV_LOGIN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev_login: Option<bool>,
}

/// The JWT secret file inside the embedded data folder.
pub const SECRET_FILE: &str = "jwt.secret";

impl AuthConfig {
    /// The verifier (and, with a secret, minter) of tokens.
    pub fn auth(&self, store: &StoreConfig) -> anyhow::Result<eats_api::Auth> {
        let auth = if let Some(path) = &self.jwt_public_key_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            eats_api::Auth::rs256(&pem)?
        } else {
            let (secret, source) = self.secret_with_source(store)?;
            tracing::info!(%source, "verifying tokens with the HS256 secret");
            eats_api::Auth::hs256(secret.as_bytes())?
        };
        let by_default = store.database_url.is_none() && self.jwt_public_key_file.is_none();
        if self.dev_login.unwrap_or(by_default) {
            // Embedded, it is the default of a machine of one's own; with Postgres someone
            // turned it on where others may reach it, which deserves a warning.
            if store.database_url.is_some() {
                tracing::warn!("development sign-in on: anyone reaching this server may take any role (EATS_DEV_LOGIN=0 turns it off)");
            } else {
                tracing::info!("development sign-in on (POST /api/v1/dev/login; EATS_DEV_LOGIN=0 turns it off)");
            }
            return Ok(auth.with_dev_login()?);
        }
        Ok(auth)
    }

    /// The HS256 secret: configured, or (embedded mode only) the data folder's own.
    pub fn secret(&self, store: &StoreConfig) -> anyhow::Result<String> {
        Ok(self.secret_with_source(store)?.0)
    }

    /// The HS256 secret and where it came from (`EATS_JWT_SECRET` or the secret file's
    /// absolute path), so tools can say which secret they used.
    pub fn secret_with_source(&self, store: &StoreConfig) -> anyhow::Result<(String, String)> {
        if let Some(secret) = &self.jwt_secret {
            return Ok((secret.clone(), "EATS_JWT_SECRET".into()));
        }
        anyhow::ensure!(
            store.database_url.is_none(),
            "EATS_JWT_SECRET (or EATS_JWT_PUBLIC_KEY_FILE) is required in Postgres mode"
        );
        std::fs::create_dir_all(&store.data_dir)
            .with_context(|| format!("creating the data folder {}", store.data_dir.display()))?;
        let dir = std::fs::canonicalize(&store.data_dir)
            .with_context(|| format!("resolving the data folder {}", store.data_dir.display()))?;
        let path = dir.join(SECRET_FILE);
        let secret = read_or_create_secret(&path)?;
        Ok((secret, path.display().to_string()))
    }

    /// How long idempotency keys live.
    pub fn idempotency(&self) -> eats_api::IdempotencySettings {
        eats_api::IdempotencySettings {
            ttl: std::time::Duration::from_secs(self.idempotency_ttl_secs),
            stale_after: std::time::Duration::from_secs(self.idempotency_stale_secs),
        }
    }

    /// Per-client limits.
    pub fn limits(&self) -> eats_api::RateLimitSettings {
        eats_api::RateLimitSettings {
            per_second: self.rate_limit_per_sec,
            burst: self.rate_limit_burst,
        }
    }
}

/// Reads the secret at `path`, creating it first when absent. Creation is atomic: the secret
/// is written to a private temporary file and hard-linked into place, which fails if another
/// process won the race, and then the winner's secret is read. Nobody ever reads a partly
/// written file.
fn read_or_create_secret(path: &Path) -> anyhow::Result<String> {
    let read = |path: &Path| -> anyhow::Result<Option<String>> {
        match std::fs::read_to_string(path) {
            Ok(secret) if !secret.trim().is_empty() => Ok(Some(secret.trim().to_string())),
            Ok(_) => anyhow::bail!("the JWT secret file {} is empty", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
        }
    };
    if let Some(secret) = read(path)? {
        return Ok(secret);
    }
    let secret: String = (0..48).map(|_| fastrand::alphanumeric()).collect();
    let temporary =
        path.with_extension(format!("tmp-{}-{}", std::process::id(), fastrand::u64(..)));
    write_private(&temporary, &secret)
        .with_context(|| format!("writing {}", temporary.display()))?;
    let linked = std::fs::hard_link(&temporary, path);
    if let Err(error) = std::fs::remove_file(&temporary) {
        tracing::warn!(path = %temporary.display(), %error, "could not remove a temporary file");
    }
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a JWT secret for embedded mode");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path)?.with_context(|| {
            format!(
                "{} vanished after another process created it",
                path.display()
            )
        }),
        Err(e) => Err(anyhow::Error::new(e).context(format!("creating {}", path.display()))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Live streams (SSE).
#[derive(Args, Clone, Debug)]
pub struct StreamConfig {
    /// Live streams one user may hold open at once; more are refused with 429.
    #[arg(long, env = "EATS_STREAMS_PER_USER", default_value_t = eats_api::live::DEFAULT_STREAMS_PER_USER)]
    pub streams_per_user: usize,

    /// Seconds between heartbeat comments on an idle live stream.
    #[arg(long, env = "EATS_STREAM_HEARTBEAT_SECS", default_value_t = eats_api::live::DEFAULT_HEARTBEAT_SECS)]
    pub stream_heartbeat_secs: u64,
}

impl StreamConfig {
    /// The live streams of this process, woken through `hub`.
    pub fn live(&self, hub: eats_projections::live::Hub) -> eats_api::LiveStreams {
        eats_api::LiveStreams::new(
            hub,
            self.streams_per_user,
            std::time::Duration::from_secs(self.stream_heartbeat_secs.max(1)),
        )
    }
}

/// Settings of `eats serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address and port of the HTTP API; port 0 picks a free port.
    #[arg(long, env = "EATS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Completed orders needed for the silver, gold and VIP grades.
    #[arg(long, env = "EATS_GRADE_THRESHOLDS", default_value = "5,20,50", value_parser = parse_grades)]
    pub grade_thresholds: GradePolicy,

    /// Seed a few demo stores near Seoul City Hall on the first embedded start (a data
    /// folder without a database yet); `0` to start empty.
    #[arg(long, env = "EATS_DEMO_DATA", default_value = "1", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo_data: bool,

    /// Where events live.
    #[command(flatten)]
    pub store: StoreConfig,

    /// How events fan out, and which roles run here.
    #[command(flatten)]
    pub fanout: FanoutConfig,

    /// The payment gateway.
    #[command(flatten)]
    pub payment: PaymentConfig,

    /// Process managers and deadlines.
    #[command(flatten)]
    pub saga: SagaConfig,

    /// Authentication and rate limits.
    #[command(flatten)]
    pub auth: AuthConfig,

    /// The HTTP server's limits on slow and oversized request heads.
    #[command(flatten)]
    pub http: HttpConfig,
    /// Live streams.
    #[command(flatten)]
    pub streams: StreamConfig,
    /// The notification provider and shedding.
    #[command(flatten)]
    pub notify: NotifyConfig,

    /// How a stop (SIGTERM) is carried out.
    #[command(flatten)]
    pub shutdown: ShutdownConfig,
}

/// A stop in two phases, so an orchestrator loses no request: first not ready while still
/// serving (the load balancer stops routing here), then in-flight work finishes or is cut.
#[derive(Args, Clone, Debug)]
pub struct ShutdownConfig {
    /// Seconds /readyz answers 503 after SIGTERM while requests are still served, so the
    /// gateway takes this replica out of rotation before its listener closes.
    #[arg(long, env = "EATS_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,

    /// Seconds in-flight requests and events get to finish after the listener closes; then
    /// the process exits anyway (unacknowledged events are redelivered to another replica).
    #[arg(long, env = "EATS_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl ShutdownConfig {
    /// How long readiness reports draining before the listener closes.
    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_delay_secs)
    }

    /// How long in-flight work may take after the listener closes.
    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Limits on request heads, which poem leaves open: a slow-header client or a huge header
/// would otherwise hold a connection or memory.
#[derive(Args, Clone, Debug)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's line and headers, from its first byte (or
    /// from connecting); past it the connection is closed.
    #[arg(long, env = "EATS_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Largest request line plus headers, in bytes; larger is answered with 431.
    #[arg(long, env = "EATS_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Largest bearer token, in bytes; larger is answered with 431 before it is verified.
    #[arg(long, env = "EATS_MAX_TOKEN_BYTES", default_value_t = 4 * 1024)]
    pub max_token_bytes: usize,
}

impl HttpConfig {
    /// The header and token caps.
    pub fn limits(&self) -> crate::edge::HeaderLimits {
        crate::edge::HeaderLimits {
            max_header_bytes: self.max_header_bytes,
            max_token_bytes: self.max_token_bytes,
        }
    }

    /// How long a request head may take; at least one second.
    pub fn header_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_read_timeout_secs.max(1))
    }
}

impl ServeConfig {
    /// The aggregates' command handlers on `db` with the configured outside world.
    pub fn aggregates(&self, db: &eats_store::Database) -> anyhow::Result<eats_store::Aggregates> {
        Ok(eats_store::Aggregates::new(
            db,
            eats_store::DomainServices {
                gateway: self.payment.gateway()?,
                grades: self.grade_thresholds,
            },
        ))
    }
}

/// Which notification provider sends.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyProvider {
    /// Write messages to the log (the embedded default).
    Log,
    /// NHN Cloud AlimTalk with SMS fallback.
    Nhn,
    /// Solapi KakaoTalk with SMS fallback.
    Solapi,
    /// A signed JSON webhook.
    Webhook,
}

/// The notifier: provider, secrets (never logged) and shedding limits.
#[derive(Args, Clone, Debug)]
pub struct NotifyConfig {
    /// Which provider sends: log, nhn, solapi, webhook.
    #[arg(long, env = "EATS_NOTIFY_PROVIDER", value_enum, default_value = "log")]
    pub notify_provider: NotifyProvider,

    /// NHN AlimTalk base URL.
    #[arg(
        long,
        env = "EATS_NOTIFY_NHN_ALIMTALK_URL",
        default_value = "https://kakaotalk-bizmessage.api.nhncloudservice.com"
    )]
    pub notify_nhn_alimtalk_url: String,

    /// NHN SMS base URL.
    #[arg(
        long,
        env = "EATS_NOTIFY_NHN_SMS_URL",
        default_value = "https://sms.api.nhncloudservice.com"
    )]
    pub notify_nhn_sms_url: String,

    /// NHN AlimTalk app key.
    #[arg(long, env = "EATS_NOTIFY_NHN_APP_KEY", hide_env_values = true)]
    pub notify_nhn_app_key: Option<String>,

    /// NHN SMS app key.
    #[arg(long, env = "EATS_NOTIFY_NHN_SMS_APP_KEY", hide_env_values = true)]
    pub notify_nhn_sms_app_key: Option<String>,

    /// NHN `X-Secret-Key`.
    #[arg(long, env = "EATS_NOTIFY_NHN_SECRET_KEY", hide_env_values = true)]
    pub notify_nhn_secret_key: Option<String>,

    /// NHN Kakao sender key.
    #[arg(long, env = "EATS_NOTIFY_NHN_SENDER_KEY", hide_env_values = true)]
    pub notify_nhn_sender_key: Option<String>,

    /// Registered sending number for SMS (NHN and Solapi).
    #[arg(long, env = "EATS_NOTIFY_SMS_SENDER_NO")]
    pub notify_sms_sender_no: Option<String>,

    /// Solapi base URL.
    #[arg(
        long,
        env = "EATS_NOTIFY_SOLAPI_URL",
        default_value = "https://api.solapi.com"
    )]
    pub notify_solapi_url: String,

    /// Solapi API key.
    #[arg(long, env = "EATS_NOTIFY_SOLAPI_API_KEY", hide_env_values = true)]
    pub notify_solapi_api_key: Option<String>,

    /// Solapi API secret.
    #[arg(long, env = "EATS_NOTIFY_SOLAPI_API_SECRET", hide_env_values = true)]
    pub notify_solapi_api_secret: Option<String>,

    /// Solapi Kakao channel id.
    #[arg(long, env = "EATS_NOTIFY_SOLAPI_PF_ID")]
    pub notify_solapi_pf_id: Option<String>,

    /// Webhook URL.
    #[arg(long, env = "EATS_NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,

    /// Webhook HMAC-SHA256 secret.
    #[arg(long, env = "EATS_NOTIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub notify_webhook_secret: Option<String>,

    /// Longest wait for one provider call, in milliseconds.
    #[arg(long, env = "EATS_NOTIFY_TIMEOUT_MS", default_value_t = 5_000)]
    pub notify_timeout_ms: u64,

    /// Seconds after which a non-critical message is shed as stale.
    #[arg(long, env = "EATS_NOTIFY_FRESHNESS_SECS", default_value_t = 60)]
    pub notify_freshness_secs: u64,

    /// The same for payment and refund confirmations.
    #[arg(
        long,
        env = "EATS_NOTIFY_MONEY_FRESHNESS_SECS",
        default_value_t = 3_600
    )]
    pub notify_money_freshness_secs: u64,

    /// Messages per second to the provider (token bucket).
    #[arg(long, env = "EATS_NOTIFY_RATE_PER_SEC", default_value_t = 50)]
    pub notify_rate_per_sec: u32,

    /// Messages the token bucket lets through at once.
    #[arg(long, env = "EATS_NOTIFY_BURST", default_value_t = 100)]
    pub notify_burst: u32,

    /// Consecutive provider failures that open its circuit breaker.
    #[arg(long, env = "EATS_NOTIFY_BREAKER_FAILURES", default_value_t = 5)]
    pub notify_breaker_failures: u32,

    /// Seconds the breaker stays open before one trial call.
    #[arg(long, env = "EATS_NOTIFY_BREAKER_OPEN_SECS", default_value_t = 30)]
    pub notify_breaker_open_secs: u64,

    /// Calls per message before it is recorded as failed.
    #[arg(long, env = "EATS_NOTIFY_MAX_ATTEMPTS", default_value_t = 5)]
    pub notify_max_attempts: u32,

    /// Seconds after sending, and then between looks, to ask the provider for a message's
    /// delivery result (NHN, Solapi).
    #[arg(long, env = "EATS_NOTIFY_DELIVERY_POLL_SECS", default_value_t = 30)]
    pub notify_delivery_poll_secs: u64,

    /// Seconds after sending when a message without a delivery verdict is given up as
    /// undelivered (`no_result`).
    #[arg(
        long,
        env = "EATS_NOTIFY_DELIVERY_GIVE_UP_SECS",
        default_value_t = 86_400
    )]
    pub notify_delivery_give_up_secs: u64,
}

impl NotifyConfig {
    /// The configured provider; a missing secret is an error naming its variable.
    pub fn provider(&self) -> anyhow::Result<std::sync::Arc<dyn eats_notify::Provider>> {
        use eats_notify::provider::{log::LogSender, nhn, solapi, webhook::WebhookSender};
        fn need<'a>(value: &'a Option<String>, name: &str) -> anyhow::Result<&'a str> {
            value
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("{name} is required with this EATS_NOTIFY_PROVIDER"))
        }
        let timeout = std::time::Duration::from_millis(self.notify_timeout_ms.max(1));
        Ok(match self.notify_provider {
            NotifyProvider::Log => std::sync::Arc::new(LogSender),
            NotifyProvider::Nhn => std::sync::Arc::new(nhn::NhnSender::new(nhn::NhnSettings {
                alimtalk_url: self.notify_nhn_alimtalk_url.clone(),
                sms_url: self.notify_nhn_sms_url.clone(),
                app_key: need(&self.notify_nhn_app_key, "EATS_NOTIFY_NHN_APP_KEY")?.into(),
                sms_app_key: need(&self.notify_nhn_sms_app_key, "EATS_NOTIFY_NHN_SMS_APP_KEY")?
                    .into(),
                secret_key: need(&self.notify_nhn_secret_key, "EATS_NOTIFY_NHN_SECRET_KEY")?.into(),
                sender_key: need(&self.notify_nhn_sender_key, "EATS_NOTIFY_NHN_SENDER_KEY")?.into(),
                sms_sender_no: need(&self.notify_sms_sender_no, "EATS_NOTIFY_SMS_SENDER_NO")?
                    .into(),
                timeout,
            })?),
            NotifyProvider::Solapi => {
                std::sync::Arc::new(solapi::SolapiSender::new(solapi::SolapiSettings {
                    url: self.notify_solapi_url.clone(),
                    api_key: need(&self.notify_solapi_api_key, "EATS_NOTIFY_SOLAPI_API_KEY")?
                        .into(),
                    api_secret: need(
                        &self.notify_solapi_api_secret,
                        "EATS_NOTIFY_SOLAPI_API_SECRET",
                    )?
                    .into(),
                    pf_id: need(&self.notify_solapi_pf_id, "EATS_NOTIFY_SOLAPI_PF_ID")?.into(),
                    sender_no: need(&self.notify_sms_sender_no, "EATS_NOTIFY_SMS_SENDER_NO")?
                        .into(),
                    timeout,
                })?)
            }
            NotifyProvider::Webhook => std::sync::Arc::new(WebhookSender::new(
                need(&self.notify_webhook_url, "EATS_NOTIFY_WEBHOOK_URL")?,
                need(&self.notify_webhook_secret, "EATS_NOTIFY_WEBHOOK_SECRET")?,
                timeout,
            )?),
        })
    }

    /// The dispatcher's shedding limits.
    pub fn settings(&self) -> eats_notify::NotifySettings {
        use std::time::Duration;
        eats_notify::NotifySettings {
            freshness: Duration::from_secs(self.notify_freshness_secs),
            money_freshness: Duration::from_secs(self.notify_money_freshness_secs),
            rate_per_sec: self.notify_rate_per_sec.max(1),
            burst: self.notify_burst.max(1),
            breaker_failures: self.notify_breaker_failures.max(1),
            breaker_open: Duration::from_secs(self.notify_breaker_open_secs.max(1)),
            max_attempts: self.notify_max_attempts.max(1),
            delivery_poll: Duration::from_secs(self.notify_delivery_poll_secs.max(1)),
            delivery_give_up: Duration::from_secs(self.notify_delivery_give_up_secs.max(1)),
            ..eats_notify::NotifySettings::default()
        }
    }
}

/// Parses `silver,gold,vip` thresholds, e.g. `5,20,50`.
pub fn parse_grades(raw: &str) -> Result<GradePolicy, String> {
    let numbers: Vec<u32> = raw
        .split(',')
        .map(|n| n.trim().parse::<u32>().map_err(|e| format!("`{n}`: {e}")))
        .collect::<Result<_, _>>()?;
    let [silver, gold, vip] = numbers[..] else {
        return Err(format!(
            "expected three thresholds like 5,20,50, got `{raw}`"
        ));
    };
    GradePolicy::new(silver, gold, vip).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grade_thresholds_parse_from_a_comma_list() {
        assert_eq!(parse_grades("5, 20,50"), Ok(GradePolicy::default()));
        assert!(parse_grades("5,20").is_err());
        assert!(parse_grades("20,5,50").is_err());
        assert!(parse_grades("a,b,c").is_err());
    }
}
