//! NHN Cloud: KakaoTalk Bizmessage AlimTalk v2.3, with NHN's own SMS fallback through
//! `resendParameter`, and SMS v3.0 for the `sms` channel.
//!
//! Both APIs answer HTTP 200 with `header.isSuccessful` false on a refusal, and accept a
//! request per recipient (`sendResults[].resultCode` 0): both levels are checked. AlimTalk
//! gets `X-NC-API-IDEMPOTENCY-KEY` (the record's id), so a retry after a lost answer within
//! NHN's ten minutes is answered -1005 instead of sending twice. NHN SMS v3.0 takes no
//! idempotency key: there the claim alone keeps a message from being sent twice.
//!
//! Accepted is not delivered: [`NhnSender::delivery`] asks AlimTalk's single-message query
//! (`messageStatus`, and for a message that KakaoTalk could not deliver, the state of NHN's
//! SMS resend) or SMS's single search (`msgStatus` and the carrier's `resultCode`).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    classify_status, http_client, sms_kind, transport, Accepted, Outgoing, Provider, SendError,
    Unreachable, Verdict,
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
    recipient_seq: Option<i64>,
}

/// AlimTalk's single-message query, the fields that say what became of it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlimTalkResult {
    /// `COMPLETED`, `FAILED` or `CANCEL` (anything else: still in progress).
    message_status: Option<String>,
    /// `MRC01` received, `MRC02` not (and other receive codes).
    result_code: Option<String>,
    result_code_name: Option<String>,
    /// RSC01 no resend, RSC02 will resend on failure, RSC03 resending, RSC04 resent, RSC05 resend failed.
    resend_status: Option<String>,
    resend_result_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlimTalkResultResponse {
    header: Header,
    message: Option<AlimTalkResult>,
}

/// SMS's single search, the fields that say what became of it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsResult {
    /// 0 failed, 1 requested, 2 processing, 3 sent, 4 reservation cancelled, 5 duplicate,
    /// 6 failed (ad limit), 7 waiting to resend (ad limit).
    msg_status: Option<String>,
    msg_status_name: Option<String>,
    /// The carrier's receive result: `1000` received.
    result_code: Option<String>,
    result_code_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SmsResultBody {
    data: Option<SmsResult>,
}

#[derive(Debug, Deserialize)]
struct SmsResultResponse {
    header: Header,
    body: Option<SmsResultBody>,
}

/// What AlimTalk's query says: received on KakaoTalk, or (failing that) by NHN's SMS resend.
fn alimtalk_verdict(result: &AlimTalkResult) -> Verdict {
    let code = result.result_code.as_deref().unwrap_or("");
    let name = result.result_code_name.as_deref().unwrap_or("");
    match result.message_status.as_deref() {
        Some("COMPLETED") if code == "MRC01" || code.is_empty() => Verdict::Delivered { how: None },
        Some("COMPLETED" | "FAILED") => match result.resend_status.as_deref() {
            Some("RSC04") => Verdict::Delivered {
                how: Some("sms_fallback".into()),
            },
            Some("RSC02" | "RSC03") => Verdict::Pending,
            Some("RSC05") => Verdict::Undelivered {
                reason: format!(
                    "{code}: {name}; SMS fallback failed: {}",
                    result.resend_result_code.as_deref().unwrap_or("-")
                ),
            },
            _ => Verdict::Undelivered {
                reason: format!("{code}: {name}"),
            },
        },
        Some("CANCEL") => Verdict::Undelivered {
            reason: "cancelled".into(),
        },
        _ => Verdict::Pending,
    }
}

