//! The eats HTTP API, under `/api/v1`, described by OpenAPI.
//!
//! - [`customers`], [`stores`], [`riders`], [`admin`]: the endpoints of each role. Writes go
//!   through the aggregates and answer with the id and new status; reads come from the read
//!   models.
//! - [`notifications`]: what was sent about an order; operators list and resend records.
//! - [`dev`]: the development sign-in (a role and a name get a token), off unless enabled.
//! - [`auth`]: bearer JWTs (HS256 secret or RS256 public key) and role checks.
//! - [`problem`]: every refusal as RFC 9457 problem+json, the status decided in one place.
//! - [`middleware`]: per-client rate limits, body limits, problem+json for HTTP-level errors.
//! - [`idempotency`]: `Idempotency-Key`: a retry reaches the same effect and the first answer.
//! - [`hangup`]: an acceptor whose connections notice a client that left mid-stream.
//! - [`live`]: open SSE streams, woken by the projectors' announcements, capped per user;
//!   snapshot streams (a store's queue, the jobs near a rider) that resend only what changed.
//! - [`telemetry`]: request counts and latency by route template, and the request's span
//!   (request id, correlation id, W3C trace) that the events it commits carry on.
//! - [`state`]: what the endpoints share; [`types`]: request and response bodies.
//! - `paging`: opaque list cursors and page limits.

#![allow(clippy::result_large_err)] // ApiError is a poem-openapi response enum carried by value by design.

pub mod admin;
pub mod auth;
pub mod customers;
pub mod dev;
pub mod hangup;
pub mod idempotency;
pub mod live;
pub mod middleware;
pub mod notifications;
mod paging;
pub mod problem;
pub mod riders;
pub mod state;
pub mod stores;
pub mod telemetry;
pub mod types;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

/// The API's version, the one source of `info.version` in `schemas/openapi.json` and of the
/// three SDK packages' versions (sdk/generate.sh stamps it into each). It moves with the
/// document, not with the crates: bump it whenever `schemas/openapi.json` changes, then record
/// the new document with `scripts/api_version.py record` (CI fails on a changed document
/// under an old version).
pub const API_VERSION: &str = "0.7.1";

pub use auth::{Auth, Role};
pub use hangup::HangupAware;
pub use idempotency::IdempotencySettings;
pub use live::LiveStreams;
pub use middleware::RateLimitSettings;
pub use problem::{ApiError, Classified, Problem, ProblemKind};
pub use state::{ApiState, LagBoard};

/// The groups operations are listed under.
#[derive(Tags)]
pub enum ApiTags {
    /// Customers: register, browse, order, pay, follow.
    Customer,
    /// Store owners: stores, menus, the order queue.
    Store,
    /// Riders: location, nearby jobs, claim, pick up.
    Rider,
    /// Operators.
    Admin,
    /// Development: sign in without an identity provider.
    Dev,
}

/// Largest accepted request body: far above any real order, far below what could hurt.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The OpenAPI service with every endpoint. Endpoints read the [`ApiState`] from request
/// data, so the document can be produced without a database.
pub fn service() -> OpenApiService<
    (
        customers::CustomerApi,
        stores::StoreApi,
        riders::RiderApi,
        admin::AdminApi,
        notifications::NotificationApi,
        dev::DevApi,
    ),
    (),
> {
    OpenApiService::new(
        (
            customers::CustomerApi,
            stores::StoreApi,
            riders::RiderApi,
            admin::AdminApi,
            notifications::NotificationApi,
            dev::DevApi,
        ),
        "eats",
        API_VERSION,
    )
    .description(
        "Event-sourced food delivery: customers order and pay, stores cook, riders deliver. \
         Writes answer with the new id and status; read models follow within milliseconds. \
         Errors are RFC 9457 problem+json with a stable `type`.",
    )
    .server("/api/v1")
}

/// The OpenAPI document, as checked into `schemas/openapi.json`.
pub fn openapi_json() -> String {
    types::close_objects(service().spec())
}

/// `/api/v1` with auth, rate limits, idempotency, size limits and problem+json errors; plus
/// `/openapi.json` and `/docs` (Swagger UI, served from the binary).
pub fn routes(state: ApiState, auth: Auth, limits: RateLimitSettings) -> impl Endpoint {
    let api = service();
    let document = openapi_json();
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let docs = api.swagger_ui();
    Route::new()
        .nest(
            "/api/v1",
            api.with(idempotency::Idempotency::new(
                state.db.clone(),
                state.idempotency,
            ))
            .with(middleware::BodyLimit(MAX_BODY_BYTES))
            .with(middleware::RateLimit::new(limits)),
        )
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .data(auth)
        .data(state)
        .around(middleware::problemize)
        .with(telemetry::Observe)
}
