//! Domain errors as RFC 9457 problem details.
//!
//! Clients branch on `type`, never on the human `detail`, so each kind of refusal has one
//! stable type URN (`urn:eats:problem:<slug>`). Invalid input names the offending `field`.

use cqrs_es::AggregateError;
use eats_domain::customer::CustomerError;
use eats_domain::delivery::DeliveryError;
use eats_domain::order::OrderError;
use eats_domain::payment::{GatewayError, PaymentError};
use eats_domain::store::StoreError;
use eats_domain::text::TextError;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

/// An RFC 9457 problem details body (`application/problem+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:eats:problem:cooking-already-started`.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub type_uri: String,
    /// Short summary of the kind; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// The input field at fault, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds until a retry may succeed, for 503s (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// How one domain error is reported: its status, slug, title and (for bad input) field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemKind {
    /// HTTP status.
    pub status: u16,
    /// The last part of the type URN.
    pub slug: &'static str,
    /// The summary.
    pub title: &'static str,
    /// The input field at fault.
    pub field: Option<&'static str>,
}

const fn kind(status: u16, slug: &'static str, title: &'static str) -> ProblemKind {
    ProblemKind {
        status,
        slug,
        title,
        field: None,
    }
}

const fn bad_input(slug: &'static str, field: &'static str) -> ProblemKind {
    ProblemKind {
        status: 422,
        slug,
        title: "Invalid input",
        field: Some(field),
    }
}

fn text(error: &TextError) -> ProblemKind {
    let field = match error {
        TextError::Empty { field }
        | TextError::TooLong { field, .. }
        | TextError::ControlCharacters { field } => field,
    };
    bad_input("invalid-text", field)
}

/// A domain error that knows how it is reported over HTTP.
pub trait Classified: std::error::Error {
    /// Status, type and field of this error.
    fn kind(&self) -> ProblemKind;

    /// Seconds after which retrying may succeed, when the error is temporary.
    fn retry_after_secs(&self) -> Option<u64> {
        None
    }
}

impl Classified for OrderError {
    fn kind(&self) -> ProblemKind {
        use OrderError::*;
        match self {
            AlreadyPlaced => kind(409, "order-already-placed", "Order already placed"),
            NotPlaced => kind(404, "order-not-found", "Order not found"),
            EmptyOrder | TooManyLines | TotalTooLarge => bad_input("invalid-order-lines", "lines"),
            InvalidQuantity { .. } => bad_input("invalid-quantity", "lines[].quantity"),
            DuplicateLine(_) => bad_input("duplicate-order-line", "lines[].item_id"),
            UnknownMenuItem(_) => bad_input("unknown-menu-item", "lines[].item_id"),
            StoreNotFound(_) => ProblemKind {
                status: 404,
                slug: "unknown-store",
                title: "Store not found",
                field: Some("store_id"),
            },
            StoreClosed(_) => kind(409, "store-closed", "Store is closed"),
            MenuItemUnavailable(_) => kind(409, "menu-item-sold-out", "Menu item sold out"),
            InvalidText(e) => text(e),
            InvalidLocation(_) => bad_input("invalid-location", "deliver_to.location"),
            CatalogUnavailable(_) => {
                kind(503, "catalog-unavailable", "Menu temporarily unavailable")
            }
            NotYourOrder => kind(404, "order-not-found", "Order not found"),
            NotStoreOwner => kind(403, "not-store-owner", "Not the store's owner"),
            PaymentAmountMismatch { .. } => kind(
                409,
                "payment-amount-mismatch",
                "Payment does not match the total",
            ),
            AlreadyPaid => kind(409, "order-already-paid", "Order already paid"),
            CookingAlreadyStarted => kind(
                409,
                "cooking-already-started",
                "Cooking has already started",
            ),
            AlreadyCancelled => kind(409, "order-cancelled", "Order was cancelled"),
            AlreadyRejected => kind(409, "order-rejected", "Order was rejected"),
            AlreadyDelivered => kind(409, "order-delivered", "Order was delivered"),
            WrongStatus { .. } => kind(409, "order-wrong-status", "Not possible in this status"),
        }
    }
}

