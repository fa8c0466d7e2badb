//! The Payment aggregate: one payment per order, confirmed and refunded through a gateway.
//!
//! The gateway is called from `handle` through [`PaymentServices`] with an idempotency key
//! derived from the payment id and the attempt number. Two racing pay commands load the same
//! attempt number, so the gateway sees one key and charges once; only one of them commits.
//! A gateway that is down or slow produces an error and no event: the order stays payable.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::Versioned;
use crate::ids::{CustomerId, OrderId, PaymentId};
use crate::money::Won;
use crate::text::{bounded, TextError};

/// Longest payment key the gateway hands out (Toss keys are 200 characters at most).
pub const MAX_PAYMENT_KEY_CHARS: usize = 200;

/// Asks the gateway to capture a payment the customer authorised in the checkout widget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// The gateway's key for the authorised payment.
    pub payment_key: String,
    /// Our order, which the gateway checks against what it authorised.
    pub order_id: OrderId,
    /// The amount, which the gateway checks against what it authorised.
    pub amount: Won,
    /// Same key, same answer: a retried call never charges twice.
    pub idempotency_key: String,
}

/// Asks the gateway to refund a captured payment in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The gateway's key for the captured payment.
    pub payment_key: String,
    /// Shown on the customer's statement.
    pub reason: String,
    /// Amount to refund.
    pub amount: Won,
    /// Same key, same answer: a retried refund never refunds twice.
    pub idempotency_key: String,
}

/// The gateway's business answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayVerdict {
    /// Captured (or refunded).
    Approved,
    /// Refused, e.g. insufficient funds; the customer may try another card.
    Declined {
        /// The gateway's error code.
        code: String,
        /// The gateway's message, fit for the customer.
        message: String,
    },
}

/// The gateway could not give an answer; nothing is recorded and the call may be retried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Overloaded or failing (e.g. circuit breaker open, 5xx): retry after this many seconds.
    #[error("payment gateway unavailable; retry in {retry_after_secs} s")]
    Unavailable {
        /// When to try again.
        retry_after_secs: u64,
    },
    /// No answer in time. The same idempotency key makes a retry safe.
    #[error("payment gateway timed out")]
    Timeout,
    /// The gateway answered something we do not understand.
    #[error("payment gateway protocol error: {0}")]
    Protocol(String),
}

/// A payment gateway such as Toss Payments, or the built-in simulator.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Captures an authorised payment.
    async fn confirm(&self, request: ConfirmRequest) -> Result<GatewayVerdict, GatewayError>;
    /// Refunds a captured payment.
    async fn cancel(&self, request: CancelRequest) -> Result<GatewayVerdict, GatewayError>;
}

/// What the Payment aggregate reaches outside itself for.
#[derive(Clone)]
pub struct PaymentServices {
    /// Charges and refunds.
    pub gateway: Arc<dyn PaymentGateway>,
}

/// Where a payment stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// No attempt yet.
    #[default]
    NotStarted,
    /// The last attempt was declined; the customer may try again.
    Declined,
    /// Captured.
    Approved,
    /// Refunded in full.
    Refunded,
}

/// A payment as its events have built it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    status: PaymentStatus,
    order_id: Option<OrderId>,
    customer: Option<CustomerId>,
    attempts: u32,
    amount: Won,
    payment_key: Option<String>,
    refund_attempts: u32,
}

impl Payment {
    /// Where the payment stands.
    pub fn status(&self) -> PaymentStatus {
        self.status
    }
}

/// What customers and process managers ask of a payment.
#[derive(Clone, Debug, PartialEq)]
pub enum PaymentCommand {
    /// The customer pays for an order.
    PayForOrder {
        /// This payment's id, `PaymentId::for_order(order_id)`.
        payment_id: PaymentId,
        /// The order.
        order_id: OrderId,
        /// The paying customer.
        customer: CustomerId,
        /// The order total, read from the order, never from the client.
        amount: Won,
        /// The gateway's key from the checkout widget.
        payment_key: String,
    },
    /// The order was cancelled or rejected after payment: give the money back.
    RefundPayment {
        /// Shown on the customer's statement.
        reason: String,
    },
}

