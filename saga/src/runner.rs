//! The process manager: executes the follow-ups of every committed event, idempotently,
//! retrying what may pass and parking what keeps failing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_es::Aggregate;
use cqrs_es::{AggregateError, EventStore};
use eats_domain::customer::{CustomerCommand, CustomerError};
use eats_domain::delivery::{Delivery, DeliveryCommand, DeliveryError};
use eats_domain::metadata::EventMetadata;
use eats_domain::order::{Order, OrderCommand, OrderError, OrderEvent, OrderStatus};
use eats_domain::payment::{Payment, PaymentCommand, PaymentError};
use eats_domain::{Actor, DeliveryId, OrderId};
use eats_feed::{DecodeError, EventHandler, FeedEvent, HandlerError};
use eats_store::{Aggregates, Database};
use tracing::Instrument;
use uuid::Uuid;

use crate::choreography::{follow_ups, Committed, FollowUp};
use crate::dead_letters;
use crate::deadlines::{self, DeadlineSettings};

/// Namespace of the correlation id made up for an event that carries none.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_2f0e_8a4b_4c6e_9f1d_7a3b_0c2e_2001);

/// A stable id for a stored event: see [`FeedEvent::event_id`].
pub fn event_id(event: &FeedEvent) -> Uuid {
    event.event_id()
}

/// How the process manager behaves.
#[derive(Clone, Debug)]
pub struct SagaSettings {
    /// Attempts per follow-up before it is parked as a dead letter.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub first_backoff: Duration,
    /// Radius a new delivery job opens with.
    pub delivery_radius_m: u32,
    /// Deadlines.
    pub deadlines: DeadlineSettings,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_backoff: Duration::from_millis(100),
            delivery_radius_m: 2_000,
            deadlines: DeadlineSettings::default(),
        }
    }
}

/// Why one attempt at a follow-up failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    /// May pass on retry: a lost concurrency race, a database or gateway hiccup.
    #[error("transient: {0}")]
    Transient(String),
    /// Will not pass by retrying; needs an operator.
    #[error("permanent: {0}")]
    Permanent(String),
}

fn classify<E: std::error::Error>(
    result: Result<(), AggregateError<E>>,
    already_done: impl Fn(&E) -> bool,
    transient: impl Fn(&E) -> bool,
) -> Result<(), FollowUpError> {
    match result {
        Ok(()) => Ok(()),
        Err(AggregateError::UserError(e)) if already_done(&e) => Ok(()),
        Err(AggregateError::UserError(e)) if transient(&e) => {
            Err(FollowUpError::Transient(e.to_string()))
        }
        Err(AggregateError::UserError(e)) => Err(FollowUpError::Permanent(e.to_string())),
        Err(AggregateError::AggregateConflict) => {
            Err(FollowUpError::Transient("concurrent modification".into()))
        }
        Err(AggregateError::DatabaseConnectionError(e)) => {
            Err(FollowUpError::Transient(e.to_string()))
        }
        Err(e) => Err(FollowUpError::Permanent(e.to_string())),
    }
}

/// Reacts to committed events: the saga consumer of the event feed.
#[derive(Clone)]
pub struct ProcessManager {
    aggregates: Aggregates,
    db: Database,
    settings: SagaSettings,
}

impl ProcessManager {
    /// The consumer name (durable consumer and checkpoint).
    pub const NAME: &'static str = "process_manager";

    /// Events in flight at once (see [`EventHandler::concurrency`]): enough for a burst of a
    /// thousand refunds on a slow gateway to overlap instead of queueing.
    pub const CONCURRENCY: usize = 2048;

    /// A process manager issuing commands through `aggregates` on `db`.
    pub fn new(aggregates: Aggregates, db: Database, settings: SagaSettings) -> Self {
        Self {
            aggregates,
            db,
            settings,
        }
    }

    fn metadata(event: &FeedEvent) -> std::collections::HashMap<String, String> {
        let correlation = event
            .correlation_id()
            .parse()
            .unwrap_or_else(|_| Uuid::new_v5(&EVENT_ID_NAMESPACE, event.aggregate_id.as_bytes()));
        // The commands continue the trace under this consumer's span, not the request's.
        EventMetadata::for_command(correlation, Actor::System, chrono::Utc::now())
            .caused_by(event_id(event))
            .with_traceparent(event.trace(Self::NAME))
            .to_map()
    }

