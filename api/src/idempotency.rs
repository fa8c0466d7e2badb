//! `Idempotency-Key`: a retried POST reaches the same effect and gets the first answer again.
//!
//! The key is claimed (with a random seed) before the request runs, so two concurrent retries
//! cannot both execute. What a POST creates takes its id from the seed ([`new_id`]), so even
//! when the process dies between the command's commit and the recording of the response, the
//! retry (which takes the stale claim over, seed and all) addresses the aggregate the first
//! attempt created, is refused by it as already done, and answers as the first attempt did.
//! Every outcome is recorded exactly as the client saw it (status, content type, body),
//! framework refusals included; keys expire after a configurable time and are purged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use eats_store::{on_pool, Database};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::principal;
use crate::middleware::problem_for;
use crate::problem::{ApiError, Problem, ProblemKind};

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 255;

/// How long keys live and when an unfinished claim may be taken over.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencySettings {
    /// After this a key is forgotten: reusing it is a new request.
    pub ttl: Duration,
    /// A claim whose request has not finished after this (client gone, process died) is
    /// taken over by the next retry, which reuses its seed and so its effect.
    pub stale_after: Duration,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 60 * 60),
            stale_after: Duration::from_secs(60),
        }
    }
}

/// The claim a request runs under, for the endpoints: [`new_id`] and [`is_retry`] read it.
#[derive(Clone, Copy, Debug)]
struct Claim {
    seed: Uuid,
    retry: bool,
}

/// The id of the aggregate a POST creates. Under an `Idempotency-Key` it is derived from the
/// key's claim, so every retry of the request addresses the same aggregate; without a key it
/// is random.
pub fn new_id(request: &Request, kind: &str) -> Uuid {
    match request.extensions().get::<Claim>() {
        Some(claim) => Uuid::new_v5(&claim.seed, kind.as_bytes()),
        None => Uuid::new_v4(),
    }
}

/// The causation id of the command this request issues, under an `Idempotency-Key`: derived
/// from the claim like [`new_id`], so the events of a first attempt show that a retry's
/// command already ran.
pub fn command_id(request: &Request) -> Option<Uuid> {
    request
        .extensions()
        .get::<Claim>()
        .map(|claim| Uuid::new_v5(&claim.seed, b"command"))
}

/// True when this request took over the unfinished claim of an earlier attempt with the same
/// key and body: the earlier attempt may have committed its effect already.
pub fn is_retry(request: &Request) -> bool {
    request.extensions().get::<Claim>().is_some_and(|c| c.retry)
}

/// The outcome of a command that creates something: "already done" counts as done when this
/// request took over an earlier attempt under the same key, because the aggregate it met was
/// created by that attempt (its id came from the same seed, see [`new_id`]).
pub fn settle<E: std::error::Error>(
    request: &Request,
    result: Result<(), AggregateError<E>>,
    already_done: impl FnOnce(&E) -> bool,
) -> Result<(), AggregateError<E>> {
    match result {
        Err(AggregateError::UserError(error)) if is_retry(request) && already_done(&error) => {
            tracing::info!("a retry met the effect of its first attempt; answering as it did");
            Ok(())
        }
        other => other,
    }
}

/// The middleware: replays the first response to a POST carrying the same `Idempotency-Key`
/// and the same request from the same user.
#[derive(Clone)]
pub struct Idempotency {
    db: Database,
    settings: IdempotencySettings,
}

impl Idempotency {
    /// Keys kept in `db` as `settings` say.
    pub fn new(db: Database, settings: IdempotencySettings) -> Self {
        Self { db, settings }
    }
}

impl<E: Endpoint> Middleware<E> for Idempotency {
    type Output = Idempotent<E>;

    fn transform(&self, ep: E) -> Self::Output {
        Idempotent {
            inner: ep,
            db: self.db.clone(),
            settings: self.settings,
        }
    }
}

/// The idempotent endpoint.
pub struct Idempotent<E> {
    inner: E,
    db: Database,
    settings: IdempotencySettings,
}

fn problem(status: u16, slug: &'static str, title: &'static str, detail: &str) -> Response {
    ApiError::from(Problem::new(
        ProblemKind {
            status,
            slug,
            title,
            field: Some("Idempotency-Key"),
        },
        detail,
    ))
    .into_response()
}

