//! A signed JSON webhook, for any other channel (a store's tablet, a chat bot, a test).
//!
//! The body is the message as JSON; `X-Eats-Signature: sha256=<hex>` is HMAC-SHA256 of the
//! exact body bytes with the shared secret, and `Idempotency-Key` is the record's id, so a
//! receiver can verify the sender and drop a retry of a message it already has.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{
    classify_status, http_client, transport, Accepted, Outgoing, Provider, SendError, Unreachable,
};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Eats-Signature";

/// Posts each message to one URL.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSender {
    /// A sender to `url`, signing with `secret`.
    pub fn new(url: &str, secret: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(timeout)?,
            url: url.to_string(),
            secret: secret.to_string(),
        })
    }
}

#[async_trait]
impl Provider for WebhookSender {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn channel(&self, _phone: Option<&str>) -> Result<&'static str, Unreachable> {
        Ok("webhook")
    }

    async fn send(&self, message: &Outgoing) -> Result<Accepted, SendError> {
        let body = json!({
            "id": message.id,
            "event": message.event_key,
            "recipient": message.recipient,
            "phone": message.phone,
            "order_id": message.order_id,
            "template": message.template.code,
            "parameters": message.parameters,
            "text": message.text(),
            "critical": message.template.critical,
        });
        let body = serde_json::to_vec(&body).expect("a JSON value serializes");
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &message.id)
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if let Some(error) = classify_status(status, &text) {
            return Err(error);
        }
        Ok(Accepted::default())
    }
}