impl Classified for PaymentError {
    fn kind(&self) -> ProblemKind {
        use PaymentError::*;
        match self {
            AlreadyPaid => kind(409, "order-already-paid", "Order already paid"),
            AlreadyRefunded => kind(409, "payment-refunded", "Payment was refunded"),
            NothingToRefund => kind(409, "nothing-to-refund", "No approved payment"),
            InvalidAmount(_) => kind(409, "invalid-amount", "Nothing to pay"),
            InvalidPaymentKey(e) => text(e),
            NotYourPayment => kind(404, "order-not-found", "Order not found"),
            OrderMismatch { .. } => bad_input("payment-order-mismatch", "payment_id"),
            Gateway(GatewayError::Protocol(_)) => {
                kind(502, "payment-gateway-error", "Payment gateway error")
            }
            Gateway(_) => kind(
                503,
                "payment-gateway-unavailable",
                "Payment temporarily unavailable",
            ),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            PaymentError::Gateway(GatewayError::Unavailable { retry_after_secs }) => {
                Some(*retry_after_secs)
            }
            PaymentError::Gateway(GatewayError::Timeout) => Some(1),
            _ => None,
        }
    }
}

impl Classified for DeliveryError {
    fn kind(&self) -> ProblemKind {
        use DeliveryError::*;
        match self {
            AlreadyRequested => kind(
                409,
                "delivery-already-requested",
                "Delivery already requested",
            ),
            NotRequested => kind(404, "delivery-not-found", "Delivery not found"),
            OrderMismatch { .. } => bad_input("delivery-order-mismatch", "delivery_id"),
            AlreadyClaimed => kind(409, "delivery-already-claimed", "Delivery already claimed"),
            RiderTooFar { .. } => kind(409, "rider-too-far", "Too far from the store"),
            NotAssignedRider => kind(403, "not-assigned-rider", "Assigned to another rider"),
            NotClaimed => kind(409, "delivery-not-claimed", "Delivery not claimed"),
            AlreadyPickedUp => kind(409, "delivery-picked-up", "Delivery already picked up"),
            NotPickedUp => kind(409, "delivery-not-picked-up", "Delivery not picked up"),
            AlreadyCompleted => kind(409, "delivery-completed", "Delivery completed"),
            DeliveryCancelled => kind(409, "delivery-cancelled", "Delivery cancelled"),
            InvalidRadius { .. } => bad_input("invalid-radius", "radius_m"),
            InvalidLocation(_) => bad_input("invalid-location", "location"),
            InvalidText(e) => text(e),
        }
    }
}

impl Classified for StoreError {
    fn kind(&self) -> ProblemKind {
        use StoreError::*;
        match self {
            AlreadyRegistered => kind(409, "store-already-registered", "Store already registered"),
            NotRegistered => kind(404, "store-not-found", "Store not found"),
            NotStoreOwner => kind(403, "not-store-owner", "Not the store's owner"),
            InvalidText(e) => text(e),
            InvalidLocation(_) => bad_input("invalid-location", "location"),
            InvalidPrice(_) => bad_input("invalid-price", "price"),
            MenuItemAlreadyExists(_) => kind(409, "menu-item-exists", "Menu item exists"),
            UnknownMenuItem(_) => kind(404, "menu-item-not-found", "Menu item not found"),
            MenuFull => kind(409, "menu-full", "Menu is full"),
            MenuItemUnchanged(_) => kind(409, "menu-item-unchanged", "Nothing to change"),
            EmptyMenu => kind(409, "empty-menu", "Menu is empty"),
            AlreadyOpen => kind(409, "store-already-open", "Store already open"),
            AlreadyClosed => kind(409, "store-already-closed", "Store already closed"),
        }
    }
}

impl Classified for CustomerError {
    fn kind(&self) -> ProblemKind {
        use CustomerError::*;
        match self {
            AlreadyRegistered => kind(
                409,
                "customer-already-registered",
                "Customer already registered",
            ),
            NotRegistered => kind(404, "customer-not-found", "Customer not registered"),
            InvalidText(e) => text(e),
            InvalidPhone(_) => bad_input("invalid-phone", "phone"),
            InvalidLocation(_) => bad_input("invalid-location", "location"),
            OrderAlreadyRecorded(_) => kind(409, "order-already-recorded", "Order already counted"),
        }
    }
}

