//! The log sender: the embedded default, so a newcomer sees every message without an account
//! at any provider.

use async_trait::async_trait;

use super::{Accepted, Outgoing, Provider, SendError, Unreachable};

/// Writes each message to the log (phone numbers masked) and calls it sent.
#[derive(Clone, Debug, Default)]
pub struct LogSender;

#[async_trait]
impl Provider for LogSender {
    fn name(&self) -> &'static str {
        "log"
    }

    fn channel(&self, _phone: Option<&str>) -> Result<&'static str, Unreachable> {
        Ok("log")
    }

    async fn send(&self, message: &Outgoing) -> Result<Accepted, SendError> {
        let phone = message.phone.as_deref().map(mask);
        tracing::info!(
            id = %message.id,
            recipient = %message.recipient,
            phone = phone.as_deref().unwrap_or("-"),
            template = message.template.code,
            text = %message.text(),
            "notification"
        );
        Ok(Accepted::default())
    }
}

/// `01012345678` as `010****5678`: enough to tell numbers apart in a log, not to call them.
pub fn mask(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}
