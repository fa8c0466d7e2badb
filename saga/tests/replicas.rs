//! Several process-manager replicas on one database: each due deadline fires exactly once,
//! and a deadline claimed by a replica that died is fired by another once its lease expires.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use eats_saga::clock::ManualClock;
use eats_saga::deadlines::{self, Change, Kind, Payload};
use eats_saga::{DeadlineRunner, Fired};
use eats_store::testing::scenario::{self, Stage};
use eats_store::testing::TestDatabase;
use eats_store::Database;

const ORDERS: usize = 40;

/// `n` unpaid orders whose payment deadline passed a minute ago.
async fn overdue_orders(db: &Database, n: usize) -> Vec<String> {
    let aggregates = scenario::aggregates(db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let mut orders = Vec::new();
    let mut changes = Vec::new();
    for _ in 0..n {
        let order = scenario::drive_order(&aggregates, store, customer, 1, Stage::Placed).await;
        changes.push(Change::Schedule {
            kind: Kind::PaymentDue,
            aggregate_id: order.to_string(),
            due_at: Utc::now() - chrono::Duration::minutes(1),
            payload: Payload::default(),
        });
        orders.push(order.to_string());
    }
    deadlines::apply(db, &changes).await.expect("schedule");
    orders
}

async fn count(db: &Database, sql: &str) -> i64 {
    eats_store::on_pool!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).expect(sql)
}

fn runner(db: &Database, clock: &Arc<ManualClock>) -> DeadlineRunner {
    DeadlineRunner::new(
        scenario::aggregates(db),
        db.clone(),
        clock.clone(),
        std::time::Duration::from_millis(10),
    )
}

async fn two_runners_fire_each_due_deadline_exactly_once(test: TestDatabase) {
    let db = test.db.clone();
    let orders = overdue_orders(&db, ORDERS).await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let (first, second) = (runner(&db, &clock), runner(&db, &clock));

    let mut firings: HashMap<String, Vec<Fired>> = HashMap::new();
    for _ in 0..20 {
        let (a, b) = tokio::join!(first.fire_due(), second.fire_due());
        for (deadline, fired) in a.expect("first").into_iter().chain(b.expect("second")) {
            firings
                .entry(deadline.aggregate_id)
                .or_default()
                .push(fired);
        }
        if count(&db, "SELECT count(*) FROM deadlines").await == 0 {
            break;
        }
    }

    let twice: Vec<_> = firings.iter().filter(|(_, f)| f.len() > 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    assert_eq!(firings.len(), ORDERS, "every deadline fired");
    for order in &orders {
        assert_eq!(firings[order], vec![Fired::Cancelled], "{order}");
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'OrderCancelled'"
        )
        .await,
        ORDERS as i64
    );
    test.cleanup().await;
}

async fn a_deadline_claimed_by_a_runner_that_died_fires_once_its_lease_expires(test: TestDatabase) {
    let db = test.db.clone();
    let orders = overdue_orders(&db, 1).await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let lease = std::time::Duration::from_secs(30);

    // A replica claims the due deadline and dies before firing it.
    let dead = deadlines::Lease::new("dead replica", lease);
    let claimed = deadlines::claim_due(&db, &dead, Utc::now(), 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);

    let survivor = runner(&db, &clock).with_lease(lease);
    assert!(
        survivor.fire_due().await.expect("fire").is_empty(),
        "the claim holds while its lease lasts"
    );

    clock.advance(chrono::Duration::seconds(31));
    let fired = survivor.fire_due().await.expect("fire");
    assert_eq!(
        fired
            .into_iter()
            .map(|(d, f)| (d.aggregate_id, f))
            .collect::<Vec<_>>(),
        vec![(orders[0].clone(), Fired::Cancelled)]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM deadlines").await, 0);
    test.cleanup().await;
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runners_fire_each_due_deadline_exactly_once() {
        super::two_runners_fire_each_due_deadline_exactly_once(TestDatabase::postgres().await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_claimed_by_a_runner_that_died_fires_once_its_lease_expires() {
        super::a_deadline_claimed_by_a_runner_that_died_fires_once_its_lease_expires(
            TestDatabase::postgres().await,
        )
        .await;
    }
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runners_fire_each_due_deadline_exactly_once() {
        super::two_runners_fire_each_due_deadline_exactly_once(TestDatabase::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_claimed_by_a_runner_that_died_fires_once_its_lease_expires() {
        super::a_deadline_claimed_by_a_runner_that_died_fires_once_its_lease_expires(
            TestDatabase::sqlite().await,
        )
        .await;
    }
}