impl Problem {
    /// The problem for `kind` with this occurrence's `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:eats:problem:{}", kind.slug),
            title: kind.title.to_string(),
            status: kind.status,
            detail: detail.into(),
            field: kind.field.map(str::to_string),
            retry_after_secs: None,
        }
    }

    /// A domain refusal.
    pub fn from_domain<E: Classified>(error: &E) -> Self {
        Self {
            retry_after_secs: error.retry_after_secs(),
            ..Self::new(error.kind(), error.to_string())
        }
    }

    /// The outcome of a command. The one place where a lost optimistic-concurrency race
    /// becomes 409: the client reloads and decides again.
    pub fn from_command<E: Classified>(error: &AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(e) => Self::from_domain(e),
            AggregateError::AggregateConflict => Self::new(
                kind(409, "concurrent-modification", "Changed concurrently"),
                "someone else changed this at the same moment; reload and try again",
            ),
            AggregateError::DatabaseConnectionError(_) => Self {
                retry_after_secs: Some(1),
                ..Self::new(
                    kind(503, "store-unavailable", "Temporarily unavailable"),
                    "the event store is unreachable; nothing was changed",
                )
            },
            AggregateError::DeserializationError(_) | AggregateError::UnexpectedError(_) => {
                Self::new(
                    kind(500, "internal-error", "Internal error"),
                    "an unexpected error occurred; nothing was changed",
                )
            }
        }
    }
}

/// Every refusal an endpoint can answer with, as problem+json. Shared by all endpoints so
/// clients handle errors one way.
#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "malformed")]
pub enum ApiError {
    /// The request is malformed: unreadable JSON, a wrong type, a missing or bad parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No valid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The token's role or user may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such thing, or not yours.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The path exists but not with this method.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>),
    /// Refused by a business rule in the current state, or changed concurrently.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than allowed.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not JSON.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed but invalid input; `field` names it.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// Too many requests from this client; retry after the given seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Something went wrong on our side; nothing was changed.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The payment gateway answered something we do not understand.
    #[oai(status = 502, content_type = "application/problem+json")]
    BadGateway(Json<Problem>),
    /// Temporarily unavailable (e.g. the payment gateway); retry after the given seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn malformed(error: poem::Error) -> ApiError {
    ApiError::from(Problem::from_http(&error))
}

impl Problem {
    /// A problem for an HTTP-level error (bad JSON, missing parameter, wrong media type...).
    /// A value that parses but breaks a documented limit is a 422 naming its field.
    pub fn from_http(error: &poem::Error) -> Self {
        let message = error.to_string();
        // poem-openapi's `deny_unknown_fields` says "unknown field `name`." (innermost object).
        if let Some(start) = message
            .find("unknown field `")
            .map(|i| i + "unknown field `".len())
        {
            let field = message[start..]
                .find('`')
                .map(|end| message[start..start + end].to_string());
            return Self {
                field,
                ..Self::new(kind(422, "unknown-field", "Unknown field"), message)
            };
        }
        if message.contains("verification failed") {
            let field = ["field `", "parameter `"].iter().find_map(|marker| {
                let start = message.find(marker)? + marker.len();
                let end = message[start..].find('`')?;
                Some(message[start..start + end].to_string())
            });
            return Self {
                field,
                ..Self::new(kind(422, "invalid-input", "Invalid input"), message)
            };
        }
        let status = error.status().as_u16();
        let (slug, title) = match status {
            400 => ("malformed-request", "Malformed request"),
            401 => ("unauthorized", "Not authenticated"),
            404 => ("not-found", "Not found"),
            405 => ("method-not-allowed", "Method not allowed"),
            413 => ("body-too-large", "Request body too large"),
            415 => ("unsupported-media-type", "Unsupported media type"),
            _ => ("http-error", "Request refused"),
        };
        Self::new(
            ProblemKind {
                status,
                slug,
                title,
                field: None,
            },
            error.to_string(),
        )
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        let retry = problem.retry_after_secs.unwrap_or(1);
        match problem.status {
            400 => ApiError::BadRequest(Json(problem)),
            401 => ApiError::Unauthorized(Json(problem)),
            403 => ApiError::Forbidden(Json(problem)),
            404 => ApiError::NotFound(Json(problem)),
            405 => ApiError::MethodNotAllowed(Json(problem)),
            409 => ApiError::Conflict(Json(problem)),
            413 => ApiError::TooLarge(Json(problem)),
            415 => ApiError::UnsupportedMediaType(Json(problem)),
            422 => ApiError::Invalid(Json(problem)),
            429 => ApiError::TooManyRequests(Json(problem), retry),
            502 => ApiError::BadGateway(Json(problem)),
            503 => ApiError::Unavailable(Json(problem), retry),
            _ => ApiError::Internal(Json(problem)),
        }
    }
}

