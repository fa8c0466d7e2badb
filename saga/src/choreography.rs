//! From committed events to the commands they call for.
//!
//! Every follow-up addresses an aggregate whose id is derived from the order, so executing
//! one twice hits the same aggregate and is refused as already done: re-delivered events
//! never charge, refund or count twice.

use eats_domain::customer::CustomerEvent;
use eats_domain::delivery::DeliveryEvent;
use eats_domain::order::OrderEvent;
use eats_domain::payment::PaymentEvent;
use eats_domain::store::StoreEvent;
use eats_domain::{CustomerId, DeliveryId, OrderId, PaymentId, RiderId, Won};

/// A committed event of any aggregate, with the id of the aggregate that emitted it.
#[derive(Clone, Copy, Debug)]
pub enum Committed<'a> {
    /// An order event of order `.0`.
    Order(OrderId, &'a OrderEvent),
    /// A payment event.
    Payment(&'a PaymentEvent),
    /// A delivery event.
    Delivery(&'a DeliveryEvent),
    /// A store event.
    Store(&'a StoreEvent),
    /// A customer event.
    Customer(&'a CustomerEvent),
}

/// A command some aggregate must receive because of a committed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowUp {
    /// Payment approved: the order is paid and the store sees it.
    RecordPayment {
        /// The order.
        order_id: OrderId,
        /// The payment.
        payment_id: PaymentId,
        /// The captured amount.
        amount: Won,
    },
    /// Paid order cancelled or rejected: give the money back.
    Refund {
        /// The payment to refund.
        payment_id: PaymentId,
        /// Shown on the statement.
        reason: String,
    },
    /// Cooking finished: open a delivery job near the store.
    OpenDeliveryJob {
        /// The order (its pickup and drop-off are on the order).
        order_id: OrderId,
    },
    /// The rider picked up: the order is in delivery.
    RecordPickup {
        /// The order.
        order_id: OrderId,
        /// The rider.
        rider_id: RiderId,
    },
    /// The customer confirmed: the delivery job is done.
    CompleteDelivery {
        /// The job.
        delivery_id: DeliveryId,
    },
    /// The customer confirmed: one more completed order toward the grade.
    RecordCompletedOrder {
        /// The customer.
        customer_id: CustomerId,
        /// The order.
        order_id: OrderId,
    },
}

/// The follow-ups a committed event calls for; most events call for none.
pub fn follow_ups(event: Committed<'_>) -> Vec<FollowUp> {
    match event {
        Committed::Payment(PaymentEvent::PaymentApproved(e)) => vec![FollowUp::RecordPayment {
            order_id: e.order_id,
            payment_id: PaymentId::for_order(e.order_id),
            amount: e.amount,
        }],
        Committed::Order(_, OrderEvent::OrderCancelled(e)) => match e.payment_id {
            Some(payment_id) if e.refund_owed.is_positive() => vec![FollowUp::Refund {
                payment_id,
                reason: format!("order cancelled: {}", e.reason),
            }],
            _ => vec![],
        },
        Committed::Order(_, OrderEvent::OrderRejected(e)) => vec![FollowUp::Refund {
            payment_id: e.payment_id,
            reason: format!("order rejected: {}", e.reason),
        }],
        Committed::Order(order_id, OrderEvent::CookingFinished(_)) => {
            vec![FollowUp::OpenDeliveryJob { order_id }]
        }
        Committed::Delivery(DeliveryEvent::DeliveryPickedUp(e)) => vec![FollowUp::RecordPickup {
            order_id: e.order_id,
            rider_id: e.rider_id,
        }],
        Committed::Order(order_id, OrderEvent::OrderDelivered(e)) => vec![
            FollowUp::CompleteDelivery {
                delivery_id: DeliveryId::for_order(order_id),
            },
            FollowUp::RecordCompletedOrder {
                customer_id: e.customer_id,
                order_id,
            },
        ],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use eats_domain::order::{CookingFinished, OrderCancelled, OrderDelivered, OrderRejected};
    use eats_domain::payment::{PaymentApproved, PaymentDeclined};
    use eats_domain::Actor;

    use super::*;

    fn order() -> OrderId {
        OrderId::new()
    }

    #[test]
    fn an_approved_payment_marks_the_order_paid() {
        let order_id = order();
        let event = PaymentEvent::from(PaymentApproved {
            order_id,
            customer_id: CustomerId::new(),
            amount: Won(9_000),
            payment_key: "k".into(),
            attempt: 1,
        });
        assert_eq!(
            follow_ups(Committed::Payment(&event)),
            vec![FollowUp::RecordPayment {
                order_id,
                payment_id: PaymentId::for_order(order_id),
                amount: Won(9_000)
            }]
        );
    }

    #[test]
    fn a_declined_payment_calls_for_nothing() {
        let event = PaymentEvent::from(PaymentDeclined {
            order_id: order(),
            attempt: 1,
            code: "X".into(),
            message: "no".into(),
        });
        assert!(follow_ups(Committed::Payment(&event)).is_empty());
    }

    #[test]
    fn only_a_paid_cancellation_is_refunded() {
        let order_id = order();
        let unpaid = OrderEvent::from(OrderCancelled {
            by: Actor::System,
            reason: "not paid in time".into(),
            payment_id: None,
            refund_owed: Won::ZERO,
        });
        assert!(follow_ups(Committed::Order(order_id, &unpaid)).is_empty());
        let paid = OrderEvent::from(OrderCancelled {
            by: Actor::System,
            reason: "changed my mind".into(),
            payment_id: Some(PaymentId::for_order(order_id)),
            refund_owed: Won(9_000),
        });
        assert_eq!(
            follow_ups(Committed::Order(order_id, &paid)),
            vec![FollowUp::Refund {
                payment_id: PaymentId::for_order(order_id),
                reason: "order cancelled: changed my mind".into()
            }]
        );
    }

    #[test]
    fn a_rejection_is_always_refunded() {
        let order_id = order();
        let event = OrderEvent::from(OrderRejected {
            by: Actor::System,
            reason: "store did not respond".into(),
            payment_id: PaymentId::for_order(order_id),
            refund_owed: Won(9_000),
        });
        assert!(matches!(
            follow_ups(Committed::Order(order_id, &event)).as_slice(),
            [FollowUp::Refund { .. }]
        ));
    }

    #[test]
    fn cooking_finished_opens_a_job_and_delivery_completes_everything() {
        let order_id = order();
        let cooked = OrderEvent::from(CookingFinished {});
        assert_eq!(
            follow_ups(Committed::Order(order_id, &cooked)),
            vec![FollowUp::OpenDeliveryJob { order_id }]
        );
        let customer_id = CustomerId::new();
        let delivered = OrderEvent::from(OrderDelivered {
            customer_id,
            rider_id: RiderId::new(),
        });
        assert_eq!(
            follow_ups(Committed::Order(order_id, &delivered)),
            vec![
                FollowUp::CompleteDelivery {
                    delivery_id: DeliveryId::for_order(order_id)
                },
                FollowUp::RecordCompletedOrder {
                    customer_id,
                    order_id
                }
            ]
        );
    }
}
