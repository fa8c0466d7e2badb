//! What a NATS crash drops, recovered from the event store, on the real Postgres and NATS of
//! this machine. The loss is made deterministic: events are relayed (acknowledged by
//! JetStream, their outbox rows deleted), then their messages are deleted from the stream,
//! which is what a crash before JetStream's fsync leaves behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use cqrs_es::EventStore;
use eats_domain::order::{Order, OrderStatus};
use eats_domain::payment::PaymentCommand;
use eats_domain::{Actor, EventMetadata, OrderId, PaymentId, Won};
use eats_feed::{EventHandler, FeedEvent};
use eats_nats::{
    ensure_stream, JetStreamFeed, Reconciler, Recorded, RecoverySettings, Relay, StreamSettings,
    Topology,
};
use eats_projections::order_view::{self, OrderViewProjection};
use eats_projections::Projector;
use eats_saga::{ProcessManager, SagaSettings};
use eats_store::testing::scenario;
use eats_store::testing::TestDatabase;
use eats_store::{Backend, Database};
use tokio_util::sync::CancellationToken;

fn pool(db: &Database) -> sqlx::PgPool {
    let Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    pool.clone()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes the messages of `keys` (event keys) from the stream: acknowledged, then lost.
async fn lose(jetstream: &jetstream::Context, topology: &Topology, keys: &[String]) -> usize {
    let mut stream = jetstream
        .get_stream(&topology.stream)
        .await
        .expect("stream");
    let state = stream.info().await.expect("info").state.clone();
    let mut lost = 0;
    for seq in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue;
        };
        let event: FeedEvent = serde_json::from_slice(&message.payload).expect("a feed event");
        if keys.contains(&event.key()) {
            stream.delete_message(seq).await.expect("delete");
            lost += 1;
        }
    }
    lost
}

async fn count_events(db: &Database, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&pool(db))
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_stream_lost_after_acknowledging_them_still_reach_every_consumer() {
    let test = TestDatabase::postgres().await;
    let url =
        std::env::var("EATS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = async_nats::connect(&url).await.expect("NATS");
    let jetstream = jetstream::new(client.clone());
    let topology =
        Topology::namespaced(&format!("r{}", uuid::Uuid::new_v4().simple())).expect("valid");
    ensure_stream(&jetstream, &topology, &StreamSettings::default())
        .await
        .expect("stream");
    let relay = Relay::new(&test.db, jetstream.clone(), topology.clone()).expect("relay");

    // An order is placed and paid for; the process manager has yet to record the payment on
    // the order (PaymentApproved -> OrderPaid).
    let aggregates = scenario::aggregates(&test.db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let order = OrderId::new();
    aggregates
        .orders
        .execute_with_metadata(
            &order.to_string(),
            eats_domain::order::OrderCommand::PlaceOrder {
                order_id: order,
                customer,
                store_id: store.id,
                lines: vec![eats_domain::order::LineRequest {
                    item_id: store.item,
                    quantity: 2,
                }],
                deliver_to: eats_domain::order::DeliveryAddress {
                    address: "서울 중구 을지로 12".into(),
                    location: scenario::city_hall(),
                },
            },
            EventMetadata::for_command(order.0, Actor::Customer(customer), chrono::Utc::now())
                .to_map(),
        )
        .await
        .expect("place");
    let payment = PaymentId::for_order(order);
    aggregates
        .payments
        .execute_with_metadata(
            &payment.to_string(),
            PaymentCommand::PayForOrder {
                payment_id: payment,
                order_id: order,
                customer,
                amount: Won(9_000),
                payment_key: "tgen_recovery".into(),
            },
            EventMetadata::for_command(order.0, Actor::Customer(customer), chrono::Utc::now())
                .to_map(),
        )
        .await
        .expect("pay");

    // Relayed: JetStream acknowledged every event and the outbox is empty; each is noted.
    while relay.publish_batch().await.expect("relay") > 0 {}
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool(&test.db))
        .await
        .expect("outbox");
    let noted: i64 = sqlx::query_scalar("SELECT count(*) FROM relayed")
        .fetch_one(&pool(&test.db))
        .await
        .expect("relayed");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool(&test.db))
        .await
        .expect("events");
    assert_eq!((outbox, noted), (0, events), "relayed, deleted and noted");

    // Then the crash: the order's first event (a later one, OrderPaid, will show the gap) and
    // the payment's only event (nothing later will show it) are gone from the stream.
    let placed = format!("Order-{order}-1");
    let approved = format!("Payment-{payment}-1");
    let lost = lose(&jetstream, &topology, &[placed, approved]).await;
    assert_eq!(lost, 2);

    // The consumers start on what is left, each recorded, with the reconciler beside them.
    let feed = JetStreamFeed::new(jetstream.clone(), topology.clone());
    let inner: Vec<Arc<dyn EventHandler>> = vec![
        Arc::new(Projector::new(OrderViewProjection, test.db.clone())),
        Arc::new(ProcessManager::new(
            aggregates.clone(),
            test.db.clone(),
            SagaSettings::default(),
        )),
    ];
    let recorded: Vec<Arc<Recorded>> = inner
        .into_iter()
        .map(|handler| Arc::new(Recorded::new(handler, pool(&test.db))))
        .collect();
    let settings = RecoverySettings {
        interval: Duration::from_millis(500),
        settle: Duration::from_millis(500),
        ..RecoverySettings::default()
    };
    let reconciler = Reconciler::new(
        pool(&test.db),
        feed.clone(),
        recorded.clone(),
        client.clone(),
        settings,
    );
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (relay, shutdown) = (relay.clone(), shutdown.clone());
        tasks.spawn(async move { relay.run(shutdown).await });
    }
    for handler in &recorded {
        let (feed, handler, shutdown) = (feed.clone(), handler.clone(), shutdown.clone());
        tasks.spawn(async move { feed.run(handler.as_ref(), shutdown).await });
    }
    {
        let shutdown = shutdown.clone();
        tasks.spawn(async move { reconciler.run(shutdown).await });
    }

    // The process manager gets the lost approval from the reconciler and records the
    // payment; OrderPaid reaches the order view, which reads the lost OrderPlaced first.
    wait_until("the order is paid and its view shows it", || async {
        order_view::fetch(&test.db, &order.to_string())
            .await
            .expect("view")
            .is_some_and(|view| view.status == "paid")
    })
    .await;
    let stored = test
        .db
        .event_store::<Order>()
        .load_aggregate(&order.to_string())
        .await
        .expect("order");
    assert_eq!(stored.aggregate.status(), OrderStatus::Paid);
    let view = order_view::fetch(&test.db, &order.to_string())
        .await
        .expect("view")
        .expect("a view");
    assert_eq!(
        (view.customer_id, view.total),
        (customer.to_string(), 9_000),
        "the view has what only the lost OrderPlaced says"
    );
    assert_eq!(count_events(&test.db, "OrderPaid").await, 1, "paid once");

    // Every consumer's position reached the end of every aggregate it reads.
    for (consumer, kind, id) in [
        ("order_view", "Order", order.to_string()),
        ("process_manager", "Payment", payment.to_string()),
        ("process_manager", "Order", order.to_string()),
    ] {
        wait_until(&format!("{consumer} reached the end of {kind} {id}"), || {
            let (pool, id) = (pool(&test.db), id.clone());
            async move {
                // A projector keeps its own positions; the others have theirs recorded.
                let position: Option<i64> = sqlx::query_scalar(
                    "SELECT sequence FROM projection_positions \
                     WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3 \
                     UNION ALL SELECT sequence FROM consumer_positions \
                     WHERE consumer = $1 AND aggregate_type = $2 AND aggregate_id = $3",
                )
                .bind(consumer)
                .bind(kind)
                .bind(&id)
                .fetch_optional(&pool)
                .await
                .expect("position");
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
                )
                .bind(kind)
                .bind(&id)
                .fetch_one(&pool)
                .await
                .expect("last");
                position.is_some() && position == last
            }
        })
        .await;
    }

    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    // The notes go once older than the window.
    let forgotten = eats_nats::recovery::forget_relayed(&pool(&test.db), Duration::ZERO)
        .await
        .expect("forget");
    assert!(forgotten as i64 >= events, "{forgotten} notes forgotten");
    let _ = jetstream.delete_stream(&topology.stream).await;
    test.cleanup().await;
}