    fn committed(event: &FeedEvent) -> Result<Vec<FollowUp>, DecodeError> {
        Ok(match event.aggregate_type.as_str() {
            "Order" => {
                let order_id: OrderId =
                    event
                        .aggregate_id
                        .parse()
                        .map_err(|_| DecodeError::AggregateId {
                            aggregate_type: event.aggregate_type.clone(),
                            aggregate_id: event.aggregate_id.clone(),
                        })?;
                follow_ups(Committed::Order(order_id, &event.decode::<Order>()?))
            }
            "Payment" => follow_ups(Committed::Payment(&event.decode::<Payment>()?)),
            "Delivery" => follow_ups(Committed::Delivery(&event.decode::<Delivery>()?)),
            _ => vec![],
        })
    }

    /// Executes one follow-up once.
    pub async fn execute(
        &self,
        follow_up: &FollowUp,
        cause: &FeedEvent,
    ) -> Result<(), FollowUpError> {
        let meta = Self::metadata(cause);
        let a = &self.aggregates;
        match follow_up {
            FollowUp::RecordPayment {
                order_id,
                payment_id,
                amount,
            } => {
                let result = a
                    .orders
                    .execute_with_metadata(
                        &order_id.to_string(),
                        OrderCommand::RecordPayment {
                            payment_id: *payment_id,
                            amount: *amount,
                        },
                        meta,
                    )
                    .await;
                // Paid after the order was cancelled (e.g. by the unpaid deadline): give it back.
                if let Err(AggregateError::UserError(OrderError::WrongStatus { actual, .. })) =
                    &result
                {
                    if matches!(actual, OrderStatus::Cancelled | OrderStatus::Rejected) {
                        let refund = FollowUp::Refund {
                            payment_id: *payment_id,
                            reason: "the order was cancelled before the payment completed".into(),
                        };
                        return Box::pin(self.execute(&refund, cause)).await;
                    }
                }
                classify(result, |e| matches!(e, OrderError::AlreadyPaid), |_| false)
            }
            FollowUp::Refund { payment_id, reason } => {
                classify(
                    a.payments
                        .execute_with_metadata(
                            &payment_id.to_string(),
                            PaymentCommand::RefundPayment {
                                reason: reason.clone(),
                            },
                            meta,
                        )
                        .await,
                    |e| matches!(e, PaymentError::AlreadyRefunded),
                    |e| matches!(e, PaymentError::Gateway(_)),
                )?;
                // A refund the gateway refused is recorded (PaymentRefundFailed) but the money
                // is still owed: retry with a new attempt, and park it for an operator if the
                // gateway keeps refusing.
                let status = self
                    .db
                    .event_store::<Payment>()
                    .load_aggregate(&payment_id.to_string())
                    .await
                    .map_err(|e| FollowUpError::Transient(e.to_string()))?
                    .aggregate
                    .status();
                if status == eats_domain::payment::PaymentStatus::Refunded {
                    Ok(())
                } else {
                    Err(FollowUpError::Transient(format!(
                        "the gateway refused the refund of payment {payment_id}"
                    )))
                }
            }
            FollowUp::OpenDeliveryJob { order_id } => self.open_delivery_job(*order_id, meta).await,
            FollowUp::RecordPickup { order_id, rider_id } => classify(
                a.orders
                    .execute_with_metadata(
                        &order_id.to_string(),
                        OrderCommand::RecordPickup { rider: *rider_id },
                        meta,
                    )
                    .await,
                |e| {
                    matches!(
                        e,
                        OrderError::WrongStatus {
                            actual: OrderStatus::InDelivery | OrderStatus::Delivered,
                            ..
                        }
                    )
                },
                |_| false,
            ),
            FollowUp::CompleteDelivery { delivery_id } => classify(
                a.deliveries
                    .execute_with_metadata(
                        &delivery_id.to_string(),
                        DeliveryCommand::CompleteDelivery,
                        meta,
                    )
                    .await,
                |e| matches!(e, DeliveryError::AlreadyCompleted),
                |_| false,
            ),
            FollowUp::RecordCompletedOrder {
                customer_id,
                order_id,
            } => classify(
                a.customers
                    .execute_with_metadata(
                        &customer_id.to_string(),
                        CustomerCommand::RecordCompletedOrder {
                            order_id: *order_id,
                        },
                        meta,
                    )
                    .await,
                |e| matches!(e, CustomerError::OrderAlreadyRecorded(_)),
                |_| false,
            ),
        }
    }

