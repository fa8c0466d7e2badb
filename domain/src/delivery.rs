//! The Delivery aggregate: the job riders near the store claim, pick up and complete.
//!
//! The first claim wins: a second claim is refused, and two claims racing on the same
//! version are settled by the event store's optimistic concurrency (one commits, one gets a
//! conflict). A rider claims only from within the job's search radius, which the no-claim
//! deadline widens.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::Versioned;
use crate::geo::{GeoError, GeoPoint};
use crate::ids::{CustomerId, DeliveryId, OrderId, RiderId, StoreId};
use crate::text::{bounded, TextError};

/// Widest search radius, in metres: past this the job escalates to an operator instead.
pub const MAX_RADIUS_M: u32 = 20_000;

/// Where a delivery job stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// No job yet.
    #[default]
    NotRequested,
    /// Open to riders within the radius.
    Open,
    /// A rider claimed it.
    Assigned,
    /// The rider has the food.
    PickedUp,
    /// Delivered.
    Completed,
    /// Called off (e.g. the order was cancelled before pickup).
    Cancelled,
}

/// A delivery job as its events have built it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    status: DeliveryStatus,
    order_id: Option<OrderId>,
    pickup: GeoPoint,
    radius_m: u32,
    rider: Option<RiderId>,
}

impl Delivery {
    /// Where the job stands.
    pub fn status(&self) -> DeliveryStatus {
        self.status
    }
}

/// What process managers and riders ask of a delivery job.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryCommand {
    /// Cooking finished: open a job for riders near the store.
    RequestDelivery {
        /// `DeliveryId::for_order(order_id)`.
        delivery_id: DeliveryId,
        /// The order.
        order_id: OrderId,
        /// The store.
        store_id: StoreId,
        /// The customer.
        customer_id: CustomerId,
        /// The store's location.
        pickup: GeoPoint,
        /// The customer's location.
        dropoff: GeoPoint,
        /// Initial search radius in metres.
        radius_m: u32,
    },
    /// A rider takes the job.
    ClaimDelivery {
        /// The rider.
        rider: RiderId,
        /// Where the rider is now.
        rider_at: GeoPoint,
    },
    /// The assigned rider has the food.
    PickUpDelivery {
        /// The rider.
        rider: RiderId,
    },
    /// The customer confirmed receipt (issued by the process manager).
    CompleteDelivery,
    /// The job is called off before pickup.
    CancelDelivery {
        /// Why.
        reason: String,
    },
    /// Nobody claimed in time: look further away.
    WidenSearch {
        /// New radius in metres, larger than the current one.
        radius_m: u32,
    },
}

/// Why a delivery command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Requested already.
    #[error("delivery is already requested")]
    AlreadyRequested,
    /// No job yet.
    #[error("delivery was not requested")]
    NotRequested,
    /// The delivery id does not belong to this order.
    #[error("delivery {delivery_id} does not belong to order {order_id}")]
    OrderMismatch {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The order.
        order_id: OrderId,
    },
    /// Someone was faster.
    #[error("delivery is already claimed")]
    AlreadyClaimed,
    /// The rider is outside the current search radius.
    #[error("rider is {distance_m} m away; the job is open within {radius_m} m")]
    RiderTooFar {
        /// How far the rider is.
        distance_m: u32,
        /// The current radius.
        radius_m: u32,
    },
    /// Only the assigned rider picks up.
    #[error("this delivery is assigned to another rider")]
    NotAssignedRider,
    /// Nobody claimed it yet.
    #[error("delivery has not been claimed")]
    NotClaimed,
    /// Picked up already.
    #[error("delivery is already picked up")]
    AlreadyPickedUp,
    /// Completing needs the food picked up.
    #[error("delivery has not been picked up")]
    NotPickedUp,
    /// Completed already.
    #[error("delivery is already completed")]
    AlreadyCompleted,
    /// Called off.
    #[error("delivery was cancelled")]
    DeliveryCancelled,
    /// Radii are 1 m to [`MAX_RADIUS_M`] and only grow.
    #[error("radius {radius_m} m must be above {current_m} m and at most {max} m", max = MAX_RADIUS_M)]
    InvalidRadius {
        /// The requested radius.
        radius_m: u32,
        /// The current radius (0 when requesting).
        current_m: u32,
    },
    /// A location is not on earth.
    #[error(transparent)]
    InvalidLocation(#[from] GeoError),
    /// A reason is unusable.
    #[error(transparent)]
    InvalidText(#[from] TextError),
}

/// A job opened for riders near the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryRequested {
    /// The order.
    pub order_id: OrderId,
    /// The store.
    pub store_id: StoreId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Where to pick up.
    pub pickup: GeoPoint,
    /// Where to drop off.
    pub dropoff: GeoPoint,
    /// Riders within this many metres of the pickup see the job.
    pub radius_m: u32,
}

