//! Beginning a transaction that a cancelled caller cannot leave half-begun.
//!
//! sqlx 0.8.6's Postgres `begin` counts the transaction only once `BEGIN`'s answer is read.
//! A future dropped while that answer is on its way (an HTTP client gone, a timeout, an
//! aborted task) queues no `ROLLBACK`, and the pool takes the connection back still inside
//! the transaction. The next borrower's statements then run in it, and its first error leaves
//! the session aborted: every later query on that connection fails with SQLSTATE 25P02 until
//! the pool retires it (transact-rs/sqlx#4393, fixed upstream after 0.8.6). Our projector
//! kill test met it on CI.
//!
//! [`BeginSafely::begin_safely`] runs `BEGIN` on a task of its own, which runs to the end
//! whether or not the caller still waits. A transaction nobody collects is dropped there, and
//! its `ROLLBACK` is sent before the pool lends the connection again. SQLite's `begin` already
//! rolls back a cancelled `BEGIN` on its worker thread, so there it is sqlx's own.
//!
//! postgres-es begins its own transaction to store a snapshot with its events; the
//! repository runs that append through [`to_the_end`] for the same reason.

use std::future::Future;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// The runtime stopped a task [`to_the_end`] had started (it is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the runtime stopped the task before it finished")]
pub struct RuntimeStopped;

/// Runs `work` on a task of its own and waits for it: dropping the returned future does not
/// stop `work` halfway. A panic in `work` goes on in the caller.
pub async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, RuntimeStopped> {
    match tokio::spawn(work).await {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(RuntimeStopped),
    }
}

/// A pool that can begin a transaction no cancellation leaves open on a pooled connection.
pub trait BeginSafely {
    /// The database the pool's transactions are on.
    type Database: sqlx::Database;

    /// Begins a transaction as `Pool::begin` does; see the [module docs](self) for why.
    fn begin_safely(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginSafely for PgPool {
    type Database = Postgres;

    #[allow(
        clippy::disallowed_methods,
        reason = "the one place it runs to the end"
    )]
    async fn begin_safely(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let pool = self.clone();
        to_the_end(async move { pool.begin().await })
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::Interrupted, e)))?
    }
}

impl BeginSafely for SqlitePool {
    type Database = Sqlite;

    #[allow(
        clippy::disallowed_methods,
        reason = "sqlx rolls back a cancelled SQLite BEGIN"
    )]
    async fn begin_safely(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin().await
    }
}
