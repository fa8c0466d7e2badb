//! Checks every read model row against the event store, the source of truth.
//!
//! The aggregates are rebuilt from their events (an independent path from the projections'
//! SQL) and compared field by field with the views. Used after a rebuild, by tests, and by
//! the convergence benchmark.

use cqrs_es::EventStore;
use eats_domain::customer::Customer;
use eats_domain::delivery::{Delivery, DeliveryStatus};
use eats_domain::order::Order;
use eats_domain::payment::{Payment, PaymentStatus};
use eats_domain::Versioned;
use eats_store::Database;
use serde::Serialize;

use crate::{customer_profile, order_view, store_queue};
use eats_store::on_pool;

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Aggregates checked.
    pub checked: usize,
    /// One line per disagreement.
    pub mismatches: Vec<String>,
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A query failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Loading an aggregate failed.
    #[error("event store: {0}")]
    Store(String),
}

async fn ids(db: &Database, aggregate_type: &str) -> Result<Vec<String>, sqlx::Error> {
    on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1")
            .bind(aggregate_type)
            .fetch_all(pool)
            .await
    })
}

async fn load<A: Versioned>(db: &Database, id: &str) -> Result<A, VerifyError> {
    db.event_store::<A>()
        .load_aggregate(id)
        .await
        .map(|context| context.aggregate)
        .map_err(|e| VerifyError::Store(e.to_string()))
}

fn payment_word(status: PaymentStatus) -> Option<&'static str> {
    match status {
        PaymentStatus::NotStarted => None,
        PaymentStatus::Declined => Some("declined"),
        PaymentStatus::Approved => Some("approved"),
        PaymentStatus::Refunded => Some("refunded"),
    }
}

fn delivery_word(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::NotRequested => "",
        DeliveryStatus::Open => "open",
        DeliveryStatus::Assigned => "assigned",
        DeliveryStatus::PickedUp => "picked_up",
        DeliveryStatus::Completed => "completed",
        DeliveryStatus::Cancelled => "cancelled",
    }
}

/// Compares every order view, queue entry, delivery job, customer profile and the audit
/// timeline with the event store.
pub async fn verify(db: &Database) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let mut mismatch = |what: String| report.mismatches.push(what);
    let mut checked = 0;

    for id in ids(db, "Order").await? {
        checked += 1;
        let order: Order = load(db, &id).await?;
        let payment: Payment = load(
            db,
            &eats_domain::PaymentId::for_order(id.parse().unwrap_or_default()).to_string(),
        )
        .await?;
        let Some(view) = order_view::fetch(db, &id).await? else {
            mismatch(format!("order {id}: no order_view row"));
            continue;
        };
        if view.status != order.status().to_string() {
            mismatch(format!(
                "order {id}: view says {}, events say {}",
                view.status,
                order.status()
            ));
        }
        if Some(eats_domain::Won(view.total)) != order.total() {
            mismatch(format!(
                "order {id}: view total {} != {:?}",
                view.total,
                order.total()
            ));
        }
        let expected_payment = payment_word(payment.status());
        let view_payment = view.payment_status.as_deref();
        let refund_failed =
            view_payment == Some("refund_failed") && expected_payment == Some("approved");
        if view_payment != expected_payment && !refund_failed {
            mismatch(format!(
                "order {id}: payment {view_payment:?} != {expected_payment:?}"
            ));
        }
        let queued = store_queue::fetch(db, &id).await?;
        match (queued, order.was_paid()) {
            (Some(q), true) if q.status == order.status().to_string() => {}
            (None, false) => {}
            (q, _) => mismatch(format!(
                "order {id}: store queue {q:?} for {}",
                order.status()
            )),
        }
    }

    for id in ids(db, "Delivery").await? {
        checked += 1;
        let delivery: Delivery = load(db, &id).await?;
        let status: Option<String> = on_pool!(db, |pool| {
            sqlx::query_scalar("SELECT status FROM delivery_board WHERE delivery_id = $1")
                .bind(&id)
                .fetch_optional(pool)
                .await
        })?;
        if status.as_deref() != Some(delivery_word(delivery.status())) {
            mismatch(format!(
                "delivery {id}: board {status:?} != {:?}",
                delivery.status()
            ));
        }
    }

    for id in ids(db, "Customer").await? {
        checked += 1;
        let customer: Customer = load(db, &id).await?;
        match customer_profile::fetch(db, &id).await? {
            Some(p)
                if p.grade == customer.grade().to_string()
                    && p.completed_orders == i64::from(customer.completed_orders()) => {}
            other => mismatch(format!("customer {id}: profile {other:?}")),
        }
    }

    let (events, timeline): (i64, i64) = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM audit_timeline)",
        )
        .fetch_one(pool)
        .await
    })?;
    if events != timeline {
        mismatch(format!(
            "audit timeline has {timeline} rows for {events} events"
        ));
    }
    report.checked = checked;
    Ok(report)
}
