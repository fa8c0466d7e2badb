//! Fan-out against the real Postgres and NATS JetStream on this machine: the outbox relay
//! across crashes and leader changes, and projectors fed by JetStream across crashes and
//! out-of-order redelivery.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_trait::async_trait;
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_nats::{ensure_stream, JetStreamFeed, Relay, StreamSettings, Topology};
use eats_projections::audit::AuditTimelineProjection;
use eats_projections::order_view::{self, OrderViewProjection};
use eats_projections::{Projection, Projector};
use eats_store::testing::scenario::{self, Stage};
use eats_store::testing::TestDatabase;
use eats_store::{Backend, Database};
use tokio_util::sync::CancellationToken;

/// A JetStream stream of this test's own, deleted afterwards.
struct TestNats {
    jetstream: jetstream::Context,
    topology: Topology,
}

impl TestNats {
    async fn new() -> Self {
        let url =
            std::env::var("EATS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let client = async_nats::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("these tests need NATS with JetStream at {url}: {e}"));
        let jetstream = jetstream::new(client);
        let topology =
            Topology::namespaced(&format!("t{}", uuid::Uuid::new_v4().simple())).expect("valid");
        ensure_stream(&jetstream, &topology, &StreamSettings::default())
            .await
            .expect("create stream");
        Self {
            jetstream,
            topology,
        }
    }

    /// Every message in the stream, in stream order.
    async fn messages(&self) -> Vec<FeedEvent> {
        let mut stream = self
            .jetstream
            .get_stream(&self.topology.stream)
            .await
            .expect("stream");
        let state = stream.info().await.expect("info").state.clone();
        let mut events = Vec::new();
        if state.messages == 0 {
            return events;
        }
        for seq in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(seq).await.expect("message");
            events.push(serde_json::from_slice(&message.payload).expect("a feed event"));
        }
        events
    }

    async fn cleanup(self) {
        let _ = self.jetstream.delete_stream(&self.topology.stream).await;
    }
}

async fn outbox_len(db: &Database) -> i64 {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// The backend pid holding the relay's leader lock in this test's database, if any.
async fn leader_session(db: &Database) -> Option<i32> {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid::bigint = $1 AND objid::bigint = $2",
    )
    .bind(eats_nats::relay::LEADER_LOCK >> 32)
    .bind(eats_nats::relay::LEADER_LOCK & 0xffff_ffff)
    .fetch_optional(pool)
    .await
    .expect("locks")
}

async fn event_count(db: &Database) -> usize {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count");
    n as usize
}

/// Asserts the stream holds every stored event exactly once, each aggregate's in order.
fn assert_exactly_once_in_order(messages: &[FeedEvent], expected: usize) {
    let keys: HashSet<String> = messages.iter().map(FeedEvent::key).collect();
    assert_eq!(messages.len(), expected, "one message per event");
    assert_eq!(keys.len(), expected, "no event twice");
    let mut last: BTreeMap<(String, String), u64> = BTreeMap::new();
    for m in messages {
        let previous = last.insert(
            (m.aggregate_type.clone(), m.aggregate_id.clone()),
            m.sequence,
        );
        assert_eq!(
            previous.unwrap_or(0) + 1,
            m.sequence,
            "{} out of order",
            m.key()
        );
    }
}

