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

/// `arg` as a Postgres literal of the type it is bound as (`text`, `bigint`, `float8`,
/// `timestamptz`), for statements sent as text ([`inline`]). `None` when it cannot be written
/// as one (text holding a NUL, which Postgres text cannot hold either).
fn literal(arg: &Arg) -> Option<String> {
    Some(match arg {
        Arg::Text(None) => "NULL::text".into(),
        // An escape string literal: only the backslash and the quote are special in it, so
        // it reads the same whatever `standard_conforming_strings` says.
        Arg::Text(Some(text)) if text.contains('\0') => return None,
        Arg::Text(Some(text)) => {
            format!(
                "E'{}'::text",
                text.replace('\\', "\\\\").replace('\'', "''")
            )
        }
        Arg::Int(None) => "NULL::bigint".into(),
        Arg::Int(Some(v)) => format!("({v})::bigint"),
        Arg::Real(None) => "NULL::float8".into(),
        Arg::Real(Some(v)) if v.is_nan() => "'NaN'::float8".into(),
        Arg::Real(Some(v)) if v.is_infinite() => {
            format!("'{}Infinity'::float8", if *v < 0.0 { "-" } else { "" })
        }
        // Debug prints the shortest text that reads back as the same f64.
        Arg::Real(Some(v)) => format!("'{v:?}'::float8"),
        Arg::Time(None) => "NULL::timestamptz".into(),
        // Microseconds, truncated, as sqlx binds a timestamp.
        Arg::Time(Some(t)) => format!(
            "'{}'::timestamptz",
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    })
}

/// `sql` with each `$n` replaced by argument n as a literal: a statement that can travel in
/// one message with others (Postgres's simple query protocol takes no parameters). `None` when
/// an argument cannot be written as a literal or a placeholder has no argument; the caller
/// then binds them as usual. The statement texts are the projections' own constants, whose
/// only `$` are placeholders.
pub fn inline(sql: &str, args: &[Arg]) -> Option<String> {
    let literals = args.iter().map(literal).collect::<Option<Vec<_>>>()?;
    let mut out = String::with_capacity(sql.len() + 16 * args.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        let n: usize = rest[at + 1..at + 1 + digits].parse().ok()?;
        out.push_str(literals.get(n.checked_sub(1)?)?);
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_typed_literals_and_text_is_escaped() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T11:30:00.123456789Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            inline(
                "INSERT INTO t VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, $9, $1)",
                &[
                    Arg::from("it's a \\ test"),
                    Arg::from(-42_i64),
                    Arg::from(37.5665),
                    Arg::Time(Some(at)),
                    Arg::Text(None),
                    Arg::Int(None),
                    Arg::Real(None),
                    Arg::Time(None),
                    Arg::from(f64::NEG_INFINITY),
                    Arg::from(1e-7),
                ],
            )
            .as_deref(),
            Some(
                "INSERT INTO t VALUES (E'it''s a \\\\ test'::text, (-42)::bigint, '1e-7'::float8, \
                 '37.5665'::float8, '2026-12-07T11:30:00.123456Z'::timestamptz, NULL::text, \
                 NULL::bigint, NULL::float8, NULL::timestamptz, '-Infinity'::float8, \
                 E'it''s a \\\\ test'::text)"
            )
        );
    }

    #[test]
    fn what_cannot_be_a_literal_is_left_to_binding() {
        assert_eq!(inline("SELECT $1", &[Arg::from("a\0b")]), None);
        assert_eq!(inline("SELECT $2", &[Arg::from(1_i64)]), None);
        assert_eq!(inline("SELECT $0", &[Arg::from(1_i64)]), None);
    }
}
