//! NHN Cloud: KakaoTalk Bizmessage AlimTalk v2.3, with NHN's own SMS fallback through
//! `resendParameter`, and SMS v3.0 for the `sms` channel.
//!
//! Both APIs answer HTTP 200 with `header.isSuccessful` false on a refusal, and accept a
//! request per recipient (`sendResults[].resultCode` 0): both levels are checked. AlimTalk
//! gets `X-NC-API-IDEMPOTENCY-KEY` (the record's id), so a retry after a lost answer within
//! NHN's ten minutes is answered -1005 instead of sending twice.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    classify_status, http_client, sms_kind, transport, Accepted, Outgoing, Provider, SendError,
    Unreachable,
};

/// NHN's answer to a repeated idempotency key.
const DUPLICATE_REQUEST: i64 = -1005;

/// Where and as whom to send.
#[derive(Clone)]
pub struct NhnSettings {
    /// AlimTalk base URL, e.g. `https://kakaotalk-bizmessage.api.nhncloudservice.com`.
    pub alimtalk_url: String,
    /// SMS base URL, e.g. `https://sms.api.nhncloudservice.com`.
    pub sms_url: String,
    /// The AlimTalk app key.
    pub app_key: String,
    /// The SMS app key (a separate NHN service).
    pub sms_app_key: String,
    /// `X-Secret-Key`.
    pub secret_key: String,
    /// The Kakao channel's sender key (40 characters).
    pub sender_key: String,
    /// The registered sending number for SMS and the AlimTalk fallback.
    pub sms_sender_no: String,
    /// Longest wait for one call.
    pub timeout: Duration,
}

impl std::fmt::Debug for NhnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhnSettings")
            .field("alimtalk_url", &self.alimtalk_url)
            .field("sms_url", &self.sms_url)
            .finish_non_exhaustive()
    }
}

/// Sends through NHN Cloud.
#[derive(Clone, Debug)]
pub struct NhnSender {
    client: reqwest::Client,
    settings: NhnSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    is_successful: bool,
    result_code: i64,
    #[serde(default)]
    result_message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecipientResult {
    result_code: i64,
    #[serde(default)]
    result_message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlimTalkMessage {
    request_id: Option<String>,
    #[serde(default)]
    send_results: Vec<RecipientResult>,
}

#[derive(Debug, Deserialize)]
struct AlimTalkResponse {
    header: Header,
    message: Option<AlimTalkMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsData {
    request_id: Option<String>,
    #[serde(default)]
    send_result_list: Vec<RecipientResult>,
}

#[derive(Debug, Deserialize)]
struct SmsBody {
    data: Option<SmsData>,
}

#[derive(Debug, Deserialize)]
struct SmsResponse {
    header: Header,
    body: Option<SmsBody>,
}

impl NhnSender {
    /// A sender with `settings`.
    pub fn new(settings: NhnSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: http_client(settings.timeout)?,
            settings,
        })
    }

    fn refused(code: i64, message: String) -> SendError {
        SendError::Refused {
            code: code.to_string(),
            message,
        }
    }

    async fn post(
        &self,
        url: String,
        idempotency_key: Option<&str>,
        body: Value,
    ) -> Result<String, SendError> {
        let mut request = self
            .client
            .post(url)
            .header("X-Secret-Key", &self.settings.secret_key)
            .json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("X-NC-API-IDEMPOTENCY-KEY", key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        match classify_status(status, &text) {
            Some(error) => Err(error),
            None => Ok(text),
        }
    }

    async fn alimtalk(&self, message: &Outgoing, phone: &str) -> Result<Accepted, SendError> {
        let text = message.text();
        let kind = sms_kind(&text);
        let mut resend = json!({
            "isResend": true,
            "resendType": kind,
            "resendContent": text,
            "resendSendNo": self.settings.sms_sender_no,
        });
        if kind == "LMS" {
            resend["resendTitle"] = json!("eats");
        }
        let body = json!({
            "senderKey": self.settings.sender_key,
            "templateCode": message.template.code,
            "recipientList": [{
                "recipientNo": phone,
                "templateParameter": message.parameters,
                "resendParameter": resend,
                "recipientGroupingKey": message.id,
            }],
        });
        let url = format!(
            "{}/alimtalk/v2.3/appkeys/{}/messages",
            self.settings.alimtalk_url.trim_end_matches('/'),
            self.settings.app_key
        );
        let text = self.post(url, Some(&message.id), body).await?;
        let response: AlimTalkResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Unavailable(format!("unreadable AlimTalk answer: {e}")))?;
        if !response.header.is_successful {
            if response.header.result_code == DUPLICATE_REQUEST {
                return Err(SendError::Duplicate);
            }
            return Err(Self::refused(
                response.header.result_code,
                response.header.result_message,
            ));
        }
        let message = response.message.unwrap_or(AlimTalkMessage {
            request_id: None,
            send_results: Vec::new(),
        });
        if let Some(result) = message.send_results.iter().find(|r| r.result_code != 0) {
            return Err(Self::refused(
                result.result_code,
                result.result_message.clone(),
            ));
        }
        Ok(Accepted {
            request_id: message.request_id,
        })
    }

    async fn sms(&self, message: &Outgoing, phone: &str) -> Result<Accepted, SendError> {
        let text = message.text();
        let kind = sms_kind(&text);
        let mut body = json!({
            "body": text,
            "sendNo": self.settings.sms_sender_no,
            "recipientList": [{ "recipientNo": phone }],
        });
        let path = if kind == "LMS" {
            body["title"] = json!("eats");
            "mms"
        } else {
            "sms"
        };
        let url = format!(
            "{}/sms/v3.0/appKeys/{}/sender/{path}",
            self.settings.sms_url.trim_end_matches('/'),
            self.settings.sms_app_key
        );
        let text = self.post(url, None, body).await?;
        let response: SmsResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Unavailable(format!("unreadable SMS answer: {e}")))?;
        if !response.header.is_successful {
            return Err(Self::refused(
                response.header.result_code,
                response.header.result_message,
            ));
        }
        let data = response.body.and_then(|b| b.data).unwrap_or(SmsData {
            request_id: None,
            send_result_list: Vec::new(),
        });
        if let Some(result) = data.send_result_list.iter().find(|r| r.result_code != 0) {
            return Err(Self::refused(
                result.result_code,
                result.result_message.clone(),
            ));
        }
        Ok(Accepted {
            request_id: data.request_id,
        })
    }
}

#[async_trait]
impl Provider for NhnSender {
    fn name(&self) -> &'static str {
        "nhn"
    }

    fn channel(&self, phone: Option<&str>) -> Result<&'static str, Unreachable> {
        phone.map(|_| "alimtalk").ok_or(Unreachable::NoPhone)
    }

    fn sms_channel(&self) -> Option<&'static str> {
        Some("sms")
    }

    async fn send(&self, message: &Outgoing) -> Result<Accepted, SendError> {
        let phone = message.phone.as_deref().ok_or_else(|| SendError::Refused {
            code: "no_phone".into(),
            message: "the recipient has no phone number".into(),
        })?;
        match message.channel.as_str() {
            "sms" => self.sms(message, phone).await,
            _ => self.alimtalk(message, phone).await,
        }
    }
}
