//! The built-in payment gateway: the embedded default, for demos and tests.
//!
//! It behaves like a real gateway where it matters: the same idempotency key always gets the
//! first answer (a retried charge never charges twice), it takes time, and it can be told to
//! fail a share of calls. A payment key starting with `decline` is declined, as a card
//! company would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use eats_domain::payment::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, PaymentGateway,
};

/// How the simulator behaves.
#[derive(Clone, Debug)]
pub struct SimulatorSettings {
    /// Time each call takes.
    pub latency: Duration,
    /// Share of calls (0 to 1) that fail as "unavailable", before any charge.
    pub failure_rate: f64,
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(30),
            failure_rate: 0.0,
        }
    }
}

/// An in-memory payment gateway.
#[derive(Debug, Default)]
pub struct SimulatedGateway {
    settings: SimulatorSettings,
    answers: Mutex<HashMap<String, GatewayVerdict>>,
    charges: AtomicU64,
    refunds: AtomicU64,
}

impl SimulatedGateway {
    /// A simulator with `settings`.
    pub fn new(settings: SimulatorSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// Distinct charges made (retries with a known key do not count).
    pub fn charges(&self) -> u64 {
        self.charges.load(Ordering::SeqCst)
    }

    /// Distinct refunds made.
    pub fn refunds(&self) -> u64 {
        self.refunds.load(Ordering::SeqCst)
    }

    async fn answer(
        &self,
        idempotency_key: &str,
        decide: impl FnOnce() -> GatewayVerdict,
        counter: &AtomicU64,
    ) -> Result<GatewayVerdict, GatewayError> {
        tokio::time::sleep(self.settings.latency).await;
        if let Some(known) = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(idempotency_key)
        {
            return Ok(known.clone());
        }
        if self.settings.failure_rate > 0.0 && fastrand::f64() < self.settings.failure_rate {
            return Err(GatewayError::Unavailable {
                retry_after_secs: 1,
            });
        }
        let verdict = decide();
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let stored = answers
            .entry(idempotency_key.to_string())
            .or_insert_with(|| {
                if verdict == GatewayVerdict::Approved {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                verdict
            });
        Ok(stored.clone())
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn confirm(&self, request: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
        let decline = request.payment_key.starts_with("decline");
        self.answer(
            &request.idempotency_key,
            || {
                if decline {
                    GatewayVerdict::Declined {
                        code: "REJECT_CARD_COMPANY".into(),
                        message: "카드사에서 승인을 거절했습니다".into(),
                    }
                } else {
                    GatewayVerdict::Approved
                }
            },
            &self.charges,
        )
        .await
    }

    async fn cancel(&self, request: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
        self.answer(
            &request.idempotency_key,
            || GatewayVerdict::Approved,
            &self.refunds,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use eats_domain::{OrderId, Won};

    use super::*;

    fn confirm(key: &str, payment_key: &str) -> ConfirmRequest {
        ConfirmRequest {
            payment_key: payment_key.into(),
            order_id: OrderId::new(),
            amount: Won(9_000),
            idempotency_key: key.into(),
        }
    }

    #[tokio::test]
    async fn the_same_idempotency_key_charges_once() {
        let gateway = SimulatedGateway::new(SimulatorSettings {
            latency: Duration::ZERO,
            failure_rate: 0.0,
        });
        for _ in 0..3 {
            let verdict = gateway.confirm(confirm("k1", "tgen_1")).await;
            assert_eq!(verdict, Ok(GatewayVerdict::Approved));
        }
        assert_eq!(gateway.charges(), 1);
        gateway
            .confirm(confirm("k2", "tgen_2"))
            .await
            .expect("second payment");
        assert_eq!(gateway.charges(), 2);
    }

    #[tokio::test]
    async fn decline_keys_are_declined_and_not_charged() {
        let gateway = SimulatedGateway::new(SimulatorSettings {
            latency: Duration::ZERO,
            failure_rate: 0.0,
        });
        let verdict = gateway
            .confirm(confirm("k", "decline-card"))
            .await
            .expect("answer");
        assert!(matches!(verdict, GatewayVerdict::Declined { .. }));
        assert_eq!(gateway.charges(), 0);
    }

    #[tokio::test]
    async fn a_failing_simulator_fails_before_charging() {
        let gateway = SimulatedGateway::new(SimulatorSettings {
            latency: Duration::ZERO,
            failure_rate: 1.0,
        });
        let result = gateway.confirm(confirm("k", "tgen")).await;
        assert_eq!(
            result,
            Err(GatewayError::Unavailable {
                retry_after_secs: 1
            })
        );
        assert_eq!(gateway.charges(), 0);
    }
}