/// A relay on `test`'s outbox, started and leading, that never polls when idle: only a
/// commit's wake-up can start a publishing spell. Cancel the token to stop it.
async fn leading_relay_that_never_polls(
    test: &TestDatabase,
    nats: &TestNats,
) -> (Relay, CancellationToken, tokio::task::JoinHandle<()>) {
    let relay = Relay::new(&test.db, nats.jetstream.clone(), nats.topology.clone())
        .expect("relay")
        .with_idle_poll(Duration::from_secs(3600));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (relay, shutdown) = (relay.clone(), shutdown.clone());
        async move { relay.run(shutdown).await }
    });
    wait_until(Duration::from_secs(60), || async {
        leader_session(&test.db).await.is_some()
    })
    .await;
    (relay, shutdown, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_is_woken_by_commits_not_by_polling() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    let (relay, shutdown, task) = leading_relay_that_never_polls(&test, &nats).await;
    // Another process's commits: only its notification, sent after each commit, can reach
    // the relay (this process's own commits would wake it directly).
    let writer = Database::connect_postgres(test.url.as_deref().expect("postgres"), 4)
        .await
        .expect("a second connection pool");
    for _ in 0..2 {
        // Past the busy spell after any publishing: the relay waits for a notification.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        scenario::history(&writer, 3).await;
        wait_until(Duration::from_secs(60), || async {
            outbox_len(&test.db).await == 0
        })
        .await;
    }
    assert_exactly_once_in_order(&nats.messages().await, event_count(&test.db).await);
    assert_eq!(relay.duplicates(), 0, "each row published once");
    shutdown.cancel();
    task.await.expect("relay stops cleanly");
    nats.cleanup().await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leading_relay_takes_its_own_processs_commits_without_notifications() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    let pool = match test.db.backend() {
        Backend::Postgres(pool) => pool.clone(),
        Backend::Sqlite(_) => unreachable!("a Postgres test"),
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen(eats_store::database::OUTBOX_CHANNEL)
        .await
        .expect("listen");
    let (relay, shutdown, task) = leading_relay_that_never_polls(&test, &nats).await;
    // Past the busy spell of any publishing: only the commits themselves can wake it.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    scenario::history(&test.db, 3).await;
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 0
    })
    .await;
    assert_exactly_once_in_order(&nats.messages().await, event_count(&test.db).await);
    let heard = tokio::time::timeout(Duration::from_millis(500), listener.try_recv()).await;
    assert!(
        heard.is_err(),
        "no notification while the relay leads here: {heard:?}"
    );
    assert_eq!(relay.duplicates(), 0, "each row published once");
    // Once it stops leading, a leader elsewhere needs them again: one notification at
    // once for the commits that skipped theirs, then one per commit.
    shutdown.cancel();
    task.await.expect("relay stops cleanly");
    for commit in [false, true] {
        if commit {
            scenario::history(&test.db, 1).await;
        }
        let heard = tokio::time::timeout(Duration::from_secs(10), listener.try_recv())
            .await
            .expect("a notification once no relay leads here")
            .expect("listener");
        assert_eq!(
            heard.map(|n| n.channel().to_string()).as_deref(),
            Some(eats_store::database::OUTBOX_CHANNEL)
        );
    }
    nats.cleanup().await;
    test.cleanup().await;
}

