//! A whole order lifecycle through the real feeds (embedded SQLite; Postgres with the outbox
//! relay and JetStream) to a stand-in webhook: exactly one message per status change, in
//! order, also when the notifier is killed mid-run and restarted, with two replicas, and
//! nothing at all from a replay or a projection rebuild.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ok, Answer, StandIn};
use cqrs_es::AggregateError;
use eats_domain::customer::CustomerCommand;
use eats_domain::delivery::DeliveryCommand;
use eats_domain::order::OrderCommand;
use eats_domain::payment::PaymentCommand;
use eats_domain::{
    Actor, CustomerId, DeliveryId, EventMetadata, GeoPoint, OrderId, PaymentId, RiderId, Won,
};
use eats_feed::{EmbeddedFeed, EventHandler};
use eats_nats::{ensure_stream, JetStreamFeed, Relay, StreamSettings, Topology};
use eats_notify::provider::webhook::WebhookSender;
use eats_notify::{records, Dispatcher, Notifier, NotifySettings};
use eats_store::testing::scenario::{self, OpenStore};
use eats_store::testing::{Kind, TestDatabase};
use eats_store::{Aggregates, Database};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How the notifier gets events in this test.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Fanout {
    Embedded,
    JetStream {
        jetstream: async_nats::jetstream::Context,
        topology: Topology,
    },
}

impl Fanout {
    async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => Fanout::Embedded,
            Kind::Postgres => {
                let url = std::env::var("EATS_TEST_NATS_URL")
                    .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
                let client = async_nats::connect(&url).await.unwrap_or_else(|e| {
                    panic!("these tests need NATS with JetStream at {url}: {e}")
                });
                let jetstream = async_nats::jetstream::new(client);
                let topology = Topology::namespaced(&format!("n{}", uuid::Uuid::new_v4().simple()))
                    .expect("valid");
                ensure_stream(&jetstream, &topology, &StreamSettings::default())
                    .await
                    .expect("stream");
                Fanout::JetStream {
                    jetstream,
                    topology,
                }
            }
        }
    }

    async fn cleanup(&self) {
        if let Fanout::JetStream {
            jetstream,
            topology,
        } = self
        {
            let _ = jetstream.delete_stream(&topology.stream).await;
        }
    }
}

/// One notifier replica (consumer and dispatcher), killable.
struct Replica {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

fn settings() -> NotifySettings {
    NotifySettings {
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(100),
        first_backoff: Duration::from_millis(100),
        ..NotifySettings::default()
    }
}

impl Replica {
    fn start(db: &Database, fanout: &Fanout, hook: &str) -> Self {
        let provider: Arc<dyn eats_notify::Provider> = Arc::new(
            WebhookSender::new(hook, "hook-secret", Duration::from_secs(5)).expect("client"),
        );
        let wake = Arc::new(tokio::sync::Notify::new());
        let notifier: Arc<dyn EventHandler> =
            Arc::new(Notifier::new(db.clone(), provider.clone(), wake.clone()));
        let dispatcher = Dispatcher::new(db.clone(), provider, settings(), wake);
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let stop = shutdown.clone();
        tasks.spawn(async move { dispatcher.run(stop).await });
        let stop = shutdown.clone();
        match fanout.clone() {
            Fanout::Embedded => {
                let feed = EmbeddedFeed::new(db)
                    .expect("sqlite")
                    .with_poll(Duration::from_millis(100));
                tasks.spawn(async move { feed.run(notifier.as_ref(), stop).await });
            }
            Fanout::JetStream {
                jetstream,
                topology,
            } => {
                let feed = JetStreamFeed::new(jetstream, topology);
                tasks.spawn(async move { feed.run(notifier.as_ref(), stop).await });
            }
        }
        Self { shutdown, tasks }
    }