/// A rider claimed the job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RiderAssigned {
    /// The order.
    pub order_id: OrderId,
    /// The rider.
    pub rider_id: RiderId,
    /// How far the rider was from the pickup when claiming.
    pub distance_m: u32,
}

/// The rider has the food.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryPickedUp {
    /// The order.
    pub order_id: OrderId,
    /// The rider.
    pub rider_id: RiderId,
}

/// The food reached the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryCompleted {
    /// The order.
    pub order_id: OrderId,
    /// The rider.
    pub rider_id: RiderId,
}

/// The job was called off before pickup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryCancelled {
    /// The order.
    pub order_id: OrderId,
    /// Why.
    pub reason: String,
}

/// Nobody claimed in time; the job is shown further away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchRadiusWidened {
    /// The order.
    pub order_id: OrderId,
    /// The new radius in metres.
    pub radius_m: u32,
}

domain_events! {
    /// Everything that happens to a delivery job.
    pub enum DeliveryEvent {
        DeliveryRequested(DeliveryRequested) = "1.0.0",
        RiderAssigned(RiderAssigned) = "1.0.0",
        DeliveryPickedUp(DeliveryPickedUp) = "1.0.0",
        DeliveryCompleted(DeliveryCompleted) = "1.0.0",
        DeliveryCancelled(DeliveryCancelled) = "1.0.0",
        SearchRadiusWidened(SearchRadiusWidened) = "1.0.0",
    }
}

impl Delivery {
    /// The order, or why there is nothing to act on.
    fn active(&self) -> Result<OrderId, DeliveryError> {
        let order_id = self.order_id.ok_or(DeliveryError::NotRequested)?;
        match self.status {
            DeliveryStatus::Completed => Err(DeliveryError::AlreadyCompleted),
            DeliveryStatus::Cancelled => Err(DeliveryError::DeliveryCancelled),
            _ => Ok(order_id),
        }
    }
}

impl Aggregate for Delivery {
    const TYPE: &'static str = "Delivery";
    type Command = DeliveryCommand;
    type Event = DeliveryEvent;
    type Error = DeliveryError;
    type Services = ();

