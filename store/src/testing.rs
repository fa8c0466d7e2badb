//! A fresh, isolated event store per test, on real Postgres or a real SQLite file.
//!
//! Postgres tests create their own database (`eats_test_<unix time>_<random>`) on the server
//! named by `EATS_TEST_DATABASE_URL` (default: the local server's `postgres` database) and
//! drop it afterwards; databases of runs that died are dropped by the next run after an hour.
//! A missing server fails the test with a message saying so: these tests never skip.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Row};

use crate::database::Database;

/// The server that test databases are created on, unless `EATS_TEST_DATABASE_URL` says
/// otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const PREFIX: &str = "eats_test_";
const STALE_AFTER_SECS: u64 = 3_600;

/// Which backend a test database runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A fresh Postgres database.
    Postgres,
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
}

/// A migrated event store that exists only for one test.
pub struct TestDatabase {
    /// The store under test.
    pub db: Database,
    /// For Postgres: the database's URL, so a test can start another process on it.
    pub url: Option<String>,
    /// For SQLite: the data folder.
    pub data_dir: Option<PathBuf>,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin: PgPool, name: String },
    Sqlite { dir: PathBuf },
}

fn admin_url() -> String {
    std::env::var("EATS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl TestDatabase {
    /// A fresh store of `kind`.
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Postgres => Self::postgres().await,
            Kind::Sqlite => Self::sqlite().await,
        }
    }

    /// A fresh Postgres database, migrated. Panics, naming the server, if it is unreachable.
    pub async fn postgres() -> Self {
        let url = admin_url();
        let admin = PgPool::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "these tests need PostgreSQL at {url} (set EATS_TEST_DATABASE_URL, or start it: \
                 `docker compose up -d postgres`): {e}"
            )
        });
        drop_stale(&admin).await;
        let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("creating the test database");
        let options: PgConnectOptions = url.parse().expect("a valid Postgres URL");
        let options = options.database(&name);
        let db_url = options.to_url_lossy().to_string();
        let db = Database::connect_postgres(&db_url, 16)
            .await
            .expect("connecting to and migrating the test database");
        Self {
            db,
            url: Some(db_url),
            data_dir: None,
            cleanup: Cleanup::Postgres { admin, name },
        }
    }

    /// A fresh SQLite file in its own temporary folder, migrated.
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let db = Database::open_sqlite(&dir)
            .await
            .expect("opening the SQLite test store");
        Self {
            db,
            url: None,
            data_dir: Some(dir.clone()),
            cleanup: Cleanup::Sqlite { dir },
        }
    }

    /// Closes the pool and deletes the database or folder.
    pub async fn cleanup(self) {
        match self.db.backend() {
            crate::Backend::Postgres(pool) => pool.close().await,
            crate::Backend::Sqlite(pool) => pool.close().await,
        }
        match self.cleanup {
            Cleanup::Postgres { admin, name } => {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
            Cleanup::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Drops test databases left behind by runs that died more than an hour ago.
async fn drop_stale(admin: &PgPool) {
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'eats_test_%'")
        .fetch_all(admin)
        .await
    else {
        return;
    };
    let cutoff = now_secs().saturating_sub(STALE_AFTER_SECS);
    for row in rows {
        let name: String = row.get("datname");
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|t| t < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin)
                .await;
        }
    }
}