    /// Stops it abruptly, mid-call if it is in one (like a killed process: nothing finishes).
    async fn kill(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops it after its in-flight work.
    async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The relay, for the Postgres runs.
fn start_relay(
    db: &Database,
    fanout: &Fanout,
) -> Option<(CancellationToken, tokio::task::JoinHandle<()>)> {
    let Fanout::JetStream {
        jetstream,
        topology,
    } = fanout
    else {
        return None;
    };
    let relay = Relay::new(db, jetstream.clone(), topology.clone()).expect("relay");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    Some((shutdown, tokio::spawn(async move { relay.run(stop).await })))
}

/// What the stand-in received, one entry per distinct message (retries of one idempotency
/// key count once, as a receiver deduplicating by it sees them), in arrival order.
fn delivered(hook: &StandIn) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    hook.seen()
        .into_iter()
        .filter(|s| seen.insert(s.header("Idempotency-Key").unwrap_or("").to_string()))
        .map(|s| {
            (
                s.body["recipient"]
                    .as_str()
                    .unwrap_or("")
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string(),
                s.body["template"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn wait_for(hook: &StandIn, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered(hook).len() < count {
        assert!(
            Instant::now() < deadline,
            "only {:?} arrived, waiting for {count}",
            delivered(hook)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn execute<A>(
    cqrs: &eats_store::Cqrs<A>,
    id: &str,
    command: A::Command,
    order: OrderId,
    actor: Actor,
) where
    A: eats_domain::Versioned,
    A::Command: Clone,
{
    let metadata: HashMap<String, String> =
        EventMetadata::for_command(order.0, actor, chrono::Utc::now()).to_map();
    loop {
        match cqrs
            .execute_with_metadata(id, command.clone(), metadata.clone())
            .await
        {
            Err(AggregateError::AggregateConflict) => tokio::task::yield_now().await,
            Err(e) => panic!("command on {id} failed: {e}"),
            Ok(()) => return,
        }
    }
}

/// The lifecycle, step by step: after each status change, the message about it must arrive
/// before the next step (so none is superseded), and `between` runs once in the middle.
struct Journey<'a> {
    aggregates: &'a Aggregates,
    hook: &'a StandIn,
    store: OpenStore,
    customer: CustomerId,
    expected: Vec<(String, String)>,
}

impl Journey<'_> {
    async fn expect(&mut self, messages: &[(&str, &str)]) {
        self.expected
            .extend(messages.iter().map(|(r, t)| (r.to_string(), t.to_string())));
        wait_for(self.hook, self.expected.len()).await;
    }

    async fn place_and_pay(&mut self) -> OrderId {
        let (a, store, customer) = (self.aggregates, self.store, self.customer);
        let order = OrderId::new();
        let as_customer = Actor::Customer(customer);
        execute(
            &a.orders,
            &order.to_string(),
            scenario::place_order(order, store, customer, 2),
            order,
            as_customer,
        )
        .await;
        self.expect(&[("customer", "EATS_ORDER_PLACED")]).await;
        let payment = PaymentId::for_order(order);
        execute(
            &a.payments,
            &payment.to_string(),
            PaymentCommand::PayForOrder {
                payment_id: payment,
                order_id: order,
                customer,
                amount: Won(9_000),
                payment_key: format!("tgen_{}", order.0.simple()),
            },
            order,
            as_customer,
        )
        .await;
        execute(
            &a.orders,
            &order.to_string(),
            OrderCommand::RecordPayment {
                payment_id: payment,
                amount: Won(9_000),
            },
            order,
            Actor::System,
        )
        .await;
        self.expect(&[
            ("store_owner", "EATS_STORE_NEW_ORDER"),
            ("customer", "EATS_ORDER_PAID"),
        ])
        .await;
        order
    }

    /// `between(n)` runs right after cooking finishes, while the message about it is (or
    /// soon will be) the stand-in's `n`th request.
    async fn deliver<F: std::future::Future<Output = ()>>(
        &mut self,
        order: OrderId,
        between: impl FnOnce(usize) -> F,
    ) {
        let (a, store, customer) = (self.aggregates, self.store, self.customer);
        let id = order.to_string();
        let owner = Actor::StoreOwner(store.owner);
        execute(
            &a.orders,
            &id,
            OrderCommand::AcceptOrder { by: store.owner },
            order,
            owner,
        )
        .await;
        self.expect(&[("customer", "EATS_ORDER_ACCEPTED")]).await;
        execute(
            &a.orders,
            &id,
            OrderCommand::StartCooking { by: store.owner },
            order,
            owner,
        )
        .await;
        self.expect(&[("customer", "EATS_COOKING_STARTED")]).await;
        execute(
            &a.orders,
            &id,
            OrderCommand::FinishCooking { by: store.owner },
            order,
            owner,
        )
        .await;
        between(self.hook.seen().len() + 1).await;
        self.expect(&[("customer", "EATS_ORDER_READY")]).await;
        let delivery = DeliveryId::for_order(order);
        let rider = RiderId::new();
        execute(
            &a.deliveries,
            &delivery.to_string(),
            DeliveryCommand::RequestDelivery {
                delivery_id: delivery,
                order_id: order,
                store_id: store.id,
                customer_id: customer,
                pickup: scenario::city_hall(),
                dropoff: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
                radius_m: 3_000,
            },
            order,
            Actor::System,
        )
        .await;
        execute(
            &a.deliveries,
            &delivery.to_string(),
            DeliveryCommand::ClaimDelivery {
                rider,
                rider_at: scenario::city_hall(),
            },
            order,
            Actor::Rider(rider),
        )
        .await;
        self.expect(&[("customer", "EATS_RIDER_ASSIGNED")]).await;
        execute(
            &a.deliveries,
            &delivery.to_string(),
            DeliveryCommand::PickUpDelivery { rider },
            order,
            Actor::Rider(rider),
        )
        .await;
        execute(
            &a.orders,
            &id,
            OrderCommand::RecordPickup { rider },
            order,
            Actor::System,
        )
        .await;
        self.expect(&[("customer", "EATS_ORDER_PICKED_UP")]).await;
        execute(
            &a.orders,
            &id,
            OrderCommand::ConfirmDelivery { by: customer },
            order,
            Actor::Customer(customer),
        )
        .await;
        self.expect(&[("customer", "EATS_ORDER_DELIVERED")]).await;
        execute(
            &a.deliveries,
            &delivery.to_string(),
            DeliveryCommand::CompleteDelivery,
            order,
            Actor::System,
        )
        .await;
        execute(
            &a.customers,
            &customer.to_string(),
            CustomerCommand::RecordCompletedOrder { order_id: order },
            order,
            Actor::System,
        )
        .await;
        self.expect(&[("customer", "EATS_GRADE_UPGRADED")]).await;
    }

    async fn cancel_and_refund(&mut self, order: OrderId) {
        let (a, customer) = (self.aggregates, self.customer);
        execute(
            &a.orders,
            &order.to_string(),
            OrderCommand::CancelOrder {
                by: Actor::Customer(customer),
                reason: "단순 변심".into(),
            },
            order,
            Actor::Customer(customer),
        )
        .await;
        self.expect(&[("customer", "EATS_CANCEL_REFUND")]).await;
        let payment = PaymentId::for_order(order);
        execute(
            &a.payments,
            &payment.to_string(),
            PaymentCommand::RefundPayment {
                reason: "order cancelled".into(),
            },
            order,
            Actor::System,
        )
        .await;
        self.expect(&[("customer", "EATS_REFUND_DONE")]).await;
    }
}

/// Drives two orders (one delivered, one cancelled and refunded); `between` runs while the
/// first finishes cooking.
async fn lifecycle(kind: Kind, between: Between, killed: bool, replicas: usize) {
    let test = TestDatabase::new(kind).await;
    let db = test.db.clone();
    let fanout = Fanout::new(kind).await;
    let relay = start_relay(&db, &fanout);
    let hook = StandIn::start(Answer {
        delay: Duration::from_millis(300),
        ..ok(json!({}))
    })
    .await;
    let url = format!("{}/hook", hook.url);
    let aggregates = scenario::aggregates(&db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let mut replicas_running: Vec<Replica> = (0..replicas)
        .map(|_| Replica::start(&db, &fanout, &url))
        .collect();
    let first = replicas_running.remove(0);
    let mut journey = Journey {
        aggregates: &aggregates,
        hook: &hook,
        store,
        customer,
        expected: Vec::new(),
    };
    let order = journey.place_and_pay().await;
    let mut slot = None;
    let (slot_ref, hook_ref, db_ref, fanout_ref, url_ref) = (&mut slot, &hook, &db, &fanout, &url);
    journey
        .deliver(order, move |nth| async move {
            *slot_ref = Some(between(db_ref, fanout_ref, url_ref, hook_ref, nth, first).await)
        })
        .await;
    let second = journey.place_and_pay().await;
    journey.cancel_and_refund(second).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    // Order holds per recipient; the customer's and the owner's messages about one payment
    // leave side by side.
    let per_recipient = |messages: &[(String, String)], who: &str| -> Vec<String> {
        messages
            .iter()
            .filter(|(r, _)| r == who)
            .map(|(_, t)| t.clone())
            .collect()
    };
    let got = delivered(&hook);
    for who in ["customer", "store_owner"] {
        assert_eq!(
            per_recipient(&got, who),
            per_recipient(&journey.expected, who),
            "exactly one message per status change to the {who}, in order"
        );
    }
    assert_eq!(got.len(), journey.expected.len());
    let keys: Vec<String> = hook
        .seen()
        .iter()
        .map(|s| s.header("Idempotency-Key").unwrap_or("").to_string())
        .collect();
    let rows = records::all(&db, 1_000).await.expect("records");
    assert_eq!(rows.len(), journey.expected.len(), "one record per message");
    assert!(rows.iter().all(|r| r.state == "sent"), "{rows:#?}");
    eprintln!(
        "{kind:?}: {} messages, {} requests (retries after a kill reuse the key)",
        rows.len(),
        keys.len()
    );
    if killed {
        assert!(
            keys.len() > rows.len(),
            "the kill landed mid-call, and the message was sent again with its key"
        );
    }

    if let Some(replica) = slot {
        replica.stop().await;
    }
    for replica in replicas_running {
        replica.stop().await;
    }
    if let Some((shutdown, handle)) = relay {
        shutdown.cancel();
        let _ = handle.await;
    }
    fanout.cleanup().await;
    test.cleanup().await;
}

/// What happens in the middle of the run.
type Between = for<'a> fn(
    &'a Database,
    &'a Fanout,
    &'a str,
    &'a StandIn,
    usize,
    Replica,
) -> futures::future::BoxFuture<'a, Replica>;

fn keep_running<'a>(
    _: &'a Database,
    _: &'a Fanout,
    _: &'a str,
    _: &'a StandIn,
    _: usize,
    replica: Replica,
) -> futures::future::BoxFuture<'a, Replica> {
    Box::pin(async move { replica })
}

/// Kills the replica while the provider is answering its call (the stand-in has the request,
/// the replica has not recorded the answer), then starts a fresh one.
fn kill_and_restart<'a>(
    db: &'a Database,
    fanout: &'a Fanout,
    url: &'a str,
    hook: &'a StandIn,
    nth: usize,
    replica: Replica,
) -> futures::future::BoxFuture<'a, Replica> {
    Box::pin(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while hook.seen().len() < nth {
            assert!(Instant::now() < deadline, "the request never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        replica.kill().await;
        Replica::start(db, fanout, url)
    })
}

#[tokio::test]
async fn embedded_lifecycle_sends_exactly_one_message_per_status_change_in_order() {
    lifecycle(Kind::Sqlite, keep_running, false, 1).await;
}

#[tokio::test]
async fn embedded_notifier_killed_mid_run_and_restarted_sends_each_message_once() {
    lifecycle(Kind::Sqlite, kill_and_restart, true, 1).await;
}

#[tokio::test]
async fn distributed_lifecycle_sends_exactly_one_message_per_status_change_in_order() {
    lifecycle(Kind::Postgres, keep_running, false, 1).await;
}

#[tokio::test]
async fn distributed_notifier_killed_mid_run_and_restarted_sends_each_message_once() {
    lifecycle(Kind::Postgres, kill_and_restart, true, 1).await;
}

#[tokio::test]
async fn two_distributed_replicas_send_each_message_once() {
    lifecycle(Kind::Postgres, keep_running, false, 2).await;
}
