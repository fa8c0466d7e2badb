//! The process managers against real Postgres + NATS and the embedded mode: the lifecycle to
//! delivery with a grade upgrade, compensation, the cancel/cook race, and deadlines that fire
//! after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::{AggregateError, EventStore};
use eats_domain::customer::Customer;
use eats_domain::delivery::{DeliveryCommand, DeliveryStatus};
use eats_domain::order::{Order, OrderCommand, OrderStatus};
use eats_domain::payment::{Payment, PaymentCommand, PaymentStatus};
use eats_domain::{
    Actor, CustomerId, DeliveryId, EventMetadata, GeoPoint, OrderId, PaymentId, RiderId,
};
use eats_feed::{EmbeddedFeed, EventHandler};
use eats_nats::{ensure_stream, JetStreamFeed, Relay, StreamSettings, Topology};
use eats_saga::clock::ManualClock;
use eats_saga::deadlines::DeadlineSettings;
use eats_saga::gateway::{SimulatedGateway, SimulatorSettings};
use eats_saga::{DeadlineRunner, Fired, ProcessManager, SagaSettings};
use eats_store::testing::scenario::{self, OpenStore, Stage};
use eats_store::testing::TestDatabase;
use eats_store::{Aggregates, Database, DomainServices};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Embedded,
    Distributed,
}

/// A running eats without HTTP: aggregates, the process manager and its feed.
struct Harness {
    test: TestDatabase,
    aggregates: Aggregates,
    /// The process manager's own pool and command handlers in distributed mode, as the
    /// sagas role has in a deployment (the test's customers and stores act through
    /// `aggregates`, as the API would); the same as those in embedded mode.
    saga: (Database, Aggregates),
    gateway: Arc<SimulatedGateway>,
    nats: Option<(async_nats::jetstream::Context, Topology)>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

fn settings() -> SagaSettings {
    SagaSettings {
        max_attempts: 5,
        first_backoff: Duration::from_millis(20),
        delivery_radius_m: 2_000,
        deadlines: DeadlineSettings {
            payment: Duration::from_secs(600),
            store_response: Duration::from_secs(300),
            claim: Duration::from_secs(120),
        },
    }
}

impl Harness {
    async fn start(mode: Mode) -> Self {
        Self::with_gateway_latency(mode, Duration::from_millis(1)).await
    }

    /// A harness whose gateway takes `latency` for every charge and refund.
    async fn with_gateway_latency(mode: Mode, latency: Duration) -> Self {
        let test = match mode {
            Mode::Embedded => TestDatabase::sqlite().await,
            Mode::Distributed => TestDatabase::postgres().await,
        };
        let gateway = Arc::new(SimulatedGateway::new(SimulatorSettings {
            latency,
            failure_rate: 0.0,
        }));
        let aggregates = Aggregates::new(
            &test.db,
            DomainServices {
                gateway: gateway.clone(),
                grades: eats_domain::customer::GradePolicy::new(1, 2, 3).expect("valid"),
            },
        );
        let saga = match &test.url {
            Some(url) if mode == Mode::Distributed => {
                let db = Database::connect_postgres(url, 16)
                    .await
                    .expect("the process manager's pool");
                let aggregates = Aggregates::new(
                    &db,
                    DomainServices {
                        gateway: gateway.clone(),
                        grades: eats_domain::customer::GradePolicy::new(1, 2, 3).expect("valid"),
                    },
                );
                (db, aggregates)
            }
            _ => (test.db.clone(), aggregates.clone()),
        };
        let nats = match mode {
            Mode::Embedded => None,
            Mode::Distributed => {
                let client = async_nats::connect("nats://127.0.0.1:4222")
                    .await
                    .expect("NATS at 127.0.0.1:4222");
                let jetstream = async_nats::jetstream::new(client);
                let topology =
                    Topology::namespaced(&format!("saga{}", uuid::Uuid::new_v4().simple()))
                        .expect("valid");
                ensure_stream(&jetstream, &topology, &StreamSettings::default())
                    .await
                    .expect("stream");
                Some((jetstream, topology))
            }
        };
        let mut harness = Self {
            test,
            aggregates,
            saga,
            gateway,
            nats,
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
        };
        harness.run_process_manager();
        harness
    }

