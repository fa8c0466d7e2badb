//! Portable SQL: one statement text for Postgres and SQLite.
//!
//! Projections describe their effect as [`Write`]s (a statement and its arguments) instead of
//! running SQL themselves, which keeps them pure and lets one runner apply them on either
//! backend. Statements use `$n` placeholders (SQLite accepts them too), `ON CONFLICT ... DO
//! UPDATE` and nothing backend-specific.

use chrono::{DateTime, Utc};

/// One bound argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// Text (ids, names, JSON documents).
    Text(Option<String>),
    /// Integers (money, counts, sequences, H3 cells).
    Int(Option<i64>),
    /// Floating point (coordinates).
    Real(Option<f64>),
    /// Timestamps (`timestamptz` in Postgres, RFC 3339 text in SQLite).
    Time(Option<DateTime<Utc>>),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Real(Some(v))
    }
}
impl From<Option<DateTime<Utc>>> for Arg {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Time(v)
    }
}

/// One statement of a projection's effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    /// Portable SQL with `$1..$n`.
    pub sql: &'static str,
    /// The arguments, in placeholder order.
    pub args: Vec<Arg>,
}

impl Write {
    /// A statement with its arguments.
    pub fn new(sql: &'static str, args: Vec<Arg>) -> Self {
        Self { sql, args }
    }
}

/// Binds `args` to a `sqlx::query` on either backend.
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::sql::Arg::Text(v) => query.bind(v.clone()),
                $crate::sql::Arg::Int(v) => query.bind(*v),
                $crate::sql::Arg::Real(v) => query.bind(*v),
                $crate::sql::Arg::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// Declares a row decoder that works on rows of either backend.
#[macro_export]
macro_rules! row {
    (fn $name:ident($row:ident) -> $ty:ty $body:block) => {
        fn $name<R>($row: &R) -> Result<$ty, sqlx::Error>
        where
            R: sqlx::Row,
            for<'a> &'a str: sqlx::ColumnIndex<R>,
            for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> chrono::DateTime<chrono::Utc>:
                sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        {
            Ok($body)
        }
    };
}
