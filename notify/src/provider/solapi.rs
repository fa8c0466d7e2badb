//! Solapi (formerly CoolSMS) messages v4: one KakaoTalk AlimTalk per call with `kakaoOptions`,
//! Solapi itself falling back to SMS (`disableSms: false`).
//!
//! Every call is signed: `Authorization: HMAC-SHA256 apiKey=..., date=..., salt=...,
//! signature=hex(HMAC-SHA256(secret, date + salt))`, with a fresh salt so no signature is
//! ever reused (Solapi refuses a reused one within 15 minutes).
//!
//! Solapi takes no idempotency key (its `allowDuplicates` is about repeated recipients in a
//! group): the claim alone keeps a message from being sent twice. Accepted is not delivered:
//! [`SolapiSender::delivery`] reads the message's `statusCode` from `GET /messages/v4/list`
//! (`4000` done; `2000` and `3000` still on the way; any other code failed).

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::{
    classify_status, http_client, transport, Accepted, Outgoing, Provider, SendError, Unreachable,
    Verdict,
};

/// Where and as whom to send.
#[derive(Clone)]
pub struct SolapiSettings {
    /// Base URL, e.g. `https://api.solapi.com`.
    pub url: String,
    /// The API key.
    pub api_key: String,
    /// The API secret (signs, never sent).
    pub api_secret: String,
    /// The Kakao channel's id at Solapi.
    pub pf_id: String,
    /// The registered sending number for the SMS fallback.
    pub sender_no: String,
    /// Longest wait for one call.
    pub timeout: Duration,
}

impl std::fmt::Debug for SolapiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolapiSettings")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Sends through Solapi.
#[derive(Clone, Debug)]
pub struct SolapiSender {
    client: reqwest::Client,
    settings: SolapiSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendResponse {
    message_id: Option<String>,
    group_id: Option<String>,
    status_code: Option<String>,
    status_message: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// One message as `GET /messages/v4/list` lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedMessage {
    status_code: Option<String>,
    reason: Option<String>,
    /// Whether Solapi sent the SMS fallback instead of the AlimTalk.
    #[serde(default)]
    replacement: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    message_list: std::collections::HashMap<String, ListedMessage>,
}

/// What a listed message's status code says.
fn verdict(message: &ListedMessage) -> Verdict {
    match message.status_code.as_deref() {
        Some("4000") => Verdict::Delivered {
            how: message.replacement.then(|| "sms_fallback".to_string()),
        },
        None | Some("2000" | "3000") => Verdict::Pending,
        Some(code) => Verdict::Undelivered {
            reason: format!("{code}: {}", message.reason.as_deref().unwrap_or("")),
        },
    }
}

/// The hex HMAC-SHA256 of `date + salt` with `secret`, as Solapi checks it.
pub fn signature(secret: &str, date: &str, salt: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(date.as_bytes());
    mac.update(salt.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl SolapiSender {
    /// A sender with `settings`.
    pub fn new(settings: SolapiSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(settings.timeout)?,
            settings,
        })
    }

    fn authorization(&self) -> String {
        let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let salt: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
        let signature = signature(&self.settings.api_secret, &date, &salt);
        format!(
            "HMAC-SHA256 apiKey={}, date={date}, salt={salt}, signature={signature}",
            self.settings.api_key
        )
    }
}

#[async_trait]
impl Provider for SolapiSender {
    fn name(&self) -> &'static str {
        "solapi"
    }

    fn channel(&self, phone: Option<&str>) -> Result<&'static str, Unreachable> {
        phone.map(|_| "kakao").ok_or(Unreachable::NoPhone)
    }

    async fn send(&self, message: &Outgoing) -> Result<Accepted, SendError> {
        let phone = message.phone.as_deref().ok_or_else(|| SendError::Refused {
            code: "no_phone".into(),
            message: "the recipient has no phone number".into(),
        })?;
        let variables: serde_json::Map<String, serde_json::Value> = message
            .parameters
            .iter()
            .map(|(name, value)| (format!("#{{{name}}}"), json!(value)))
            .collect();
        let body = json!({
            "message": {
                "to": phone,
                "from": self.settings.sender_no,
                "text": message.text(),
                "kakaoOptions": {
                    "pfId": self.settings.pf_id,
                    "templateId": message.template.code,
                    "variables": variables,
                    "disableSms": !message.sms_fallback,
                },
            },
        });
        let url = format!(
            "{}/messages/v4/send",
            self.settings.url.trim_end_matches('/')
        );
        let response = self
            .client
            .post(url)
            .header("Authorization", self.authorization())
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        let parsed: Option<SendResponse> = serde_json::from_str(&text).ok();
        if let Some(error) = classify_status(status, &text) {
            return Err(match (error, parsed) {
                (
                    SendError::Refused { .. },
                    Some(SendResponse {
                        error_code: Some(code),
                        error_message,
                        ..
                    }),
                ) => SendError::Refused {
                    code,
                    message: error_message.unwrap_or_default(),
                },
                (error, _) => error,
            });
        }
        let parsed =
            parsed.ok_or_else(|| SendError::Unavailable("unreadable Solapi answer".into()))?;
        match parsed.status_code.as_deref() {
            Some("2000") => Ok(Accepted {
                request_id: parsed.message_id.or(parsed.group_id),
                recipient_seq: None,
            }),
            code => Err(SendError::Refused {
                code: code.unwrap_or("unknown").to_string(),
                message: parsed.status_message.unwrap_or_default(),
            }),
        }
    }

    fn reports_delivery(&self) -> bool {
        true
    }

    async fn delivery(
        &self,
        _message: &Outgoing,
        accepted: &Accepted,
    ) -> Result<Verdict, SendError> {
        let id = accepted
            .request_id
            .as_deref()
            .ok_or_else(|| SendError::Refused {
                code: "no_receipt".into(),
                message: "Solapi's answer had no messageId to ask about".into(),
            })?;
        let url = format!(
            "{}/messages/v4/list",
            self.settings.url.trim_end_matches('/')
        );
        let response = self
            .client
            .get(url)
            .query(&[("messageId", id)])
            .header("Authorization", self.authorization())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if let Some(error) = classify_status(status, &text) {
            return Err(error);
        }
        let listed: ListResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Unavailable(format!("unreadable Solapi list: {e}")))?;
        Ok(listed
            .message_list
            .get(id)
            .map_or(Verdict::Pending, verdict))
    }
}