/// What SMS's search says: sent and received by the handset (`1000`), or not.
fn sms_verdict(result: &SmsResult) -> Verdict {
    let status = result.msg_status.as_deref().unwrap_or("");
    let code = result.result_code.as_deref().filter(|c| !c.is_empty());
    match (status, code) {
        ("3", Some("1000")) => Verdict::Delivered { how: None },
        ("3", None) | ("1" | "2" | "7", _) => Verdict::Pending,
        ("3", Some(code)) => Verdict::Undelivered {
            reason: format!(
                "{code}: {}",
                result.result_code_name.as_deref().unwrap_or("")
            ),
        },
        (status, _) => Verdict::Undelivered {
            reason: format!(
                "msgStatus {status}: {}",
                result.msg_status_name.as_deref().unwrap_or("")
            ),
        },
    }
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
        let mut recipient = json!({
            "recipientNo": phone,
            "templateParameter": message.parameters,
            "recipientGroupingKey": message.id,
        });
        recipient["resendParameter"] = if message.sms_fallback {
            resend
        } else {
            // Explicit, so a resend configured in NHN's console does not send the SMS the
            // customer turned off.
            json!({ "isResend": false })
        };
        let body = json!({
            "senderKey": self.settings.sender_key,
            "templateCode": message.template.code,
            "recipientList": [recipient],
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
            recipient_seq: message.send_results.first().and_then(|r| r.recipient_seq),
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
            recipient_seq: data.send_result_list.first().and_then(|r| r.recipient_seq),
        })
    }

    async fn get(&self, url: String) -> Result<String, SendError> {
        let response = self
            .client
            .get(url)
            .header("X-Secret-Key", &self.settings.secret_key)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        match classify_status(status, &text) {
            Some(error) => Err(error),
            None => Ok(text),
        }
    }

    /// The request id and recipient sequence a result query needs.
    fn receipt(accepted: &Accepted) -> Result<(&str, i64), SendError> {
        match (accepted.request_id.as_deref(), accepted.recipient_seq) {
            (Some(request_id), Some(seq)) => Ok((request_id, seq)),
            _ => Err(SendError::Refused {
                code: "no_receipt".into(),
                message: "NHN's answer had no requestId and recipientSeq to ask about".into(),
            }),
        }
    }

    async fn alimtalk_delivery(&self, accepted: &Accepted) -> Result<Verdict, SendError> {
        let (request_id, seq) = Self::receipt(accepted)?;
        let url = format!(
            "{}/alimtalk/v2.3/appkeys/{}/messages/{request_id}/{seq}",
            self.settings.alimtalk_url.trim_end_matches('/'),
            self.settings.app_key
        );
        let text = self.get(url).await?;
        let response: AlimTalkResultResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Unavailable(format!("unreadable AlimTalk result: {e}")))?;
        if !response.header.is_successful {
            return Err(Self::refused(
                response.header.result_code,
                response.header.result_message,
            ));
        }
        Ok(response
            .message
            .as_ref()
            .map_or(Verdict::Pending, alimtalk_verdict))
    }

    async fn sms_delivery(
        &self,
        message: &Outgoing,
        accepted: &Accepted,
    ) -> Result<Verdict, SendError> {
        let (request_id, seq) = Self::receipt(accepted)?;
        let path = match sms_kind(&message.text()) {
            "LMS" => "mms",
            _ => "sms",
        };
        let url = format!(
            "{}/sms/v3.0/appKeys/{}/sender/{path}/{request_id}?recipientSeq={seq}",
            self.settings.sms_url.trim_end_matches('/'),
            self.settings.sms_app_key
        );
        let text = self.get(url).await?;
        let response: SmsResultResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Unavailable(format!("unreadable SMS result: {e}")))?;
        if !response.header.is_successful {
            return Err(Self::refused(
                response.header.result_code,
                response.header.result_message,
            ));
        }
        Ok(response
            .body
            .and_then(|b| b.data)
            .as_ref()
            .map_or(Verdict::Pending, sms_verdict))
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

    fn reports_delivery(&self) -> bool {
        true
    }

    async fn delivery(
        &self,
        message: &Outgoing,
        accepted: &Accepted,
    ) -> Result<Verdict, SendError> {
        match message.channel.as_str() {
            "sms" => self.sms_delivery(message, accepted).await,
            _ => self.alimtalk_delivery(accepted).await,
        }
    }
}