/// What identifies "the same request": method, path, media type and the body, with JSON
/// bodies compared by value (whitespace and key order do not matter).
fn request_hash(request: &Request, body: &[u8]) -> String {
    let media_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|value| canonical_json(&value).into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    hex::encode(
        Sha256::new()
            .chain_update(request.method().as_str())
            .chain_update([0])
            .chain_update(request.uri().path())
            .chain_update([0])
            .chain_update(media_type)
            .chain_update([0])
            .chain_update(canonical)
            .finalize(),
    )
}

/// JSON with object keys sorted at every level and no whitespace.
fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A stored key.
#[derive(sqlx::FromRow)]
struct Stored {
    request_hash: String,
    status: Option<i64>,
    body: Option<String>,
    content_type: Option<String>,
    seed: Option<String>,
    claimed_at: Option<DateTime<Utc>>,
}

fn age_cutoff(age: Duration) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX)
}

impl<E> Idempotent<E> {
    /// Claims `key` for a new request; false when a live claim or record holds it.
    async fn claim_new(
        &self,
        user: &str,
        key: &str,
        hash: &str,
        seed: Uuid,
    ) -> Result<bool, ApiError> {
        let now = Utc::now();
        let expired = age_cutoff(self.settings.ttl);
        let rows = on_pool!(self.db, |pool| {
            sqlx::query(
                "INSERT INTO idempotency_keys (principal, key, request_hash, seed, created_at, claimed_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (principal, key) DO UPDATE SET request_hash = excluded.request_hash, \
                 seed = excluded.seed, status = NULL, body = NULL, content_type = NULL, \
                 created_at = excluded.created_at, claimed_at = excluded.claimed_at \
                 WHERE idempotency_keys.created_at < $6",
            )
            .bind(user)
            .bind(key)
            .bind(hash)
            .bind(seed.to_string())
            .bind(now)
            .bind(expired)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(rows == 1)
    }

    async fn stored(&self, user: &str, key: &str) -> Result<Option<Stored>, ApiError> {
        Ok(on_pool!(self.db, |pool| {
            sqlx::query_as::<_, Stored>(
                "SELECT request_hash, status, body, content_type, seed, claimed_at \
                 FROM idempotency_keys WHERE principal = $1 AND key = $2",
            )
            .bind(user)
            .bind(key)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Takes over a stale unfinished claim, keeping its seed; false when another retry got
    /// there first or the first attempt finished meanwhile.
    async fn take_over(
        &self,
        user: &str,
        key: &str,
        claimed_at: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let rows = on_pool!(self.db, |pool| {
            sqlx::query(
                "UPDATE idempotency_keys SET claimed_at = $3 \
                 WHERE principal = $1 AND key = $2 AND status IS NULL AND claimed_at = $4",
            )
            .bind(user)
            .bind(key)
            .bind(Utc::now())
            .bind(claimed_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(rows == 1)
    }

    /// Records the answer the client got under this claim.
    async fn record(
        &self,
        user: &str,
        key: &str,
        seed: Uuid,
        status: StatusCode,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), ApiError> {
        on_pool!(self.db, |pool| {
            sqlx::query(
                "UPDATE idempotency_keys SET status = $4, body = $5, content_type = $6 \
                 WHERE principal = $1 AND key = $2 AND seed = $3",
            )
            .bind(user)
            .bind(key)
            .bind(seed.to_string())
            .bind(i64::from(status.as_u16()))
            .bind(body)
            .bind(content_type)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Marks the claim unfinished and stale at once, so the next retry takes it over with the
    /// same seed: nothing was decided, but the effect may have committed.
    async fn release(&self, user: &str, key: &str, seed: Uuid) -> Result<(), ApiError> {
        on_pool!(self.db, |pool| {
            sqlx::query(
                "UPDATE idempotency_keys SET claimed_at = $4 \
                 WHERE principal = $1 AND key = $2 AND seed = $3 AND status IS NULL",
            )
            .bind(user)
            .bind(key)
            .bind(seed.to_string())
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }
}

fn replay(stored: &Stored, status: i64, body: &str) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Rows recorded before content types were kept: JSON for success, problem+json otherwise.
    let content_type = stored.content_type.clone().unwrap_or_else(|| {
        if status.is_success() {
            "application/json; charset=utf-8".into()
        } else {
            "application/problem+json".into()
        }
    });
    Response::builder()
        .status(status)
        .header("Idempotent-Replayed", "true")
        .content_type(content_type)
        .body(body.to_string())
}

impl<E: Endpoint> Endpoint for Idempotent<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Self::Output> {
        let key = request
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (Some(key), true) = (key, request.method() == Method::POST) else {
            return self
                .inner
                .call(request)
                .await
                .map(IntoResponse::into_response);
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Ok(problem(
                400,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                "the key must be 1 to 255 characters",
            ));
        }
        let Some(user) = principal(&request) else {
            // Unauthenticated requests are refused by the endpoint itself.
            return self
                .inner
                .call(request)
                .await
                .map(IntoResponse::into_response);
        };
        let body = request.take_body().into_bytes().await?;
        let hash = request_hash(&request, &body);
        request.set_body(body);

        let fresh = Uuid::new_v4();
        let claim = if self.claim_new(&user, &key, &hash, fresh).await? {
            Claim {
                seed: fresh,
                retry: false,
            }
        } else {
            let Some(stored) = self.stored(&user, &key).await? else {
                // Expired and purged between the two statements: the client may retry.
                return Ok(problem(
                    409,
                    "idempotent-request-in-progress",
                    "Request in progress",
                    "a request with this key is still being processed; retry shortly",
                ));
            };
            if stored.request_hash != hash {
                return Ok(problem(
                    409,
                    "idempotency-key-reused",
                    "Idempotency-Key reused",
                    "this key was used for a different request",
                ));
            }
            if let (Some(status), Some(body)) = (stored.status, stored.body.as_deref()) {
                return Ok(replay(&stored, status, body));
            }
            let seed = stored.seed.as_deref().and_then(|s| Uuid::parse_str(s).ok());
            let stale = stored
                .claimed_at
                .is_some_and(|at| at < age_cutoff(self.settings.stale_after));
            match (seed, stored.claimed_at) {
                (Some(seed), Some(claimed_at))
                    if stale && self.take_over(&user, &key, claimed_at).await? =>
                {
                    Claim { seed, retry: true }
                }
                _ => {
                    return Ok(problem(
                        409,
                        "idempotent-request-in-progress",
                        "Request in progress",
                        "a request with this key is still being processed; retry shortly",
                    ))
                }
            }
        };
        request.extensions_mut().insert(claim);

        let response = match self.inner.call(request).await {
            Ok(response) => response.into_response(),
            // Rendered as the client will see it, so a replay is byte for byte the same.
            Err(error) => problem_for(error).await,
        };
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = body.into_bytes().await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let lost_race = status == StatusCode::CONFLICT
            && text.contains("urn:eats:problem:concurrent-modification");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || lost_race {
            // Nothing was decided: the next retry runs again, under the same seed.
            self.release(&user, &key, claim.seed).await?;
            return Ok(Response::from_parts(parts, bytes.into()));
        }
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Err(error) = self
            .record(
                &user,
                &key,
                claim.seed,
                status,
                content_type.as_deref(),
                &text,
            )
            .await
        {
            // The client still gets the real answer; a retry takes the claim over later and,
            // under the same seed, reaches the same effect.
            tracing::warn!(?error, "could not record an idempotent response");
        }
        Ok(Response::from_parts(parts, bytes.into()))
    }
}

/// Deletes keys older than `ttl`; returns how many went.
pub async fn purge_expired(db: &Database, ttl: Duration) -> Result<u64, sqlx::Error> {
    let cutoff = age_cutoff(ttl);
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_json_bodies_hash_the_same_whatever_their_layout() {
        let request = |body: &str| {
            let request = Request::builder()
                .method(Method::POST)
                .uri_str("/api/v1/orders")
                .content_type("application/json")
                .finish();
            request_hash(&request, body.as_bytes())
        };
        assert_eq!(
            request(r#"{"a":1,"b":[1,2]}"#),
            request("{ \"b\" : [1, 2],\n  \"a\": 1 }")
        );
        assert_ne!(request(r#"{"a":1}"#), request(r#"{"a":2}"#));
        assert_ne!(request(r#"{"a":[1,2]}"#), request(r#"{"a":[2,1]}"#));
    }
}