    fn db(&self) -> &Database {
        &self.test.db
    }

    fn process_manager(&self) -> ProcessManager {
        ProcessManager::new(self.saga.1.clone(), self.saga.0.clone(), settings())
    }

    fn run_process_manager(&mut self) {
        let handler: Arc<dyn EventHandler> = Arc::new(self.process_manager());
        let shutdown = self.shutdown.clone();
        match &self.nats {
            None => {
                let feed = EmbeddedFeed::new(self.db()).expect("embedded");
                self.tasks
                    .spawn(async move { feed.run(handler.as_ref(), shutdown).await });
            }
            Some((jetstream, topology)) => {
                let relay =
                    Relay::new(self.db(), jetstream.clone(), topology.clone()).expect("relay");
                let relay_shutdown = shutdown.clone();
                self.tasks
                    .spawn(async move { relay.run(relay_shutdown).await });
                let feed = JetStreamFeed::new(jetstream.clone(), topology.clone());
                self.tasks
                    .spawn(async move { feed.run(handler.as_ref(), shutdown).await });
            }
        }
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some((jetstream, topology)) = &self.nats {
            let _ = jetstream.delete_stream(&topology.stream).await;
        }
        self.test.cleanup().await;
    }

    async fn order(&self, id: OrderId) -> Order {
        self.db()
            .event_store::<Order>()
            .load_aggregate(&id.to_string())
            .await
            .expect("load")
            .aggregate
    }

    async fn payment(&self, id: OrderId) -> Payment {
        let payment = PaymentId::for_order(id).to_string();
        self.db()
            .event_store::<Payment>()
            .load_aggregate(&payment)
            .await
            .expect("load")
            .aggregate
    }

    /// Waits until the order reaches `status` (the process manager acts asynchronously).
    async fn until_order(&self, id: OrderId, status: OrderStatus) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let actual = self.order(id).await.status();
            if actual == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "order stuck in {actual}, expected {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn until_payment(&self, id: OrderId, status: PaymentStatus) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let actual = self.payment(id).await.status();
            if actual == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "payment stuck in {actual:?}, expected {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The customer places an order and pays for it.
    async fn place_and_pay(&self, store: OpenStore, customer: CustomerId) -> OrderId {
        let order =
            scenario::drive_order(&self.aggregates, store, customer, 2, Stage::Placed).await;
        self.pay(order, customer).await;
        self.until_order(order, OrderStatus::Paid).await;
        order
    }

    /// The customer pays for `order`; returns once the gateway approved it.
    async fn pay(&self, order: OrderId, customer: CustomerId) {
        let payment = PaymentId::for_order(order);
        self.aggregates
            .payments
            .execute_with_metadata(
                &payment.to_string(),
                PaymentCommand::PayForOrder {
                    payment_id: payment,
                    order_id: order,
                    customer,
                    amount: self.order(order).await.total().expect("placed"),
                    payment_key: format!("tgen_{}", order.0.simple()),
                },
                meta(order, Actor::Customer(customer)),
            )
            .await
            .expect("pay");
    }

