//! Cross-cutting HTTP behaviour: rate limiting, body limits, and turning every HTTP-level
//! error into problem+json.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::auth::principal;
use crate::problem::{ApiError, Problem, ProblemKind};

/// Requests per second each client may make, and the burst it may save up.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitSettings {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Burst size.
    pub burst: u32,
}

/// Answers 429 with `Retry-After` when one client (its token's user, else its IP) exceeds
/// its quota.
#[derive(Clone)]
pub struct RateLimit(Arc<DefaultKeyedRateLimiter<String>>);

impl RateLimit {
    /// A limiter with `settings`.
    pub fn new(settings: RateLimitSettings) -> Self {
        let per_second = NonZeroU32::new(settings.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self(Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        )))
    }
}

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimited<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RateLimited {
            inner: ep,
            limiter: self.0.clone(),
        }
    }
}

/// The rate-limited endpoint.
pub struct RateLimited<E> {
    inner: E,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl<E: Endpoint> Endpoint for RateLimited<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Self::Output> {
        // Verified once here; the layers inside read it back from the request.
        let user = principal(&request);
        if let Some(user) = &user {
            request
                .extensions_mut()
                .insert(crate::auth::Principal(user.clone()));
        }
        let client = user.unwrap_or_else(|| {
            request
                .remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default()
        });
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        if let Err(not_until) = self.limiter.check_key(&client) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            metrics::counter!("eats_http_rate_limited_total").increment(1);
            return Ok(ApiError::from(Problem {
                retry_after_secs: Some(retry_after_secs),
                ..Problem::new(
                    ProblemKind {
                        status: 429,
                        slug: "rate-limited",
                        title: "Too many requests",
                        field: None,
                    },
                    format!("slow down; retry in {retry_after_secs} s"),
                )
            })
            .into_response());
        }
        self.inner
            .call(request)
            .await
            .map(IntoResponse::into_response)
    }
}

/// Refuses bodies over a limit with 413, whether they declare their length or stream it.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = Limited<E>;

    fn transform(&self, ep: E) -> Self::Output {
        Limited {
            inner: ep,
            max: self.0,
        }
    }
}

/// The size-limited endpoint.
pub struct Limited<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for Limited<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Self::Output> {
        let too_large = || {
            ApiError::from(Problem::new(
                ProblemKind {
                    status: 413,
                    slug: "body-too-large",
                    title: "Request body too large",
                    field: None,
                },
                "the request body is larger than 64 KiB",
            ))
            .into_response()
        };
        let declared = request
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match declared {
            Some(length) if length > self.max => return Ok(too_large()),
            Some(_) => {}
            None => {
                let body = request.take_body();
                match body.into_bytes_limit(self.max).await {
                    Ok(bytes) => request.set_body(bytes),
                    Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
                    Err(error) => return Err(error.into()),
                }
            }
        }
        self.inner
            .call(request)
            .await
            .map(IntoResponse::into_response)
    }
}

/// The methods each path template of the API has, from the OpenAPI document.
fn allowed_methods(path: &str) -> Option<String> {
    static TEMPLATES: std::sync::OnceLock<Vec<(Vec<String>, Vec<String>)>> =
        std::sync::OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let spec: serde_json::Value =
            serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(template, item)| {
                        let segments = template.split('/').map(str::to_string).collect();
                        let methods = item
                            .as_object()
                            .map(|m| m.keys().map(|k| k.to_uppercase()).collect())
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    templates.iter().find_map(|(template, methods)| {
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
        matches.then(|| methods.join(", "))
    })
}

/// Runs the API and turns any error response that is not yet problem+json (framework parse
/// errors, 405s) into one, keeping its status; a 405 lists the allowed methods in `Allow`.
pub async fn problemize<E: Endpoint>(endpoint: Arc<E>, request: Request) -> Result<Response> {
    let path = request.uri().path().to_string();
    let mut response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => problem_for(error).await,
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(allow) = allowed_methods(&path).and_then(|a| a.parse().ok()) {
            response.headers_mut().insert("allow", allow);
        }
    }
    fix_content_type(response).await
}

async fn fix_content_type(response: Response) -> Result<Response> {
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return Ok(response);
    }
    let is_problem = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if is_problem {
        return Ok(response);
    }
    let status = response.status();
    // Keep what inner layers attached (the matched route for the HTTP metrics).
    let extensions = response.extensions().clone();
    let retry_after = response.headers().get("retry-after").cloned();
    let allow = response.headers().get("allow").cloned();
    let detail =
        String::from_utf8_lossy(&response.into_body().into_bytes().await.unwrap_or_default())
            .into_owned();
    let error = poem::Error::from_string(
        if detail.is_empty() {
            status.to_string()
        } else {
            detail
        },
        status,
    );
    let mut fixed = ApiError::from(Problem::from_http(&error)).into_response();
    *fixed.extensions_mut() = extensions;
    if let Some(value) = retry_after {
        fixed.headers_mut().insert("retry-after", value);
    }
    if let Some(value) = allow {
        fixed.headers_mut().insert("allow", value);
    }
    Ok(fixed)
}

/// Renders any error that escaped the endpoints (unknown route, missing token, oversized
/// body, wrong media type) as problem+json.
pub async fn problem_for(error: poem::Error) -> Response {
    let response = error.into_response();
    match fix_content_type(response).await {
        Ok(response) => response,
        Err(error) => ApiError::from(Problem::from_http(&error)).into_response(),
    }
}
