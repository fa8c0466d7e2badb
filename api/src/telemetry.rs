//! Per-request metrics and the request's tracing span.
//!
//! Every request is counted and timed by method, route and status
//! (`eats_http_requests_total`, `eats_http_request_duration_seconds`); the route is the
//! OpenAPI template (`/api/v1/orders/{order_id}`), never the raw path, so ids do not
//! multiply the series. Each request runs in a span carrying a
//! request id, the correlation id (the order, once known) and a W3C trace context; the
//! context is written back into the request's `traceparent` header, so the events the
//! request commits carry it and the consumers continue the same trace.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use eats_domain::metadata::{keys, Traceparent};
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};
use tracing::Instrument;
use uuid::Uuid;

/// Counter of answered requests, by method, route and status.
pub const HTTP_REQUESTS: &str = "eats_http_requests_total";
/// Histogram of the time to the response head, by method, route and status. For the SSE
/// stream that is the time until the stream opened, not its lifetime.
pub const HTTP_DURATION: &str = "eats_http_request_duration_seconds";
/// Buckets of [`HTTP_DURATION`], in seconds: from a cached read to a slow gateway call.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The route label of a request no route matched: one series for every unknown path.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The header a client (or a gateway) names its request with; echoed on the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Registers the HTTP metrics' descriptions with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time until the response head, by method, route and status"
    );
}

/// The middleware: measures and traces every request of the endpoint it wraps.
pub struct Observe;

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = Observed<E>;

    fn transform(&self, endpoint: E) -> Self::Output {
        Observed(endpoint)
    }
}

/// An endpoint wrapped by [`Observe`].
pub struct Observed<E>(E);

impl<E: Endpoint> Endpoint for Observed<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Response> {
        let started = Instant::now();
        let method = method_label(request.method());
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| acceptable_request_id(id))
            .map_or_else(|| Uuid::new_v4().to_string(), str::to_string);
        let parent: Option<Traceparent> = request
            .headers()
            .get(keys::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let trace = parent
            .as_ref()
            .map_or_else(Traceparent::new_root, Traceparent::child_random);
        let correlation_id = order_in_path(request.uri().path()).unwrap_or(request_id.clone());
        let span = tracing::info_span!(
            "request",
            method,
            path = %request.uri().path(),
            request_id = %request_id,
            correlation_id = %correlation_id,
            trace_id = %trace.trace_id(),
            span_id = %trace.span_id(),
            parent_span_id = parent.as_ref().map(|p| display(p.span_id().to_string())),
        );
        let traceparent = HeaderValue::from_str(&trace.to_string()).ok();
        if let Some(value) = &traceparent {
            // What the endpoints stamp on the events: this span is their parent.
            request
                .headers_mut()
                .insert(keys::TRACEPARENT, value.clone());
        }
        let mut response = match self.0.call(request).instrument(span.clone()).await {
            Ok(response) => response.into_response(),
            Err(error) => crate::middleware::problem_for(error).await,
        };
        let status = response.status().as_u16();
        let route = route_label(response.data::<PathPattern>().map(|p| &*p.0), status);
        let elapsed = started.elapsed();
        let labels = [
            ("method", method.to_string()),
            ("route", route.clone()),
            ("status", status.to_string()),
        ];
        metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
        metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
        span.in_scope(|| {
            tracing::info!(
                status,
                route,
                duration_ms = elapsed.as_secs_f64() * 1e3,
                "request answered"
            );
        });
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        if let Some(value) = traceparent {
            response.headers_mut().insert(keys::TRACEPARENT, value);
        }
        Ok(response)
    }
}

/// Standard methods by name, anything else as one label: a client cannot grow the series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A client's request id is kept when it is short printable ASCII (it goes into logs and
/// a response header); otherwise the request gets one of ours.
fn acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Where [`crate::routes`] mounts the OpenAPI service.
const API_PREFIX: &str = "/api/v1";

/// The OpenAPI path template of each route as poem matched it: poem-openapi routes
/// `/orders/{id}` as `/orders/:param0` (parameters numbered in order), so the document's
/// paths are rewritten the same way to find the template back.
fn templates() -> &'static HashMap<String, String> {
    static TEMPLATES: OnceLock<HashMap<String, String>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let spec: serde_json::Value = match serde_json::from_str(&crate::openapi_json()) {
            Ok(spec) => spec,
            Err(error) => {
                tracing::error!(%error, "the OpenAPI document does not parse: API routes are labelled as poem matched them");
                return HashMap::new();
            }
        };
        let Some(paths) = spec["paths"].as_object() else {
            tracing::error!("the OpenAPI document has no paths: API routes are labelled as poem matched them");
            return HashMap::new();
        };
        paths
            .keys()
            .map(|template| {
                let mut params = 0;
                let matched = template
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            params += 1;
                            format!(":param{}", params - 1)
                        } else {
                            segment.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (format!("{API_PREFIX}{matched}"), format!("{API_PREFIX}{template}"))
            })
            .collect()
    })
}

/// The route label: the OpenAPI template of the matched operation (`/api/v1/orders/{id}`),
/// the pattern of another matched route (`/openapi.json`), or [`UNMATCHED_ROUTE`] when
/// nothing matched (a 404 outside every route, e.g. under `/api/v1` but no operation).
fn route_label(pattern: Option<&str>, status: u16) -> String {
    match pattern {
        Some(pattern) => match templates().get(pattern) {
            Some(template) => template.clone(),
            None if status == 404 => UNMATCHED_ROUTE.to_string(),
            None if pattern.is_empty() => "/".to_string(),
            None => pattern.to_string(),
        },
        None => UNMATCHED_ROUTE.to_string(),
    }
}

/// The order a path is about (`/orders/{id}` anywhere in it), before any command names it.
fn order_in_path(path: &str) -> Option<String> {
    let mut segments = path.split('/');
    while let Some(segment) = segments.next() {
        if segment == "orders" {
            return segments
                .next()
                .and_then(|id| Uuid::parse_str(id).ok())
                .map(|id| id.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_the_openapi_templates_of_what_matched() {
        assert_eq!(
            route_label(Some("/api/v1/stores/:param0/orders/:param1/accept"), 200),
            "/api/v1/stores/{store_id}/orders/{order_id}/accept"
        );
        assert_eq!(
            route_label(Some("/api/v1/orders/:param0"), 404),
            "/api/v1/orders/{order_id}"
        );
        assert_eq!(route_label(Some("/openapi.json"), 200), "/openapi.json");
        assert_eq!(route_label(Some("/api/v1"), 404), UNMATCHED_ROUTE);
        assert_eq!(route_label(None, 404), UNMATCHED_ROUTE);
    }

    #[test]
    fn the_order_is_read_from_the_path_when_it_names_one() {
        let id = Uuid::new_v4();
        assert_eq!(
            order_in_path(&format!(
                "/api/v1/stores/{}/orders/{id}/accept",
                Uuid::new_v4()
            )),
            Some(id.to_string())
        );
        assert_eq!(order_in_path("/api/v1/orders"), None);
        assert_eq!(order_in_path("/api/v1/orders/not-a-uuid"), None);
    }

    #[test]
    fn only_short_printable_request_ids_are_kept() {
        assert!(acceptable_request_id("req-42"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("a b"));
        assert!(!acceptable_request_id(&"x".repeat(129)));
    }
}