/// Why a payment command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PaymentError {
    /// Captured already.
    #[error("order is already paid")]
    AlreadyPaid,
    /// Refunded already.
    #[error("payment is already refunded")]
    AlreadyRefunded,
    /// There is no captured payment to refund.
    #[error("there is no approved payment to refund")]
    NothingToRefund,
    /// Charges are positive.
    #[error("amount {0} must be positive")]
    InvalidAmount(Won),
    /// The payment key is blank or too long.
    #[error(transparent)]
    InvalidPaymentKey(#[from] TextError),
    /// Someone else's payment.
    #[error("this is not your payment")]
    NotYourPayment,
    /// The payment id does not belong to this order.
    #[error("payment {payment_id} does not belong to order {order_id}")]
    OrderMismatch {
        /// The payment.
        payment_id: PaymentId,
        /// The order.
        order_id: OrderId,
    },
    /// The gateway is overloaded or failing; nothing was charged.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// The gateway captured the payment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentApproved {
    /// The order paid for.
    pub order_id: OrderId,
    /// Who paid.
    pub customer_id: CustomerId,
    /// Amount captured.
    pub amount: Won,
    /// The gateway's key, needed to refund.
    pub payment_key: String,
    /// Which attempt succeeded, from 1.
    pub attempt: u32,
}

/// The gateway declined the attempt; the order stays payable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentDeclined {
    /// The order.
    pub order_id: OrderId,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The gateway's error code.
    pub code: String,
    /// The gateway's message.
    pub message: String,
}

/// The payment was refunded in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefunded {
    /// The order.
    pub order_id: OrderId,
    /// Amount refunded.
    pub amount: Won,
    /// Why.
    pub reason: String,
}

/// The gateway refused the refund; it stays owed and needs a retry or an operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefundFailed {
    /// The order.
    pub order_id: OrderId,
    /// Which refund attempt, from 1.
    pub attempt: u32,
    /// The gateway's error code.
    pub code: String,
    /// The gateway's message.
    pub message: String,
}

domain_events! {
    /// Everything that happens to a payment.
    pub enum PaymentEvent {
        PaymentApproved(PaymentApproved) = "1.0.0",
        PaymentDeclined(PaymentDeclined) = "1.0.0",
        PaymentRefunded(PaymentRefunded) = "1.0.0",
        PaymentRefundFailed(PaymentRefundFailed) = "1.0.0",
    }
}

impl Aggregate for Payment {
    const TYPE: &'static str = "Payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type Services = PaymentServices;