/// The events of an order that has at least `at_least` of them, in order.
async fn an_orders_events(db: &Database, at_least: i64) -> Vec<FeedEvent> {
    let order: String = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'Order' \
         GROUP BY aggregate_id HAVING count(*) >= $1 LIMIT 1",
    )
    .bind(at_least)
    .fetch_one(&pool(db))
    .await
    .expect("an order with enough events");
    db.history("Order", &order)
        .await
        .expect("history")
        .into_iter()
        .map(|e| FeedEvent::from_serialized(e).expect("event"))
        .collect()
}

/// Counts what it is handed, per event key.
#[derive(Default)]
struct Counting(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl EventHandler for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn aggregate_types(&self) -> &[&'static str] {
        &["Order"]
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), eats_feed::HandlerError> {
        self.0.lock().expect("lock").push(event.key());
        Ok(())
    }
}

/// Two replicas share a consumer: each remembers the positions it recorded, and one that
/// remembers an aggregate behind what the other has since recorded checks the table before
/// it takes the difference for events the stream lost (nothing is read from the event store
/// or handed over twice). Positions of runs finishing together are all recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_remembers_an_old_position_asks_the_table_before_refeeding() {
    let test = TestDatabase::postgres().await;
    scenario::history(&test.db, 8).await;
    let events = an_orders_events(&test.db, 4).await;
    let (a, b) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
    let replica_a = Recorded::new(a.clone(), pool(&test.db));
    let replica_b = Recorded::new(b.clone(), pool(&test.db));

    replica_a.handle(&events[0]).await.expect("a: 1");
    replica_b
        .handle_batch(&events[1..3])
        .await
        .expect("b: 2, 3");
    replica_a.handle(&events[3]).await.expect("a: 4");
    assert_eq!(
        *a.0.lock().expect("lock"),
        [events[0].key(), events[3].key()],
        "replica a was handed only its own events"
    );
    // Redelivered to the replica that handled it: remembered, skipped without a read.
    replica_b.handle(&events[1]).await.expect("b: 2 again");
    assert_eq!(b.0.lock().expect("lock").len(), 2);

    // Many runs at once: every position is recorded.
    let orders: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'Order'",
    )
    .fetch_all(&pool(&test.db))
    .await
    .expect("orders");
    let firsts: Vec<FeedEvent> = futures::future::join_all(orders.iter().map(|id| async {
        let first = test
            .db
            .history("Order", id)
            .await
            .expect("history")
            .remove(0);
        FeedEvent::from_serialized(first).expect("event")
    }))
    .await;
    let fresh = Recorded::new(Arc::new(Counting::default()), pool(&test.db));
    futures::future::join_all(firsts.iter().map(|e| fresh.handle(e)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("handled");
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM consumer_positions WHERE consumer = 'counting' AND sequence >= 1",
    )
    .fetch_one(&pool(&test.db))
    .await
    .expect("count");
    assert_eq!(recorded as usize, orders.len());
    test.cleanup().await;
}