    async fn handle(
        &mut self,
        command: DeliveryCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), DeliveryError> {
        match command {
            DeliveryCommand::RequestDelivery {
                delivery_id,
                order_id,
                store_id,
                customer_id,
                pickup,
                dropoff,
                radius_m,
            } => {
                if self.status != DeliveryStatus::NotRequested {
                    return Err(DeliveryError::AlreadyRequested);
                }
                if delivery_id != DeliveryId::for_order(order_id) {
                    return Err(DeliveryError::OrderMismatch {
                        delivery_id,
                        order_id,
                    });
                }
                if radius_m == 0 || radius_m > MAX_RADIUS_M {
                    return Err(DeliveryError::InvalidRadius {
                        radius_m,
                        current_m: 0,
                    });
                }
                let event = DeliveryRequested {
                    order_id,
                    store_id,
                    customer_id,
                    pickup: pickup.validated()?,
                    dropoff: dropoff.validated()?,
                    radius_m,
                };
                sink.write(event.into(), self).await;
            }
            DeliveryCommand::ClaimDelivery { rider, rider_at } => {
                let order_id = self.active()?;
                if self.status != DeliveryStatus::Open {
                    return Err(DeliveryError::AlreadyClaimed);
                }
                let distance = self.pickup.distance_m(&rider_at.validated()?);
                // Saturating float-to-int cast: distances beyond u32 are far out of radius anyway.
                let distance_m = distance.ceil() as u32;
                if distance_m > self.radius_m {
                    return Err(DeliveryError::RiderTooFar {
                        distance_m,
                        radius_m: self.radius_m,
                    });
                }
                let event = RiderAssigned {
                    order_id,
                    rider_id: rider,
                    distance_m,
                };
                sink.write(event.into(), self).await;
            }
            DeliveryCommand::PickUpDelivery { rider } => {
                let order_id = self.active()?;
                match self.status {
                    DeliveryStatus::Open => return Err(DeliveryError::NotClaimed),
                    DeliveryStatus::PickedUp => return Err(DeliveryError::AlreadyPickedUp),
                    _ => {}
                }
                if self.rider != Some(rider) {
                    return Err(DeliveryError::NotAssignedRider);
                }
                let event = DeliveryPickedUp {
                    order_id,
                    rider_id: rider,
                };
                sink.write(event.into(), self).await;
            }
            DeliveryCommand::CompleteDelivery => {
                let order_id = self.active()?;
                let (DeliveryStatus::PickedUp, Some(rider_id)) = (self.status, self.rider) else {
                    return Err(DeliveryError::NotPickedUp);
                };
                sink.write(DeliveryCompleted { order_id, rider_id }.into(), self)
                    .await;
            }
            DeliveryCommand::CancelDelivery { reason } => {
                let order_id = self.active()?;
                if self.status == DeliveryStatus::PickedUp {
                    return Err(DeliveryError::AlreadyPickedUp);
                }
                let event = DeliveryCancelled {
                    order_id,
                    reason: bounded("reason", &reason, crate::order::MAX_REASON_CHARS)?,
                };
                sink.write(event.into(), self).await;
            }
            DeliveryCommand::WidenSearch { radius_m } => {
                let order_id = self.active()?;
                if self.status != DeliveryStatus::Open {
                    return Err(DeliveryError::AlreadyClaimed);
                }
                if radius_m <= self.radius_m || radius_m > MAX_RADIUS_M {
                    return Err(DeliveryError::InvalidRadius {
                        radius_m,
                        current_m: self.radius_m,
                    });
                }
                sink.write(SearchRadiusWidened { order_id, radius_m }.into(), self)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: DeliveryEvent) {
        match event {
            DeliveryEvent::DeliveryRequested(e) => {
                self.status = DeliveryStatus::Open;
                self.order_id = Some(e.order_id);
                self.pickup = e.pickup;
                self.radius_m = e.radius_m;
            }
            DeliveryEvent::RiderAssigned(e) => {
                self.status = DeliveryStatus::Assigned;
                self.rider = Some(e.rider_id);
            }
            DeliveryEvent::DeliveryPickedUp(_) => self.status = DeliveryStatus::PickedUp,
            DeliveryEvent::DeliveryCompleted(_) => self.status = DeliveryStatus::Completed,
            DeliveryEvent::DeliveryCancelled(_) => self.status = DeliveryStatus::Cancelled,
            DeliveryEvent::SearchRadiusWidened(e) => self.radius_m = e.radius_m,
        }
    }
}

impl Versioned for Delivery {}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type DeliveryTester = TestFramework<Delivery>;

    fn order_id() -> OrderId {
        OrderId(uuid::Uuid::from_u128(1))
    }
    fn rider() -> RiderId {
        RiderId(uuid::Uuid::from_u128(0x7d))
    }
    fn store() -> GeoPoint {
        GeoPoint::new(37.5665, 126.9780).expect("valid")
    }
    /// About 550 m east of the store.
    fn nearby() -> GeoPoint {
        GeoPoint::new(37.5665, 126.9842).expect("valid")
    }
    /// About 8.8 km away, in Gangnam.
    fn far_away() -> GeoPoint {
        GeoPoint::new(37.4979, 127.0276).expect("valid")
    }
    fn request() -> DeliveryCommand {
        DeliveryCommand::RequestDelivery {
            delivery_id: DeliveryId::for_order(order_id()),
            order_id: order_id(),
            store_id: StoreId(uuid::Uuid::from_u128(0x5a)),
            customer_id: CustomerId(uuid::Uuid::from_u128(0xc1)),
            pickup: store(),
            dropoff: GeoPoint::new(37.5660, 126.9910).expect("valid"),
            radius_m: 2_000,
        }
    }
    fn requested() -> DeliveryEvent {
        DeliveryRequested {
            order_id: order_id(),
            store_id: StoreId(uuid::Uuid::from_u128(0x5a)),
            customer_id: CustomerId(uuid::Uuid::from_u128(0xc1)),
            pickup: store(),
            dropoff: GeoPoint::new(37.5660, 126.9910).expect("valid"),
            radius_m: 2_000,
        }
        .into()
    }
    fn assigned() -> DeliveryEvent {
        RiderAssigned {
            order_id: order_id(),
            rider_id: rider(),
            distance_m: 547,
        }
        .into()
    }
    fn picked_up() -> DeliveryEvent {
        DeliveryPickedUp {
            order_id: order_id(),
            rider_id: rider(),
        }
        .into()
    }
    fn completed() -> DeliveryEvent {
        DeliveryCompleted {
            order_id: order_id(),
            rider_id: rider(),
        }
        .into()
    }
    fn cancelled() -> DeliveryEvent {
        DeliveryCancelled {
            order_id: order_id(),
            reason: "order cancelled".into(),
        }
        .into()
    }
    fn claim(rider: RiderId, at: GeoPoint) -> DeliveryCommand {
        DeliveryCommand::ClaimDelivery {
            rider,
            rider_at: at,
        }
    }

    #[tokio::test]
    async fn cooking_finished_opens_a_job_near_the_store() {
        DeliveryTester::with(())
            .given_no_previous_events()
            .when_async(request())
            .await
            .then_expect_events(vec![requested()]);
        DeliveryTester::with(())
            .given(vec![requested()])
            .when_async(request())
            .await
            .then_expect_error(DeliveryError::AlreadyRequested);
    }

    #[tokio::test]
    async fn a_job_for_another_orders_id_or_with_a_silly_radius_is_refused() {
        let mut wrong_id = request();
        let foreign = DeliveryId::new();
        if let DeliveryCommand::RequestDelivery { delivery_id, .. } = &mut wrong_id {
            *delivery_id = foreign;
        }
        DeliveryTester::with(())
            .given_no_previous_events()
            .when_async(wrong_id)
            .await
            .then_expect_error(DeliveryError::OrderMismatch {
                delivery_id: foreign,
                order_id: order_id(),
            });
        for bad in [0, MAX_RADIUS_M + 1] {
            let mut command = request();
            if let DeliveryCommand::RequestDelivery { radius_m, .. } = &mut command {
                *radius_m = bad;
            }
            DeliveryTester::with(())
                .given_no_previous_events()
                .when_async(command)
                .await
                .then_expect_error(DeliveryError::InvalidRadius {
                    radius_m: bad,
                    current_m: 0,
                });
        }
    }

    #[tokio::test]
    async fn a_nearby_rider_claims_an_open_job() {
        DeliveryTester::with(())
            .given(vec![requested()])
            .when_async(claim(rider(), nearby()))
            .await
            .then_expect_events(vec![assigned()]);
    }

    #[tokio::test]
    async fn the_first_claim_wins_and_the_second_is_refused() {
        DeliveryTester::with(())
            .given(vec![requested(), assigned()])
            .when_async(claim(RiderId::new(), nearby()))
            .await
            .then_expect_error(DeliveryError::AlreadyClaimed);
    }

    #[tokio::test]
    async fn a_rider_outside_the_radius_cannot_claim_until_it_widens() {
        DeliveryTester::with(())
            .given(vec![requested()])
            .when_async(claim(rider(), far_away()))
            .await
            .then_expect_error(DeliveryError::RiderTooFar {
                distance_m: 8_793,
                radius_m: 2_000,
            });
        let widened: DeliveryEvent = SearchRadiusWidened {
            order_id: order_id(),
            radius_m: 10_000,
        }
        .into();
        DeliveryTester::with(())
            .given(vec![requested()])
            .when_async(DeliveryCommand::WidenSearch { radius_m: 10_000 })
            .await
            .then_expect_events(vec![widened.clone()]);
        let result = DeliveryTester::with(())
            .given(vec![requested(), widened])
            .when_async(claim(rider(), far_away()))
            .await
            .inspect_result();
        assert!(matches!(
            result.as_deref(),
            Ok([DeliveryEvent::RiderAssigned(_)])
        ));
    }

    #[tokio::test]
    async fn the_radius_only_grows_up_to_the_limit_and_only_while_open() {
        for radius_m in [2_000, 1_000, MAX_RADIUS_M + 1] {
            DeliveryTester::with(())
                .given(vec![requested()])
                .when_async(DeliveryCommand::WidenSearch { radius_m })
                .await
                .then_expect_error(DeliveryError::InvalidRadius {
                    radius_m,
                    current_m: 2_000,
                });
        }
        DeliveryTester::with(())
            .given(vec![requested(), assigned()])
            .when_async(DeliveryCommand::WidenSearch { radius_m: 5_000 })
            .await
            .then_expect_error(DeliveryError::AlreadyClaimed);
    }

    #[tokio::test]
    async fn only_the_assigned_rider_picks_up() {
        DeliveryTester::with(())
            .given(vec![requested(), assigned()])
            .when_async(DeliveryCommand::PickUpDelivery { rider: rider() })
            .await
            .then_expect_events(vec![picked_up()]);
        DeliveryTester::with(())
            .given(vec![requested(), assigned()])
            .when_async(DeliveryCommand::PickUpDelivery {
                rider: RiderId::new(),
            })
            .await
            .then_expect_error(DeliveryError::NotAssignedRider);
        DeliveryTester::with(())
            .given(vec![requested()])
            .when_async(DeliveryCommand::PickUpDelivery { rider: rider() })
            .await
            .then_expect_error(DeliveryError::NotClaimed);
        DeliveryTester::with(())
            .given(vec![requested(), assigned(), picked_up()])
            .when_async(DeliveryCommand::PickUpDelivery { rider: rider() })
            .await
            .then_expect_error(DeliveryError::AlreadyPickedUp);
    }

    #[tokio::test]
    async fn completing_needs_a_pickup_and_happens_once() {
        DeliveryTester::with(())
            .given(vec![requested(), assigned(), picked_up()])
            .when_async(DeliveryCommand::CompleteDelivery)
            .await
            .then_expect_events(vec![completed()]);
        DeliveryTester::with(())
            .given(vec![requested(), assigned()])
            .when_async(DeliveryCommand::CompleteDelivery)
            .await
            .then_expect_error(DeliveryError::NotPickedUp);
        DeliveryTester::with(())
            .given(vec![requested(), assigned(), picked_up(), completed()])
            .when_async(DeliveryCommand::CompleteDelivery)
            .await
            .then_expect_error(DeliveryError::AlreadyCompleted);
    }

    #[tokio::test]
    async fn a_job_is_cancelled_only_before_pickup() {
        for given in [vec![requested()], vec![requested(), assigned()]] {
            DeliveryTester::with(())
                .given(given)
                .when_async(DeliveryCommand::CancelDelivery {
                    reason: "order cancelled".into(),
                })
                .await
                .then_expect_events(vec![cancelled()]);
        }
        DeliveryTester::with(())
            .given(vec![requested(), assigned(), picked_up()])
            .when_async(DeliveryCommand::CancelDelivery {
                reason: "order cancelled".into(),
            })
            .await
            .then_expect_error(DeliveryError::AlreadyPickedUp);
    }

    #[tokio::test]
    async fn nothing_happens_to_a_cancelled_or_unrequested_job() {
        DeliveryTester::with(())
            .given(vec![requested(), cancelled()])
            .when_async(claim(rider(), nearby()))
            .await
            .then_expect_error(DeliveryError::DeliveryCancelled);
        DeliveryTester::with(())
            .given_no_previous_events()
            .when_async(claim(rider(), nearby()))
            .await
            .then_expect_error(DeliveryError::NotRequested);
    }
}