    async fn as_owner(
        &self,
        store: OpenStore,
        order: OrderId,
        command: OrderCommand,
    ) -> Result<(), AggregateError<eats_domain::order::OrderError>> {
        self.aggregates
            .orders
            .execute_with_metadata(
                &order.to_string(),
                command,
                meta(order, Actor::StoreOwner(store.owner)),
            )
            .await
    }
}

fn meta(order: OrderId, actor: Actor) -> std::collections::HashMap<String, String> {
    EventMetadata::for_command(order.0, actor, Utc::now()).to_map()
}

async fn happy_path_reaches_delivered_and_upgrades_the_grade(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let order = h.place_and_pay(store, customer).await;
    for command in [
        OrderCommand::AcceptOrder { by: store.owner },
        OrderCommand::StartCooking { by: store.owner },
        OrderCommand::FinishCooking { by: store.owner },
    ] {
        h.as_owner(store, order, command).await.expect("store step");
    }
    // Cooking finished: the process manager opens a delivery job near the store.
    let delivery = DeliveryId::for_order(order).to_string();
    let deliveries = h.db().event_store::<eats_domain::delivery::Delivery>();
    let deadline = Instant::now() + Duration::from_secs(60);
    while deliveries
        .load_aggregate(&delivery)
        .await
        .expect("load")
        .aggregate
        .status()
        != DeliveryStatus::Open
    {
        assert!(Instant::now() < deadline, "no delivery job opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rider = RiderId::new();
    for command in [
        DeliveryCommand::ClaimDelivery {
            rider,
            rider_at: GeoPoint {
                lat: 37.567,
                lng: 126.979,
            },
        },
        DeliveryCommand::PickUpDelivery { rider },
    ] {
        h.aggregates
            .deliveries
            .execute_with_metadata(&delivery, command, meta(order, Actor::Rider(rider)))
            .await
            .expect("rider step");
    }
    h.until_order(order, OrderStatus::InDelivery).await;
    h.aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            OrderCommand::ConfirmDelivery { by: customer },
            meta(order, Actor::Customer(customer)),
        )
        .await
        .expect("confirm");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c: Customer = h
            .db()
            .event_store::<Customer>()
            .load_aggregate(&customer.to_string())
            .await
            .expect("load")
            .aggregate;
        let d = deliveries
            .load_aggregate(&delivery)
            .await
            .expect("load")
            .aggregate
            .status();
        if c.grade() == eats_domain::customer::Grade::Silver && d == DeliveryStatus::Completed {
            assert_eq!(c.completed_orders(), 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "grade {} / delivery {d:?}",
            c.grade()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.gateway.charges(), 1);
    assert_eq!(h.gateway.refunds(), 0);
    h.stop().await;
}

async fn cancel_before_cooking_is_refunded_once(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let order = h.place_and_pay(store, customer).await;
    h.as_owner(store, order, OrderCommand::AcceptOrder { by: store.owner })
        .await
        .expect("accept");
    h.aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            OrderCommand::CancelOrder {
                by: Actor::Customer(customer),
                reason: "changed my mind".into(),
            },
            meta(order, Actor::Customer(customer)),
        )
        .await
        .expect("cancel");
    h.until_payment(order, PaymentStatus::Refunded).await;
    assert_eq!((h.gateway.charges(), h.gateway.refunds()), (1, 1));
    h.stop().await;
}

async fn a_store_rejection_is_refunded(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let order = h.place_and_pay(store, customer).await;
    h.as_owner(
        store,
        order,
        OrderCommand::RejectOrder {
            by: Actor::StoreOwner(store.owner),
            reason: "재료 소진".into(),
        },
    )
    .await
    .expect("reject");
    h.until_payment(order, PaymentStatus::Refunded).await;
    assert_eq!(h.order(order).await.status(), OrderStatus::Rejected);
    assert_eq!(h.gateway.refunds(), 1);
    h.stop().await;
}

async fn cancel_racing_start_cooking_refunds_only_when_the_cancel_wins(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let (mut cancels, mut cooks) = (0, 0);
    for _ in 0..12 {
        let order = h.place_and_pay(store, customer).await;
        h.as_owner(store, order, OrderCommand::AcceptOrder { by: store.owner })
            .await
            .expect("accept");
        let id = order.to_string();
        let (cancel, cook) = tokio::join!(
            h.aggregates.orders.execute_with_metadata(
                &id,
                OrderCommand::CancelOrder {
                    by: Actor::Customer(customer),
                    reason: "too slow".into()
                },
                meta(order, Actor::Customer(customer)),
            ),
            h.as_owner(store, order, OrderCommand::StartCooking { by: store.owner }),
        );
        assert_ne!(
            cancel.is_ok(),
            cook.is_ok(),
            "exactly one wins: {cancel:?} / {cook:?}"
        );
        if cancel.is_ok() {
            cancels += 1;
            h.until_payment(order, PaymentStatus::Refunded).await;
        } else {
            cooks += 1;
            assert_eq!(h.order(order).await.status(), OrderStatus::Cooking);
        }
    }
    // Give the process manager time to (wrongly) refund a cooked order, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.gateway.refunds(),
        cancels,
        "a refund exactly when the cancel won ({cancels} cancels, {cooks} cooks)"
    );
    h.stop().await;
}

async fn every_deadline_fires_after_a_restart(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let unpaid = scenario::drive_order(&h.aggregates, store, customer, 1, Stage::Placed).await;
    let unanswered = h.place_and_pay(store, customer).await;
    let ready = h.place_and_pay(store, customer).await;
    for command in [
        OrderCommand::AcceptOrder { by: store.owner },
        OrderCommand::StartCooking { by: store.owner },
        OrderCommand::FinishCooking { by: store.owner },
    ] {
        h.as_owner(store, ready, command).await.expect("store step");
    }
    let delivery = DeliveryId::for_order(ready);
    // Wait for exactly these three: a count alone can be met early, while the ready order's
    // store-response deadline is still there and its claim deadline not yet.
    let mut expected = vec![
        ("claim_due".to_string(), delivery.to_string()),
        ("payment_due".to_string(), unpaid.to_string()),
        ("store_response_due".to_string(), unanswered.to_string()),
    ];
    expected.sort();
    let wait_for_deadlines = Instant::now() + Duration::from_secs(60);
    loop {
        let scheduled: Vec<(String, String)> = eats_store::on_pool!(h.db(), |pool| {
            sqlx::query_as("SELECT kind, aggregate_id FROM deadlines ORDER BY kind, aggregate_id")
                .fetch_all(pool)
                .await
        })
        .expect("deadlines");
        if scheduled == expected {
            break;
        }
        assert!(
            Instant::now() < wait_for_deadlines,
            "deadlines not scheduled: {scheduled:?}, want {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The process restarts: a fresh runner (and, embedded, a fresh pool on the same file).
    let db = match mode {
        Mode::Embedded => Database::open_sqlite(h.test.data_dir.as_ref().expect("folder"))
            .await
            .expect("reopen"),
        Mode::Distributed => h.db().clone(),
    };
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let runner = DeadlineRunner::new(
        scenario::aggregates(&db),
        db.clone(),
        clock.clone(),
        Duration::from_millis(10),
    );
    assert!(
        runner.fire_due().await.expect("fire").is_empty(),
        "nothing due yet"
    );

    clock.advance(chrono::Duration::minutes(3));
    let fired = runner.fire_due().await.expect("fire");
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].0.aggregate_id.clone(), fired[0].1.clone()),
        (delivery.to_string(), Fired::Widened(4_000))
    );

