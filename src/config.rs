//! Settings, read from `EATS_*` environment variables; every one has a mirroring flag and a
//! default that works on a laptop with nothing installed.

use std::net::SocketAddr;
use std::path::PathBuf;

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

    /// Events between aggregate snapshots; 0 turns snapshots off.
    #[arg(long, env = "EATS_SNAPSHOT_EVERY", default_value_t = eats_store::database::DEFAULT_SNAPSHOT_EVERY)]
    pub snapshot_every: usize,
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
        Ok(db.with_snapshot_every(self.snapshot_every))
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

    /// Roles this process runs, comma-separated: all, api, relay, projectors.
    #[arg(
        long,
        env = "EATS_ROLES",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    pub roles: Vec<Role>,

    /// Seconds between lag measurements exported on /metrics.
    #[arg(long, env = "EATS_LAG_INTERVAL_SECS", default_value_t = 5)]
    pub lag_interval_secs: u64,
}

impl FanoutConfig {
    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&Role::All) || self.roles.contains(&role)
    }

    /// The stream and subjects to use.
    pub fn topology(&self) -> Result<eats_nats::Topology, eats_nats::InvalidName> {
        match &self.nats_namespace {
            Some(namespace) => eats_nats::Topology::namespaced(namespace),
            None => Ok(eats_nats::Topology::default()),
        }
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

    /// Where events live.
    #[command(flatten)]
    pub store: StoreConfig,

    /// How events fan out, and which roles run here.
    #[command(flatten)]
    pub fanout: FanoutConfig,
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
