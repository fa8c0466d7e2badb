//! Toss Payments over HTTP.
//!
//! Confirm: `POST /v1/payments/confirm` with `paymentKey`, `orderId`, `amount`. Cancel:
//! `POST /v1/payments/{paymentKey}/cancel` with `cancelReason`. Both with Basic auth (the
//! secret key and an empty password) and an `Idempotency-Key` header, so a retried call is
//! answered with the first call's result instead of charging or refunding again.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use eats_domain::payment::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, PaymentGateway,
};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::json;

/// Seconds to wait when an overloaded gateway does not say.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// A Toss Payments client.
#[derive(Clone, Debug)]
pub struct TossGateway {
    client: reqwest::Client,
    base: Url,
    authorization: String,
}

/// The base URL does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid payment gateway URL `{url}`: {reason}")]
pub struct InvalidGatewayUrl {
    url: String,
    reason: String,
}

#[derive(Deserialize)]
struct TossError {
    code: String,
    message: String,
}

impl TossGateway {
    /// A client for the API at `base_url` (e.g. `https://api.tosspayments.com`) with
    /// `secret_key`; each call gives up after `timeout`.
    pub fn new(
        base_url: &str,
        secret_key: &str,
        timeout: Duration,
    ) -> Result<Self, InvalidGatewayUrl> {
        let invalid = |reason: String| InvalidGatewayUrl {
            url: base_url.to_string(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if base.cannot_be_a_base() {
            return Err(invalid("not a base URL".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{secret_key}:"));
        Ok(Self {
            client,
            base,
            authorization: format!("Basic {credentials}"),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn post(
        &self,
        url: Url,
        idempotency_key: &str,
        body: serde_json::Value,
    ) -> Result<GatewayVerdict, GatewayError> {
        let response = self
            .client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    GatewayError::Timeout
                } else {
                    GatewayError::Unavailable {
                        retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
                    }
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(GatewayVerdict::Approved);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after_secs = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            return Err(GatewayError::Unavailable { retry_after_secs });
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(GatewayError::Protocol(format!(
                "the gateway refused our credentials ({status}); check EATS_PAYMENT_SECRET_KEY"
            )));
        }
        match response.json::<TossError>().await {
            Ok(error) => Ok(GatewayVerdict::Declined {
                code: error.code,
                message: error.message,
            }),
            Err(error) => Err(GatewayError::Protocol(format!(
                "{status} with an unreadable body: {error}"
            ))),
        }
    }
}

#[async_trait]
impl PaymentGateway for TossGateway {
    async fn confirm(&self, request: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
        let body = json!({
            "paymentKey": request.payment_key,
            "orderId": request.order_id.to_string(),
            "amount": request.amount.0,
        });
        self.post(
            self.url(&["v1", "payments", "confirm"]),
            &request.idempotency_key,
            body,
        )
        .await
    }

    async fn cancel(&self, request: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
        let body = json!({ "cancelReason": request.reason });
        let url = self.url(&["v1", "payments", &request.payment_key, "cancel"]);
        self.post(url, &request.idempotency_key, body).await
    }
}