    async fn handle(
        &mut self,
        command: PaymentCommand,
        services: &PaymentServices,
        sink: &EventSink<Self>,
    ) -> Result<(), PaymentError> {
        match command {
            PaymentCommand::PayForOrder {
                payment_id,
                order_id,
                customer,
                amount,
                payment_key,
            } => {
                if payment_id != PaymentId::for_order(order_id) {
                    return Err(PaymentError::OrderMismatch {
                        payment_id,
                        order_id,
                    });
                }
                if self.customer.is_some_and(|c| c != customer) {
                    return Err(PaymentError::NotYourPayment);
                }
                match self.status {
                    PaymentStatus::NotStarted | PaymentStatus::Declined => {}
                    PaymentStatus::Approved => return Err(PaymentError::AlreadyPaid),
                    PaymentStatus::Refunded => return Err(PaymentError::AlreadyRefunded),
                }
                if !amount.is_positive() {
                    return Err(PaymentError::InvalidAmount(amount));
                }
                let payment_key = bounded("payment_key", &payment_key, MAX_PAYMENT_KEY_CHARS)?;
                let attempt = self.attempts + 1;
                let verdict = services
                    .gateway
                    .confirm(ConfirmRequest {
                        payment_key: payment_key.clone(),
                        order_id,
                        amount,
                        idempotency_key: format!("{payment_id}-pay-{attempt}"),
                    })
                    .await?;
                let event = match verdict {
                    GatewayVerdict::Approved => PaymentApproved {
                        order_id,
                        customer_id: customer,
                        amount,
                        payment_key,
                        attempt,
                    }
                    .into(),
                    GatewayVerdict::Declined { code, message } => PaymentDeclined {
                        order_id,
                        attempt,
                        code,
                        message,
                    }
                    .into(),
                };
                sink.write(event, self).await;
            }
            PaymentCommand::RefundPayment { reason } => {
                match self.status {
                    PaymentStatus::Approved => {}
                    PaymentStatus::Refunded => return Err(PaymentError::AlreadyRefunded),
                    PaymentStatus::NotStarted | PaymentStatus::Declined => {
                        return Err(PaymentError::NothingToRefund)
                    }
                }
                let (Some(order_id), Some(payment_key)) = (self.order_id, self.payment_key.clone())
                else {
                    return Err(PaymentError::NothingToRefund);
                };
                let reason = bounded("reason", &reason, crate::order::MAX_REASON_CHARS)?;
                let attempt = self.refund_attempts + 1;
                let verdict = services
                    .gateway
                    .cancel(CancelRequest {
                        payment_key,
                        reason: reason.clone(),
                        amount: self.amount,
                        idempotency_key: format!(
                            "{}-refund-{attempt}",
                            PaymentId::for_order(order_id)
                        ),
                    })
                    .await?;
                let event = match verdict {
                    GatewayVerdict::Approved => PaymentRefunded {
                        order_id,
                        amount: self.amount,
                        reason,
                    }
                    .into(),
                    GatewayVerdict::Declined { code, message } => PaymentRefundFailed {
                        order_id,
                        attempt,
                        code,
                        message,
                    }
                    .into(),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: PaymentEvent) {
        match event {
            PaymentEvent::PaymentApproved(e) => {
                self.status = PaymentStatus::Approved;
                self.order_id = Some(e.order_id);
                self.customer = Some(e.customer_id);
                self.attempts = e.attempt;
                self.amount = e.amount;
                self.payment_key = Some(e.payment_key);
            }
            PaymentEvent::PaymentDeclined(e) => {
                self.status = PaymentStatus::Declined;
                self.order_id = Some(e.order_id);
                self.attempts = e.attempt;
            }
            PaymentEvent::PaymentRefunded(_) => self.status = PaymentStatus::Refunded,
            PaymentEvent::PaymentRefundFailed(e) => self.refund_attempts = e.attempt,
        }
    }
}

impl Versioned for Payment {}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cqrs_es::test::TestFramework;

    use super::*;

    type PaymentTester = TestFramework<Payment>;

    /// A gateway that answers from a script and records what it was asked.
    #[derive(Default)]
    struct ScriptedGateway {
        answer: Option<Result<GatewayVerdict, GatewayError>>,
        confirms: Mutex<Vec<ConfirmRequest>>,
        cancels: Mutex<Vec<CancelRequest>>,
    }

    impl ScriptedGateway {
        fn answering(answer: Result<GatewayVerdict, GatewayError>) -> Arc<Self> {
            Arc::new(Self {
                answer: Some(answer),
                ..Default::default()
            })
        }
    }

    #[async_trait]
    impl PaymentGateway for ScriptedGateway {
        async fn confirm(&self, request: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
            self.confirms.lock().expect("lock").push(request);
            self.answer.clone().expect("scripted")
        }
        async fn cancel(&self, request: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
            self.cancels.lock().expect("lock").push(request);
            self.answer.clone().expect("scripted")
        }
    }

    fn order_id() -> OrderId {
        OrderId(uuid::Uuid::from_u128(1))
    }
    fn customer() -> CustomerId {
        CustomerId(uuid::Uuid::from_u128(0xc1))
    }
    fn pay() -> PaymentCommand {
        PaymentCommand::PayForOrder {
            payment_id: PaymentId::for_order(order_id()),
            order_id: order_id(),
            customer: customer(),
            amount: Won(14_000),
            payment_key: "tgen_20261126abc".into(),
        }
    }
    fn approved(attempt: u32) -> PaymentEvent {
        PaymentApproved {
            order_id: order_id(),
            customer_id: customer(),
            amount: Won(14_000),
            payment_key: "tgen_20261126abc".into(),
            attempt,
        }
        .into()
    }
    fn declined() -> PaymentEvent {
        PaymentDeclined {
            order_id: order_id(),
            attempt: 1,
            code: "REJECT_CARD_COMPANY".into(),
            message: "카드사 승인 거절".into(),
        }
        .into()
    }
    fn refund() -> PaymentCommand {
        PaymentCommand::RefundPayment {
            reason: "order cancelled".into(),
        }
    }
    fn services(gateway: Arc<ScriptedGateway>) -> PaymentServices {
        PaymentServices { gateway }
    }

    #[tokio::test]
    async fn an_approved_payment_is_recorded_with_an_idempotency_key_per_attempt() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        PaymentTester::with(services(gateway.clone()))
            .given_no_previous_events()
            .when_async(pay())
            .await
            .then_expect_events(vec![approved(1)]);
        let sent = gateway.confirms.lock().expect("lock").clone();
        assert_eq!(
            sent,
            vec![ConfirmRequest {
                payment_key: "tgen_20261126abc".into(),
                order_id: order_id(),
                amount: Won(14_000),
                idempotency_key: format!("{}-pay-1", PaymentId::for_order(order_id())),
            }]
        );
    }

    #[tokio::test]
    async fn a_declined_payment_may_be_retried_as_a_new_attempt() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Declined {
            code: "REJECT_CARD_COMPANY".into(),
            message: "카드사 승인 거절".into(),
        }));
        PaymentTester::with(services(gateway))
            .given_no_previous_events()
            .when_async(pay())
            .await
            .then_expect_events(vec![declined()]);
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        PaymentTester::with(services(gateway.clone()))
            .given(vec![declined()])
            .when_async(pay())
            .await
            .then_expect_events(vec![approved(2)]);
        assert!(gateway.confirms.lock().expect("lock")[0]
            .idempotency_key
            .ends_with("-pay-2"));
    }

    #[tokio::test]
    async fn paying_twice_is_refused_without_calling_the_gateway() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        PaymentTester::with(services(gateway.clone()))
            .given(vec![approved(1)])
            .when_async(pay())
            .await
            .then_expect_error(PaymentError::AlreadyPaid);
        assert!(gateway.confirms.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn an_unavailable_gateway_records_nothing_and_says_when_to_retry() {
        let gateway = ScriptedGateway::answering(Err(GatewayError::Unavailable {
            retry_after_secs: 30,
        }));
        PaymentTester::with(services(gateway))
            .given_no_previous_events()
            .when_async(pay())
            .await
            .then_expect_error(PaymentError::Gateway(GatewayError::Unavailable {
                retry_after_secs: 30,
            }));
    }

    #[tokio::test]
    async fn zero_amounts_blank_keys_and_foreign_payment_ids_are_refused() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        let mut zero = pay();
        if let PaymentCommand::PayForOrder { amount, .. } = &mut zero {
            *amount = Won(0);
        }
        PaymentTester::with(services(gateway.clone()))
            .given_no_previous_events()
            .when_async(zero)
            .await
            .then_expect_error(PaymentError::InvalidAmount(Won(0)));
        let mut blank = pay();
        if let PaymentCommand::PayForOrder { payment_key, .. } = &mut blank {
            *payment_key = " ".into();
        }
        PaymentTester::with(services(gateway.clone()))
            .given_no_previous_events()
            .when_async(blank)
            .await
            .then_expect_error(PaymentError::InvalidPaymentKey(TextError::Empty {
                field: "payment_key",
            }));
        let foreign = PaymentId::new();
        let mut mismatched = pay();
        if let PaymentCommand::PayForOrder { payment_id, .. } = &mut mismatched {
            *payment_id = foreign;
        }
        PaymentTester::with(services(gateway.clone()))
            .given_no_previous_events()
            .when_async(mismatched)
            .await
            .then_expect_error(PaymentError::OrderMismatch {
                payment_id: foreign,
                order_id: order_id(),
            });
        assert!(gateway.confirms.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn another_customer_cannot_retry_someone_elses_payment() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        let mut other = pay();
        if let PaymentCommand::PayForOrder { customer, .. } = &mut other {
            *customer = CustomerId::new();
        }
        let approved_once = PaymentApproved {
            order_id: order_id(),
            customer_id: customer(),
            amount: Won(14_000),
            payment_key: "k".into(),
            attempt: 1,
        };
        PaymentTester::with(services(gateway))
            .given(vec![approved_once.into()])
            .when_async(other)
            .await
            .then_expect_error(PaymentError::NotYourPayment);
    }

    #[tokio::test]
    async fn an_approved_payment_is_refunded_in_full_once() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        let refunded: PaymentEvent = PaymentRefunded {
            order_id: order_id(),
            amount: Won(14_000),
            reason: "order cancelled".into(),
        }
        .into();
        PaymentTester::with(services(gateway.clone()))
            .given(vec![approved(1)])
            .when_async(refund())
            .await
            .then_expect_events(vec![refunded.clone()]);
        let sent = gateway.cancels.lock().expect("lock").clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].amount, Won(14_000));
        assert_eq!(sent[0].payment_key, "tgen_20261126abc");
        PaymentTester::with(services(gateway))
            .given(vec![approved(1), refunded])
            .when_async(refund())
            .await
            .then_expect_error(PaymentError::AlreadyRefunded);
    }

    #[tokio::test]
    async fn refunding_what_was_never_captured_is_refused() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        for given in [vec![], vec![declined()]] {
            PaymentTester::with(services(gateway.clone()))
                .given(given)
                .when_async(refund())
                .await
                .then_expect_error(PaymentError::NothingToRefund);
        }
    }

    #[tokio::test]
    async fn a_refused_refund_is_recorded_and_can_be_retried_with_a_new_key() {
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Declined {
            code: "NOT_CANCELABLE".into(),
            message: "취소할 수 없는 결제".into(),
        }));
        let failed: PaymentEvent = PaymentRefundFailed {
            order_id: order_id(),
            attempt: 1,
            code: "NOT_CANCELABLE".into(),
            message: "취소할 수 없는 결제".into(),
        }
        .into();
        PaymentTester::with(services(gateway))
            .given(vec![approved(1)])
            .when_async(refund())
            .await
            .then_expect_events(vec![failed.clone()]);
        let gateway = ScriptedGateway::answering(Ok(GatewayVerdict::Approved));
        PaymentTester::with(services(gateway.clone()))
            .given(vec![approved(1), failed])
            .when_async(refund())
            .await
            .inspect_result()
            .expect("second refund attempt");
        assert!(gateway.cancels.lock().expect("lock")[0]
            .idempotency_key
            .ends_with("-refund-2"));
    }
}