impl<E: Classified> From<AggregateError<E>> for ApiError {
    fn from(error: AggregateError<E>) -> Self {
        if let AggregateError::UnexpectedError(e) | AggregateError::DeserializationError(e) = &error
        {
            tracing::error!(error = %e, "command failed unexpectedly");
        }
        Problem::from_command(&error).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "read model query failed");
        Problem {
            retry_after_secs: Some(1),
            ..Problem::new(
                kind(503, "read-model-unavailable", "Temporarily unavailable"),
                "the read models are unreachable; try again shortly",
            )
        }
        .into()
    }
}

/// 404 for something absent or not the caller's.
pub fn not_found(what: &str) -> ApiError {
    Problem::new(
        kind(404, "not-found", "Not found"),
        format!("{what} not found"),
    )
    .into()
}

/// 422 naming the `field` at fault.
pub fn invalid(field: &'static str, detail: impl Into<String>) -> ApiError {
    Problem::new(
        ProblemKind {
            status: 422,
            slug: "invalid-input",
            title: "Invalid input",
            field: Some(field),
        },
        detail,
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eats_domain::{MenuItemId, Won};

    #[test]
    fn a_lost_race_is_a_409_with_its_own_type() {
        let problem = Problem::from_command::<OrderError>(&AggregateError::AggregateConflict);
        assert_eq!(problem.status, 409);
        assert_eq!(problem.type_uri, "urn:eats:problem:concurrent-modification");
    }

    #[test]
    fn bad_input_names_the_field() {
        let item = MenuItemId::new();
        let problem = Problem::from_domain(&OrderError::InvalidQuantity { item, quantity: 0 });
        assert_eq!(problem.status, 422);
        assert_eq!(problem.field.as_deref(), Some("lines[].quantity"));
        let problem = Problem::from_domain(&StoreError::InvalidText(TextError::TooLong {
            field: "name",
            max: 80,
        }));
        assert_eq!(problem.field.as_deref(), Some("name"));
    }

    #[test]
    fn another_customers_order_looks_like_no_order_at_all() {
        let theirs = Problem::from_domain(&OrderError::NotYourOrder);
        let missing = Problem::from_domain(&OrderError::NotPlaced);
        assert_eq!((theirs.status, &theirs.type_uri), (404, &missing.type_uri));
    }

    #[test]
    fn an_unavailable_gateway_says_when_to_pay_again() {
        let problem = Problem::from_domain(&PaymentError::Gateway(GatewayError::Unavailable {
            retry_after_secs: 30,
        }));
        assert_eq!((problem.status, problem.retry_after_secs), (503, Some(30)));
        let json = serde_json::to_value(&problem).expect("json");
        assert_eq!(json["type"], "urn:eats:problem:payment-gateway-unavailable");
        assert!(json.get("field").is_none());
    }

    #[test]
    fn business_refusals_are_409s() {
        for error in [
            OrderError::CookingAlreadyStarted,
            OrderError::PaymentAmountMismatch {
                expected: Won(1),
                paid: Won(2),
            },
        ] {
            assert_eq!(Problem::from_domain(&error).status, 409);
        }
    }
}
