//! Fires due deadlines, from any number of replicas: each claims what it fires under a
//! lease ([`deadlines::claim_due`]), so a deadline fires once, and one claimed by a replica
//! that died fires on another once the lease runs out.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::AggregateError;
use eats_domain::delivery::{DeliveryCommand, DeliveryError, MAX_RADIUS_M};
use eats_domain::metadata::EventMetadata;
use eats_domain::order::{OrderCommand, OrderError};
use eats_domain::Actor;
use eats_store::{Aggregates, Database};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clock::Clock;
use crate::deadlines::{self, Deadline, Kind};

/// What firing a deadline did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fired {
    /// The overdue order was cancelled.
    Cancelled,
    /// The unanswered order was rejected (its refund follows).
    Rejected,
    /// The job's radius was widened to this.
    Widened(u32),
    /// The job is at the widest radius and still unclaimed: an operator must step in.
    Escalated,
    /// It no longer applied (paid, answered or claimed meanwhile).
    Moot,
}

/// How long a runner holds the deadlines it claimed unless told otherwise: far longer than
/// firing a batch takes, short enough that a dead replica's claims are soon picked up.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How many deadlines a runner claims at once.
const BATCH: i64 = 100;

/// Fires deadlines when the clock passes them.
pub struct DeadlineRunner {
    aggregates: Aggregates,
    db: Database,
    clock: Arc<dyn Clock>,
    tick: Duration,
    lease: deadlines::Lease,
}

impl DeadlineRunner {
    /// A runner over `db` reading time from `clock`, checking every `tick`.
    pub fn new(
        aggregates: Aggregates,
        db: Database,
        clock: Arc<dyn Clock>,
        tick: Duration,
    ) -> Self {
        Self {
            aggregates,
            db,
            clock,
            tick,
            lease: deadlines::Lease::new(Uuid::new_v4().to_string(), DEFAULT_LEASE),
        }
    }

    /// The same runner holding its claims for `lease` instead of [`DEFAULT_LEASE`].
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease.duration = lease;
        self
    }

    /// Claims what is due now and fires it; returns what each did. A deadline whose command
    /// fails for a passing reason is released and tried again on the next tick.
    pub async fn fire_due(&self) -> Result<Vec<(Deadline, Fired)>, sqlx::Error> {
        let due = deadlines::claim_due(&self.db, &self.lease, self.clock.now(), BATCH).await?;
        let mut fired = Vec::new();
        for deadline in due {
            match self.fire(&deadline).await {
                Ok(outcome) => {
                    deadlines::remove_fired(&self.db, &deadline).await?;
                    tracing::info!(kind = %deadline.kind, aggregate = %deadline.aggregate_id, ?outcome, "deadline fired");
                    metrics::counter!("eats_deadlines_fired_total", "kind" => deadline.kind.to_string()).increment(1);
                    fired.push((deadline, outcome));
                }
                Err(error) => {
                    tracing::warn!(kind = %deadline.kind, aggregate = %deadline.aggregate_id, %error, "deadline will be retried");
                    deadlines::release(&self.db, &self.lease, &deadline).await?;
                }
            }
        }
        Ok(fired)
    }

    async fn fire(&self, deadline: &Deadline) -> Result<Fired, String> {
        let correlation = deadline
            .aggregate_id
            .parse()
            .unwrap_or_else(|_| Uuid::new_v4());
        let meta =
            EventMetadata::for_command(correlation, Actor::System, self.clock.now()).to_map();
        let id = &deadline.aggregate_id;
        match deadline.kind {
            Kind::PaymentDue => {
                let result = self
                    .aggregates
                    .orders
                    .execute_with_metadata(
                        id,
                        OrderCommand::CancelOrder {
                            by: Actor::System,
                            reason: "not paid in time".into(),
                        },
                        meta,
                    )
                    .await;
                order_outcome(result, Fired::Cancelled)
            }
            Kind::StoreResponseDue => {
                let result = self
                    .aggregates
                    .orders
                    .execute_with_metadata(
                        id,
                        OrderCommand::RejectOrder {
                            by: Actor::System,
                            reason: "the store did not respond in time".into(),
                        },
                        meta,
                    )
                    .await;
                order_outcome(result, Fired::Rejected)
            }
            Kind::ClaimDue => {
                let current = deadline.payload.radius_m.unwrap_or(MAX_RADIUS_M);
                if current >= MAX_RADIUS_M {
                    metrics::counter!("eats_delivery_escalations_total").increment(1);
                    tracing::error!(delivery = %id, "no rider claimed the job at the widest radius; escalating");
                    return Ok(Fired::Escalated);
                }
                let widened = current.saturating_mul(2).min(MAX_RADIUS_M);
                let result = self
                    .aggregates
                    .deliveries
                    .execute_with_metadata(
                        id,
                        DeliveryCommand::WidenSearch { radius_m: widened },
                        meta,
                    )
                    .await;
                match result {
                    Ok(()) => Ok(Fired::Widened(widened)),
                    Err(AggregateError::UserError(
                        DeliveryError::AlreadyClaimed
                        | DeliveryError::DeliveryCancelled
                        | DeliveryError::AlreadyCompleted
                        | DeliveryError::InvalidRadius { .. },
                    )) => Ok(Fired::Moot),
                    Err(error) => Err(error.to_string()),
                }
            }
        }
    }

    /// Fires deadlines every tick until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.fire_due().await {
                tracing::warn!(%error, "reading deadlines failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(self.tick) => {}
            }
        }
    }
}

fn order_outcome(
    result: Result<(), AggregateError<OrderError>>,
    fired: Fired,
) -> Result<Fired, String> {
    match result {
        Ok(()) => Ok(fired),
        Err(AggregateError::UserError(
            OrderError::WrongStatus { .. }
            | OrderError::AlreadyCancelled
            | OrderError::AlreadyRejected
            | OrderError::AlreadyDelivered
            | OrderError::CookingAlreadyStarted
            | OrderError::NotPlaced,
        )) => Ok(Fired::Moot),
        Err(error) => Err(error.to_string()),
    }
}