    clock.advance(chrono::Duration::minutes(3));
    let mut fired: Vec<(String, Fired)> = runner
        .fire_due()
        .await
        .expect("fire")
        .into_iter()
        .map(|(d, f)| (d.aggregate_id, f))
        .collect();
    fired.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![(unanswered.to_string(), Fired::Rejected)];
    // The widened job got a new claim deadline from the process manager (if it has seen it).
    fired.retain(|(id, _)| *id != delivery.to_string());
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(fired, expected);
    h.until_payment(unanswered, PaymentStatus::Refunded).await;

    clock.advance(chrono::Duration::minutes(10));
    runner.fire_due().await.expect("fire");
    assert_eq!(h.order(unpaid).await.status(), OrderStatus::Cancelled);
    assert_eq!(h.order(unanswered).await.status(), OrderStatus::Rejected);
    assert_eq!(
        h.payment(unpaid).await.status(),
        PaymentStatus::NotStarted,
        "nothing charged, nothing to refund"
    );
    h.stop().await;
}

async fn replaying_every_event_charges_and_refunds_nothing_twice(mode: Mode) {
    let mut h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let cancelled = h.place_and_pay(store, customer).await;
    h.aggregates
        .orders
        .execute_with_metadata(
            &cancelled.to_string(),
            OrderCommand::CancelOrder {
                by: Actor::Customer(customer),
                reason: "changed my mind".into(),
            },
            meta(cancelled, Actor::Customer(customer)),
        )
        .await
        .expect("cancel");
    h.until_payment(cancelled, PaymentStatus::Refunded).await;
    let delivered = scenario::drive_order(&h.aggregates, store, customer, 1, Stage::Placed).await;
    deliver(&h, store, customer, delivered).await;
    let wait = Instant::now() + Duration::from_secs(60);
    while h
        .db()
        .event_store::<Customer>()
        .load_aggregate(&customer.to_string())
        .await
        .expect("load")
        .aggregate
        .completed_orders()
        != 1
    {
        assert!(Instant::now() < wait, "grade never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = (
        h.gateway.charges(),
        h.gateway.refunds(),
        event_count(h.db()).await,
    );

    // Stop the process manager and make it start over from the first event.
    h.shutdown.cancel();
    while h.tasks.join_next().await.is_some() {}
    match &h.nats {
        None => EmbeddedFeed::new(h.db())
            .expect("embedded")
            .reset(ProcessManager::NAME)
            .await
            .expect("reset"),
        Some((jetstream, topology)) => {
            let stream = jetstream
                .get_stream(&topology.stream)
                .await
                .expect("stream");
            stream
                .delete_consumer(ProcessManager::NAME)
                .await
                .expect("delete consumer");
        }
    }
    h.shutdown = CancellationToken::new();
    h.run_process_manager();
    let wait = Instant::now() + Duration::from_secs(60);
    loop {
        let caught_up = match &h.nats {
            None => {
                EmbeddedFeed::new(h.db())
                    .expect("embedded")
                    .lag(ProcessManager::NAME, &["Order", "Payment", "Delivery"])
                    .await
                    .expect("lag")
                    .events
                    == 0
            }
            Some((jetstream, topology)) => {
                let feed = JetStreamFeed::new(jetstream.clone(), topology.clone());
                feed.lag(&h.process_manager())
                    .await
                    .map(|l| l.events == 0)
                    .unwrap_or(false)
            }
        };
        if caught_up {
            break;
        }
        assert!(Instant::now() < wait, "replay did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = (
        h.gateway.charges(),
        h.gateway.refunds(),
        event_count(h.db()).await,
    );
    assert_eq!(
        after, before,
        "(charges, refunds, events) unchanged by the replay"
    );
    assert!(eats_saga::dead_letters::list(h.db(), true)
        .await
        .expect("list")
        .is_empty());
    h.stop().await;
}

async fn event_count(db: &Database) -> i64 {
    eats_store::on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
    })
    .expect("count")
}