    async fn open_delivery_job(
        &self,
        order_id: OrderId,
        meta: std::collections::HashMap<String, String>,
    ) -> Result<(), FollowUpError> {
        let first = self
            .db
            .first_event(Order::TYPE, &order_id.to_string())
            .await
            .map_err(|e| FollowUpError::Transient(e.to_string()))?;
        let placed = first
            .and_then(|stored| FeedEvent::from_serialized(stored).ok())
            .and_then(|event| match event.decode::<Order>() {
                Ok(OrderEvent::OrderPlaced(placed)) => Some(placed),
                _ => None,
            })
            .ok_or_else(|| {
                FollowUpError::Permanent(format!("order {order_id} has no OrderPlaced"))
            })?;
        let delivery_id = DeliveryId::for_order(order_id);
        classify(
            self.aggregates
                .deliveries
                .execute_with_metadata(
                    &delivery_id.to_string(),
                    DeliveryCommand::RequestDelivery {
                        delivery_id,
                        order_id,
                        store_id: placed.store_id,
                        customer_id: placed.customer_id,
                        pickup: placed.pickup,
                        dropoff: placed.deliver_to.location,
                        radius_m: self.settings.delivery_radius_m,
                    },
                    meta,
                )
                .await,
            |e| matches!(e, DeliveryError::AlreadyRequested),
            |_| false,
        )
    }

    /// Runs the follow-ups of `event` with retries; returns the first that gave up, with
    /// its attempts.
    async fn run(&self, event: &FeedEvent) -> Result<(), (FollowUpError, u32)> {
        let follow_ups =
            Self::committed(event).map_err(|e| (FollowUpError::Permanent(e.to_string()), 1))?;
        for follow_up in &follow_ups {
            let mut backoff = self.settings.first_backoff;
            let mut attempt = 1;
            loop {
                match self.execute(follow_up, event).await {
                    Ok(()) => break,
                    Err(FollowUpError::Transient(reason))
                        if attempt < self.settings.max_attempts =>
                    {
                        tracing::debug!(event = %event.key(), ?follow_up, %reason, attempt, "retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        attempt += 1;
                    }
                    Err(error) => return Err((error, attempt)),
                }
            }
        }
        Ok(())
    }

    /// The same process manager, but reporting failures instead of parking them: for
    /// replaying dead letters.
    pub fn strict(&self) -> Strict {
        Strict(Arc::new(self.clone()))
    }
}

#[async_trait]
impl EventHandler for ProcessManager {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn aggregate_types(&self) -> &[&'static str] {
        &["Order", "Payment", "Delivery"]
    }

    /// Orders at once: a refund waiting on the gateway must not hold up another order's
    /// "paid". Bounded so a burst cannot take unbounded memory or connections.
    fn concurrency(&self) -> usize {
        Self::CONCURRENCY
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        async {
            let changes = deadlines::changes(event, &self.settings.deadlines)
                .map_err(|e| HandlerError::new(Self::NAME, event, e))?;
            deadlines::apply(&self.db, &changes)
                .await
                .map_err(|e| HandlerError::new(Self::NAME, event, e))?;
            if let Err((error, attempts)) = self.run(event).await {
                // Park it and go on: the messages behind it (other orders) must not wait.
                dead_letters::park(&self.db, Self::NAME, event, &error.to_string(), attempts)
                    .await
                    .map_err(|e| HandlerError::new(Self::NAME, event, e))?;
            } else {
                tracing::debug!("handled");
            }
            Ok(())
        }
        .instrument(event.span(Self::NAME))
        .await
    }
}

/// A process manager that reports failures to its caller instead of parking them.
#[derive(Clone)]
pub struct Strict(Arc<ProcessManager>);

#[async_trait]
impl EventHandler for Strict {
    fn name(&self) -> &str {
        ProcessManager::NAME
    }

    fn aggregate_types(&self) -> &[&'static str] {
        self.0.aggregate_types()
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.0
            .run(event)
            .instrument(event.span(ProcessManager::NAME))
            .await
            .map_err(|(error, _)| HandlerError::new(ProcessManager::NAME, event, error))
    }
}