/// Puts an event straight into the outbox, as the trigger would, with a payload of `size`
/// bytes or so.
async fn outbox_row(db: &Database, aggregate_id: &str, sequence: i64, size: usize) {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    sqlx::query(
        "INSERT INTO outbox (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('Order', $1, $2, 'OrderPlaced', '1', $3, '{}')",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(serde_json::json!({ "padding": "x".repeat(size) }))
    .execute(pool)
    .await
    .expect("outbox row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_the_stream_refuses_holds_back_that_aggregates_later_events() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    // The stream refuses messages over 2 KiB until we raise the limit: a publish that fails
    // in the middle of a batch while the publishes around it succeed.
    let mut config = nats
        .jetstream
        .get_stream(&nats.topology.stream)
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .config
        .clone();
    config.max_message_size = 2048;
    nats.jetstream
        .update_stream(config.clone())
        .await
        .expect("limit");
    for sequence in 1..=4 {
        let big = if sequence == 2 { 4096 } else { 10 };
        outbox_row(&test.db, "held", sequence, big).await;
        outbox_row(&test.db, "free", sequence, 10).await;
    }

    let relay = Relay::new(&test.db, nats.jetstream.clone(), nats.topology.clone()).expect("relay");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (relay, shutdown) = (relay.clone(), shutdown.clone());
        async move { relay.run(shutdown).await }
    });
    // Everything the stream accepts gets through, and nothing of "held" after its refused
    // event: the outbox keeps held-2..4.
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 3
    })
    .await;
    let keys: Vec<String> = nats.messages().await.iter().map(FeedEvent::key).collect();
    assert!(
        keys.contains(&"Order-held-1".to_string())
            && !keys
                .iter()
                .any(|k| k.starts_with("Order-held-") && k != "Order-held-1"),
        "{keys:?}"
    );

    config.max_message_size = -1;
    nats.jetstream.update_stream(config).await.expect("unlimit");
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 0
    })
    .await;
    assert_exactly_once_in_order(&nats.messages().await, 8);
    shutdown.cancel();
    task.await.expect("relay stops cleanly");
    nats.cleanup().await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_crash_between_commit_and_publish_loses_nothing() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    scenario::history(&test.db, 20).await;
    let total = event_count(&test.db).await;
    assert_eq!(
        outbox_len(&test.db).await as usize,
        total,
        "every commit is in the outbox"
    );

    // Kill the relay at arbitrary points, over and over, until it has drained the outbox.
    let relay = Relay::new(&test.db, nats.jetstream.clone(), nats.topology.clone())
        .expect("relay")
        .with_batch(7);
    let mut kills = 0;
    for round in 0..40u64 {
        if outbox_len(&test.db).await == 0 {
            break;
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (relay, shutdown) = (relay.clone(), shutdown.clone());
            async move { relay.run(shutdown).await }
        });
        tokio::time::sleep(Duration::from_millis(3 + (round * 7) % 23)).await;
        task.abort();
        let _ = task.await;
        kills += 1;
    }
    assert!(
        kills > 3,
        "the relay was killed mid-way several times ({kills})"
    );
    // Restarted for good, it publishes whatever the kills left behind.
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (relay, shutdown) = (relay.clone(), shutdown.clone());
        async move { relay.run(shutdown).await }
    });
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 0
    })
    .await;
    shutdown.cancel();
    task.await.expect("relay stops cleanly");
    assert_exactly_once_in_order(&nats.messages().await, total);
    nats.cleanup().await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_relay_hands_over_to_the_standby_without_loss() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    let start = |name: &'static str| {
        let relay =
            Relay::new(&test.db, nats.jetstream.clone(), nats.topology.clone()).expect("relay");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                relay.run(shutdown).await;
                name
            }
        });
        (task, shutdown)
    };
    let (leader, _) = start("first");
    scenario::history(&test.db, 5).await;
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 0
    })
    .await;
    let (standby, standby_shutdown) = start("second");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Commands keep coming while the leader dies.
    let writer = tokio::spawn({
        let db = test.db.clone();
        async move { scenario::history(&db, 15).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The leader may be between rounds (a reconnect backoff): wait until it holds the lock.
    let waiting = Instant::now();
    let old_leader = loop {
        if let Some(pid) = leader_session(&test.db).await {
            break pid;
        }
        assert!(waiting.elapsed() < Duration::from_secs(60), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    leader.abort();
    let killed_at = Instant::now();
    // Taking over means the standby holds the leader lock; measured apart from the writer,
    // whose speed depends on the machine.
    wait_until(Duration::from_secs(30), || async {
        leader_session(&test.db)
            .await
            .is_some_and(|pid| pid != old_leader)
    })
    .await;
    let takeover = killed_at.elapsed();
    assert!(
        takeover < Duration::from_secs(10),
        "standby took over in {takeover:?}"
    );
    writer.await.expect("writer");
    wait_until(Duration::from_secs(60), || async {
        outbox_len(&test.db).await == 0
    })
    .await;

    assert_exactly_once_in_order(&nats.messages().await, event_count(&test.db).await);
    standby_shutdown.cancel();
    standby.await.expect("standby stops cleanly");
    nats.cleanup().await;
    test.cleanup().await;
}

async fn wait_until<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_rows(db: &Database) -> i64 {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    sqlx::query_scalar("SELECT count(*) FROM audit_timeline")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// A projection that would show any double application: it adds one per event applied.
struct Tally;

const TALLY: &str = "INSERT INTO tally (aggregate_id, applied) VALUES ($1, 1) \
     ON CONFLICT (aggregate_id) DO UPDATE SET applied = tally.applied + 1";

impl Projection for Tally {
    const NAME: &'static str = "tally";
    const AGGREGATE_TYPES: &'static [&'static str] =
        &["Order", "Payment", "Delivery", "Store", "Customer"];
    const TABLES: &'static [&'static str] = &["tally"];

    fn writes(
        &self,
        event: &FeedEvent,
    ) -> Result<Vec<eats_projections::sql::Write>, eats_feed::DecodeError> {
        Ok(vec![eats_projections::sql::Write::new(
            TALLY,
            vec![event.aggregate_id.as_str().into()],
        )])
    }
}

/// Per aggregate: (events in the store, times the tally applied one).
async fn tallies(db: &Database) -> Vec<(String, i64, i64)> {
    let eats_store::Backend::Postgres(pool) = db.backend() else {
        panic!("postgres");
    };
    sqlx::query_as(
        "SELECT e.aggregate_id, count(*), COALESCE(max(t.applied), 0) FROM events e \
         LEFT JOIN tally t ON t.aggregate_id = e.aggregate_id GROUP BY e.aggregate_id",
    )
    .fetch_all(pool)
    .await
    .expect("tallies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_applies_every_event_exactly_once() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    scenario::history(&test.db, 25).await;
    let total = event_count(&test.db).await;
    let relay = Relay::new(&test.db, nats.jetstream.clone(), nats.topology.clone()).expect("relay");
    while relay.publish_batch().await.expect("publish") > 0 {}

    let feed = JetStreamFeed::new(nats.jetstream.clone(), nats.topology.clone())
        .with_batch(5)
        .with_ack_wait(Duration::from_secs(1));
    let eats_store::Backend::Postgres(pool) = test.db.backend() else {
        panic!("postgres");
    };
    sqlx::query("CREATE TABLE tally (aggregate_id text PRIMARY KEY, applied bigint NOT NULL)")
        .execute(pool)
        .await
        .expect("tally table");
    let tally = Arc::new(Projector::new(Tally, test.db.clone()));
    let audit = Arc::new(Projector::new(AuditTimelineProjection, test.db.clone()));
    for round in 0..100u64 {
        if audit_rows(&test.db).await as usize == total {
            break;
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (feed, audit, tally) = (feed.clone(), audit.clone(), tally.clone());
            async move {
                tokio::join!(
                    feed.run(audit.as_ref(), shutdown.clone()),
                    feed.run(tally.as_ref(), shutdown)
                )
            }
        });
        tokio::time::sleep(Duration::from_millis(20 + (round * 13) % 60)).await;
        task.abort();
        let _ = task.await;
    }
    // Let the last run finish what the kills left unacknowledged.
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (feed, audit, tally, shutdown) =
            (feed.clone(), audit.clone(), tally.clone(), shutdown.clone());
        async move {
            tokio::join!(
                feed.run(audit.as_ref(), shutdown.clone()),
                feed.run(tally.as_ref(), shutdown)
            )
        }
    });
    wait_until(Duration::from_secs(60), || async {
        let audit_done = feed
            .lag(audit.as_ref())
            .await
            .map(|l| l.events == 0)
            .unwrap_or(false);
        let tally_done = feed
            .lag(tally.as_ref())
            .await
            .map(|l| l.events == 0)
            .unwrap_or(false);
        audit_done && tally_done
    })
    .await;
    shutdown.cancel();
    task.await.expect("feed stops");

    assert_eq!(
        audit_rows(&test.db).await as usize,
        total,
        "one timeline row per event"
    );
    for (aggregate, events, applied) in tallies(&test.db).await {
        assert_eq!(
            applied, events,
            "{aggregate}: every event applied exactly once"
        );
    }
    nats.cleanup().await;
    test.cleanup().await;
}

/// Checks, after every event, that the order's status never moves back in the lifecycle.
struct NeverBackwards {
    inner: Projector<OrderViewProjection>,
    db: Database,
    order_id: String,
    seen: std::sync::Mutex<Vec<String>>,
}

fn rank(status: &str) -> usize {
    [
        "",
        "awaiting_payment",
        "paid",
        "accepted",
        "cooking",
        "ready_for_pickup",
        "in_delivery",
        "delivered",
    ]
    .iter()
    .position(|s| *s == status)
    .unwrap_or(usize::MAX)
}

#[async_trait]
impl EventHandler for NeverBackwards {
    fn name(&self) -> &str {
        "never_backwards"
    }
    fn aggregate_types(&self) -> &[&'static str] {
        OrderViewProjection::AGGREGATE_TYPES
    }
    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.inner
            .apply(event)
            .await
            .map_err(|e| HandlerError::new("never_backwards", event, e))?;
        let status = order_view::fetch(&self.db, &self.order_id)
            .await
            .map_err(|e| HandlerError::new("never_backwards", event, e))?
            .map(|v| v.status)
            .unwrap_or_default();
        let mut seen = self.seen.lock().expect("lock");
        if let Some(previous) = seen.last() {
            assert!(
                rank(&status) >= rank(previous),
                "view moved back from {previous} to {status}"
            );
        }
        seen.push(status);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_redelivered_out_of_order_never_move_a_view_backwards() {
    let (test, nats) = (TestDatabase::postgres().await, TestNats::new().await);
    let aggregates = scenario::aggregates(&test.db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let order = scenario::drive_order(&aggregates, store, customer, 2, Stage::Delivered).await;
    let history: Vec<FeedEvent> = test
        .db
        .history("Order", &order.to_string())
        .await
        .expect("history")
        .into_iter()
        .map(|e| FeedEvent::from_serialized(e).expect("feed event"))
        .collect();
    assert_eq!(history.len(), 7);

    // JetStream hands the order's events over shuffled, some twice (as redeliveries do).
    let scrambled = [3usize, 0, 5, 1, 1, 6, 2, 4, 0, 6, 3];
    for (n, &i) in scrambled.iter().enumerate() {
        let event = &history[i];
        let subject = nats
            .topology
            .subject(&event.aggregate_type, &event.event_type)
            .expect("subject");
        let message = jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(event).expect("json").into())
            .message_id(format!("{}-delivery-{n}", event.key()));
        nats.jetstream
            .send_publish(subject, message)
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    let handler = NeverBackwards {
        inner: Projector::new(OrderViewProjection, test.db.clone()),
        db: test.db.clone(),
        order_id: order.to_string(),
        seen: std::sync::Mutex::new(Vec::new()),
    };
    let feed = JetStreamFeed::new(nats.jetstream.clone(), nats.topology.clone());
    let shutdown = CancellationToken::new();
    let run = feed.run(&handler, shutdown.clone());
    let check = async {
        wait_until(Duration::from_secs(60), || async {
            feed.lag(&handler)
                .await
                .map(|l| l.events == 0)
                .unwrap_or(false)
                && handler.seen.lock().expect("lock").len() == scrambled.len()
        })
        .await;
        shutdown.cancel();
    };
    tokio::join!(run, check);

    let view = order_view::fetch(&test.db, &order.to_string())
        .await
        .expect("read")
        .expect("view");
    assert_eq!(view.status, "delivered");
    assert!(view.paid_at.is_some() && view.delivered_at.is_some() && view.rider_id.is_some());
    nats.cleanup().await;
    test.cleanup().await;
}