/// Tests that time how quickly something happens under load take this exclusively, the
/// others shared: under `cargo test` the tests of this file run two at a time, and a second
/// test's thousands of commands on the same two cores would be measured as our latency. (Each
/// test is its own process under nextest, where this does not hold.)
static ALONE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

macro_rules! in_both_modes {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _shared = super::ALONE.read().await;
                    super::$name(super::Mode::Embedded).await;
                }
            )+
        }
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _shared = super::ALONE.read().await;
                    super::$name(super::Mode::Distributed).await;
                }
            )+
        }
    };
}

in_both_modes!(
    happy_path_reaches_delivered_and_upgrades_the_grade,
    cancel_before_cooking_is_refunded_once,
    a_store_rejection_is_refunded,
    cancel_racing_start_cooking_refunds_only_when_the_cancel_wins,
    every_deadline_fires_after_a_restart,
    a_follow_up_that_keeps_failing_is_parked_and_replayed_without_blocking_others,
    an_unclaimed_job_at_the_widest_radius_escalates,
    replaying_every_event_charges_and_refunds_nothing_twice,
);

mod timed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_a_refund_burst_on_a_slow_gateway_does_not_hold_up_another_order() {
        let _alone = super::ALONE.write().await;
        super::a_refund_burst_on_a_slow_gateway_does_not_hold_up_another_order(
            super::Mode::Embedded,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn distributed_a_refund_burst_on_a_slow_gateway_does_not_hold_up_another_order() {
        let _alone = super::ALONE.write().await;
        super::a_refund_burst_on_a_slow_gateway_does_not_hold_up_another_order(
            super::Mode::Distributed,
        )
        .await;
    }
}

/// A burst of a thousand refunds on a gateway that takes 300 ms each: another customer's
/// payment is reflected on their order within a second, not after the burst (one event at a
/// time, that was 1,000 x 300 ms).
async fn a_refund_burst_on_a_slow_gateway_does_not_hold_up_another_order(mode: Mode) {
    use futures::StreamExt;
    const BURST: usize = 1_000;
    let h = Harness::with_gateway_latency(mode, Duration::from_millis(300)).await;
    let store = scenario::open_store(&h.aggregates).await;
    let customer = scenario::register_customer(&h.aggregates).await;
    let paid: Vec<OrderId> = futures::stream::iter(0..BURST)
        .map(|_| h.place_and_pay(store, customer))
        .buffer_unordered(100)
        .collect()
        .await;
    let unrelated = scenario::drive_order(&h.aggregates, store, customer, 1, Stage::Placed).await;

    // The customers cancel all at once; the unrelated payment comes while their refunds are
    // under way (after the first is done), as it would on a busy evening.
    let orders = &h.aggregates.orders;
    let cancels = futures::stream::iter(&paid)
        .map(|order| async move {
            orders
                .execute_with_metadata(
                    &order.to_string(),
                    OrderCommand::CancelOrder {
                        by: Actor::Customer(customer),
                        reason: "changed my mind".into(),
                    },
                    meta(*order, Actor::Customer(customer)),
                )
                .await
        })
        .buffer_unordered(100)
        .for_each(|cancelled| async move { cancelled.expect("cancel") });
    let pay_during_the_burst = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while h.gateway.refunds() == 0 {
            assert!(Instant::now() < deadline, "no refund within a minute");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.pay(unrelated, customer).await;
        let approved = Instant::now();
        let refunded_by_then = h.gateway.refunds();
        h.until_order(unrelated, OrderStatus::Paid).await;
        (approved.elapsed(), refunded_by_then)
    };
    let ((), (reflected, refunded_meanwhile)) = tokio::join!(cancels, pay_during_the_burst);
    // The burst did happen around it: then it all completes, each refund once.
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.gateway.refunds() < BURST as u64 {
        assert!(
            Instant::now() < deadline,
            "refunds: {} of {BURST}",
            h.gateway.refunds()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reflected < Duration::from_secs(1),
        "the unrelated order was paid after {reflected:?}, behind the refunds \
         ({refunded_meanwhile} of {BURST} refunded by then)"
    );
    assert!(
        (refunded_meanwhile as usize) < BURST,
        "the burst was over before the payment was approved: nothing shown"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.gateway.refunds(), BURST as u64, "no refund twice");
    h.stop().await;
}

async fn a_follow_up_that_keeps_failing_is_parked_and_replayed_without_blocking_others(mode: Mode) {
    let h = Harness::start(mode).await;
    let store = scenario::open_store(&h.aggregates).await;
    // A customer who ordered without registering: their grade cannot be recorded.
    let unregistered = CustomerId::new();
    let registered = scenario::register_customer(&h.aggregates).await;
    let stuck = scenario::drive_order(&h.aggregates, store, unregistered, 1, Stage::Placed).await;
    deliver(&h, store, unregistered, stuck).await;
    let fine = scenario::drive_order(&h.aggregates, store, registered, 1, Stage::Placed).await;
    deliver(&h, store, registered, fine).await;

    // The other order went on; the stuck follow-up is parked with its error.
    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let letters = eats_saga::dead_letters::list(h.db(), false)
            .await
            .expect("list");
        let counted: Customer = h
            .db()
            .event_store::<Customer>()
            .load_aggregate(&registered.to_string())
            .await
            .expect("load")
            .aggregate;
        if !letters.is_empty() && counted.completed_orders() == 1 {
            break letters;
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter / other order blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert!(
        letters[0].error.contains("not registered"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[0].event_key, format!("Order-{stuck}-7"));

    // An operator fixes the cause and replays it.
    h.aggregates
        .customers
        .execute_with_metadata(
            &unregistered.to_string(),
            eats_domain::customer::CustomerCommand::RegisterCustomer {
                customer_id: unregistered,
                name: "늦은 가입".into(),
                phone: "010-9999-0000".into(),
                address: "서울 중구 을지로 12".into(),
                location: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
            },
            meta(stuck, Actor::Customer(unregistered)),
        )
        .await
        .expect("register");
    let replayed =
        eats_saga::dead_letters::replay(h.db(), letters[0].id, &h.process_manager().strict())
            .await
            .expect("replay");
    assert!(replayed.replayed_at.is_some());
    let counted: Customer = h
        .db()
        .event_store::<Customer>()
        .load_aggregate(&unregistered.to_string())
        .await
        .expect("load")
        .aggregate;
    assert_eq!(counted.completed_orders(), 1);
    assert!(eats_saga::dead_letters::list(h.db(), false)
        .await
        .expect("list")
        .is_empty());
    assert!(matches!(
        eats_saga::dead_letters::replay(h.db(), letters[0].id, &h.process_manager().strict()).await,
        Err(eats_saga::dead_letters::DeadLetterError::AlreadyReplayed(_))
    ));
    h.stop().await;
}

/// Pays, cooks, delivers and confirms `order`, waiting for the process manager between steps.
async fn deliver(h: &Harness, store: OpenStore, customer: CustomerId, order: OrderId) {
    let payment = PaymentId::for_order(order);
    h.aggregates
        .payments
        .execute_with_metadata(
            &payment.to_string(),
            PaymentCommand::PayForOrder {
                payment_id: payment,
                order_id: order,
                customer,
                amount: h.order(order).await.total().expect("placed"),
                payment_key: "tgen_x".into(),
            },
            meta(order, Actor::Customer(customer)),
        )
        .await
        .expect("pay");
    h.until_order(order, OrderStatus::Paid).await;
    for command in [
        OrderCommand::AcceptOrder { by: store.owner },
        OrderCommand::StartCooking { by: store.owner },
        OrderCommand::FinishCooking { by: store.owner },
    ] {
        h.as_owner(store, order, command).await.expect("store step");
    }
    let delivery = DeliveryId::for_order(order).to_string();
    let rider = RiderId::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let claimed = h
            .aggregates
            .deliveries
            .execute_with_metadata(
                &delivery,
                DeliveryCommand::ClaimDelivery {
                    rider,
                    rider_at: GeoPoint {
                        lat: 37.567,
                        lng: 126.979,
                    },
                },
                meta(order, Actor::Rider(rider)),
            )
            .await;
        if claimed.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "job never opened: {claimed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.aggregates
        .deliveries
        .execute_with_metadata(
            &delivery,
            DeliveryCommand::PickUpDelivery { rider },
            meta(order, Actor::Rider(rider)),
        )
        .await
        .expect("pick up");
    h.until_order(order, OrderStatus::InDelivery).await;
    h.aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            OrderCommand::ConfirmDelivery { by: customer },
            meta(order, Actor::Customer(customer)),
        )
        .await
        .expect("confirm");
}

async fn an_unclaimed_job_at_the_widest_radius_escalates(mode: Mode) {
    let h = Harness::start(mode).await;
    let order = OrderId::new();
    let delivery = DeliveryId::for_order(order);
    h.aggregates
        .deliveries
        .execute_with_metadata(
            &delivery.to_string(),
            DeliveryCommand::RequestDelivery {
                delivery_id: delivery,
                order_id: order,
                store_id: eats_domain::StoreId::new(),
                customer_id: CustomerId::new(),
                pickup: scenario::city_hall(),
                dropoff: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
                radius_m: 12_000,
            },
            meta(order, Actor::System),
        )
        .await
        .expect("request");
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let runner = DeadlineRunner::new(
        h.aggregates.clone(),
        h.db().clone(),
        clock.clone(),
        Duration::from_millis(10),
    );
    let mut outcomes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcomes.last() != Some(&Fired::Escalated) {
        assert!(Instant::now() < deadline, "never escalated: {outcomes:?}");
        clock.advance(chrono::Duration::minutes(3));
        outcomes.extend(
            runner
                .fire_due()
                .await
                .expect("fire")
                .into_iter()
                .map(|(_, f)| f),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outcomes, vec![Fired::Widened(20_000), Fired::Escalated]);
    h.stop().await;
}

/// Approves charges, refuses every refund.
struct RefusesRefunds;

#[async_trait::async_trait]
impl eats_domain::payment::PaymentGateway for RefusesRefunds {
    async fn confirm(
        &self,
        _: eats_domain::payment::ConfirmRequest,
    ) -> Result<eats_domain::payment::GatewayVerdict, eats_domain::payment::GatewayError> {
        Ok(eats_domain::payment::GatewayVerdict::Approved)
    }
    async fn cancel(
        &self,
        _: eats_domain::payment::CancelRequest,
    ) -> Result<eats_domain::payment::GatewayVerdict, eats_domain::payment::GatewayError> {
        Ok(eats_domain::payment::GatewayVerdict::Declined {
            code: "NOT_CANCELABLE_PAYMENT".into(),
            message: "취소할 수 없는 결제입니다".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_gateway_keeps_refusing_is_retried_then_parked_for_an_operator() {
    let _shared = ALONE.read().await;
    let test = TestDatabase::sqlite().await;
    let aggregates = Aggregates::new(
        &test.db,
        DomainServices {
            gateway: Arc::new(RefusesRefunds),
            grades: eats_domain::customer::GradePolicy::default(),
        },
    );
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let order = scenario::drive_order(&aggregates, store, customer, 1, Stage::Paid).await;
    aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            OrderCommand::CancelOrder {
                by: Actor::Customer(customer),
                reason: "changed my mind".into(),
            },
            meta(order, Actor::Customer(customer)),
        )
        .await
        .expect("cancel");
    let manager = ProcessManager::new(aggregates.clone(), test.db.clone(), settings());
    let cancelled = test
        .db
        .history("Order", &order.to_string())
        .await
        .expect("history")
        .into_iter()
        .map(|e| eats_feed::FeedEvent::from_serialized(e).expect("event"))
        .next_back()
        .expect("cancelled");
    assert_eq!(cancelled.event_type, "OrderCancelled");
    manager.handle(&cancelled).await.expect("handled (parked)");

    let letters = eats_saga::dead_letters::list(&test.db, false)
        .await
        .expect("list");
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert!(
        letters[0].error.contains("refused the refund"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[0].attempts, i64::from(settings().max_attempts));
    let refusals = test
        .db
        .history("Payment", &PaymentId::for_order(order).to_string())
        .await
        .expect("history");
    let failed = refusals
        .iter()
        .filter(|e| e.event_type == "PaymentRefundFailed")
        .count();
    assert_eq!(
        failed,
        settings().max_attempts as usize,
        "one new refund attempt per retry"
    );
    test.cleanup().await;
}
