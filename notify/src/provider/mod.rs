//! Outbound adapters: one module per provider behind [`Provider`].
//!
//! - [`log`]: writes the message to the log; the embedded default.
//! - [`nhn`]: NHN Cloud AlimTalk v2.3 (SMS fallback through `resendParameter`) and SMS v3.0.
//! - [`solapi`]: Solapi messages v4 with HMAC-SHA256 authorization and `kakaoOptions`.
//! - [`webhook`]: a JSON POST signed with HMAC-SHA256 of the body.
//!
//! A provider sends and, where it can, says later whether a message reached its recipient
//! ([`Provider::delivery`]); recording, claiming, retrying, shedding and asking again are the
//! dispatcher's.

pub mod log;
pub mod nhn;
pub mod solapi;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::template::Template;

/// One message about to leave, as recorded.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The record's id: the idempotency key given to providers that take one.
    pub id: String,
    /// The event it is about, `<aggregate>-<id>-<sequence>`.
    pub event_key: String,
    /// `customer:<uuid>` or `store_owner:<uuid>`.
    pub recipient: String,
    /// The recipient's domestic mobile number (`01012345678`), when known.
    pub phone: Option<String>,
    /// The channel it was recorded for (`alimtalk`, `sms`, `kakao`, `webhook`, `log`).
    pub channel: String,
    /// The order it is about, if any.
    pub order_id: Option<String>,
    /// What is said.
    pub template: Template,
    /// The template's parameters by name (without `#{}`).
    pub parameters: BTreeMap<String, String>,
    /// Whether the provider may fall back to SMS when KakaoTalk cannot reach the recipient
    /// (false when the customer turned SMS off).
    pub sms_fallback: bool,
}

impl Outgoing {
    /// The full text, as the recipient reads it.
    pub fn text(&self) -> String {
        self.template.render(&self.parameters)
    }
}

/// The provider took the message (accepted is not delivered).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's request or message id, for the delivery result and for support.
    pub request_id: Option<String>,
    /// The recipient's sequence within the request (NHN), needed to ask for its result.
    pub recipient_seq: Option<i64>,
}

/// What the provider says became of a message it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It reached the recipient; `how` says by which way when that is worth telling
    /// (`sms_fallback`: KakaoTalk could not, the SMS did).
    Delivered {
        /// The way, when not the first one.
        how: Option<String>,
    },
    /// It did not reach them and will not: the provider's code and explanation.
    Undelivered {
        /// Why, as the provider says it (e.g. `MRC02: ...`, `3032: 미가입자`).
        reason: String,
    },
    /// No verdict yet (with the carrier, waiting for the SMS fallback).
    Pending,
}

/// Why a send did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// May pass later: a timeout, a refused connection, a 5xx or a 429. Counts against the
    /// provider's circuit breaker.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// Will not pass by retrying: the provider refused this message (bad number, template
    /// mismatch, blocked recipient).
    #[error("provider refused the message: {code}: {message}")]
    Refused {
        /// The provider's code.
        code: String,
        /// The provider's explanation.
        message: String,
    },
    /// The provider already has this message (its idempotency key was seen): it was sent by
    /// an earlier attempt whose answer was lost.
    #[error("the provider already has this message")]
    Duplicate,
}

/// Why a message cannot go to a recipient on this provider at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// The provider needs a phone number and the recipient has none (store owners today).
    #[error("no_phone")]
    NoPhone,
}

/// A way of sending messages.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Short stable name for records and metrics (`log`, `nhn`, `solapi`, `webhook`).
    fn name(&self) -> &'static str;

    /// The channel a message to this recipient is recorded for, or why it cannot be sent.
    /// Decided when the message is recorded, so the record is unique per channel.
    fn channel(&self, phone: Option<&str>) -> Result<&'static str, Unreachable>;

    /// The channel for customers who turned KakaoTalk off but want SMS, if this provider has
    /// one (NHN's direct SMS); without it such a customer gets nothing non-critical.
    fn sms_channel(&self) -> Option<&'static str> {
        None
    }

    /// Sends one message. Must not log secrets.
    async fn send(&self, message: &Outgoing) -> Result<Accepted, SendError>;

    /// Whether acceptance is followed by a delivery result to ask for. When not (the log,
    /// a webhook whose receiver is the destination), an accepted message is delivered.
    fn reports_delivery(&self) -> bool {
        false
    }

    /// Asks what became of `message`, accepted earlier as `accepted`. Only called when
    /// [`Provider::reports_delivery`]; a failed query ([`SendError`]) is asked again later.
    async fn delivery(
        &self,
        _message: &Outgoing,
        _accepted: &Accepted,
    ) -> Result<Verdict, SendError> {
        Ok(Verdict::Delivered { how: None })
    }
}

/// `+821012345678`, `010-1234-5678` or `01012345678` as the domestic `01012345678` that the
/// Korean providers want; `None` for anything that is not a Korean mobile number.
pub fn domestic_number(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let national = match digits.strip_prefix("+82") {
        Some(rest) => format!("0{}", rest.strip_prefix('0').unwrap_or(rest)),
        None => digits,
    };
    let valid = (10..=11).contains(&national.len())
        && national.starts_with("01")
        && national.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(national)
}

/// An HTTP client with a timeout, for the HTTP providers.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(timeout).build()
}

/// Maps a transport error or an HTTP status to a [`SendError`]: timeouts, connection errors,
/// 5xx and 429 may pass later; other 4xx will not.
pub(crate) fn classify_status(status: reqwest::StatusCode, body: &str) -> Option<SendError> {
    if status.is_success() {
        return None;
    }
    let snippet: String = body.chars().take(200).collect();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Some(SendError::Unavailable(format!("HTTP {status}: {snippet}")))
    } else {
        Some(SendError::Refused {
            code: status.as_u16().to_string(),
            message: snippet,
        })
    }
}

/// A transport failure: never includes the request (which may carry secrets).
pub(crate) fn transport(error: reqwest::Error) -> SendError {
    SendError::Unavailable(error.without_url().to_string())
}

/// `SMS` for texts that fit 90 EUC-KR bytes (a Hangul syllable takes two), else `LMS`.
pub fn sms_kind(text: &str) -> &'static str {
    let bytes: usize = text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
    if bytes <= 90 {
        "SMS"
    } else {
        "LMS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_mobile_numbers_are_normalised_to_the_domestic_form() {
        for raw in [
            "010-1234-5678",
            "01012345678",
            "+82 10-1234-5678",
            "+821012345678",
        ] {
            assert_eq!(
                domestic_number(raw).as_deref(),
                Some("01012345678"),
                "{raw}"
            );
        }
        assert_eq!(domestic_number("02-123-4567"), None);
        assert_eq!(domestic_number("hello"), None);
    }

    #[test]
    fn long_korean_texts_go_as_lms() {
        assert_eq!(sms_kind("주문이 접수되었습니다."), "SMS");
        assert_eq!(sms_kind(&"가".repeat(46)), "LMS");
    }
}
