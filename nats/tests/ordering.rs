//! The JetStream feed keeps each aggregate's events in order when a handler refuses one,
//! against the real NATS JetStream on this machine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_trait::async_trait;
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_nats::{ensure_stream, JetStreamFeed, StreamSettings, Topology};
use tokio_util::sync::CancellationToken;

async fn test_stream() -> (jetstream::Context, Topology) {
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
    (jetstream, topology)
}

fn event(aggregate_id: &str, sequence: u64) -> FeedEvent {
    FeedEvent {
        aggregate_type: "Order".into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        event_type: "OrderPlaced".into(),
        event_version: "1".into(),
        payload: serde_json::json!({}),
        metadata: HashMap::new(),
    }
}

async fn publish(jetstream: &jetstream::Context, topology: &Topology, events: &[FeedEvent]) {
    for event in events {
        let subject = topology
            .subject(&event.aggregate_type, &event.event_type)
            .expect("subject");
        let message = jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(event).expect("json").into())
            .message_id(event.key());
        jetstream
            .send_publish(subject, message)
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
}

/// Refuses one event for as long as another (of another aggregate) has not been handled, and
/// at least twice, recording every attempt and every success.
struct RefusesOneEvent {
    refused: String,
    release_after: String,
    refusals: Mutex<usize>,
    attempts: Mutex<Vec<String>>,
    handled: Mutex<Vec<String>>,
}

#[async_trait]
impl EventHandler for RefusesOneEvent {
    fn name(&self) -> &str {
        "refuses_one_event"
    }
    fn aggregate_types(&self) -> &[&'static str] {
        &["Order"]
    }
    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        let key = event.key();
        self.attempts.lock().expect("lock").push(key.clone());
        if key == self.refused {
            let released = self
                .handled
                .lock()
                .expect("lock")
                .contains(&self.release_after);
            let mut refusals = self.refusals.lock().expect("lock");
            if !released || *refusals < 2 {
                *refusals += 1;
                return Err(HandlerError::new(self.name(), event, "not yet"));
            }
        }
        self.handled.lock().expect("lock").push(key);
        Ok(())
    }
    /// All or nothing, as a transactional handler would be: a batch holding the refused
    /// event is refused whole without effect, and the feed offers its events one by one.
    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        if let Some(event) = events.iter().find(|e| e.key() == self.refused) {
            return Err(HandlerError::new(self.name(), event, "batch refused"));
        }
        for event in events {
            self.handle(event).await?;
        }
        Ok(())
    }
}

fn keys(aggregate: &str, sequences: std::ops::RangeInclusive<u64>) -> Vec<String> {
    sequences.map(|s| event(aggregate, s).key()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_holds_back_its_aggregates_later_events_but_no_others() {
    let (jetstream, topology) = test_stream().await;
    let handler = RefusesOneEvent {
        refused: event("a", 2).key(),
        release_after: event("b", 5).key(),
        refusals: Mutex::new(0),
        attempts: Mutex::new(Vec::new()),
        handled: Mutex::new(Vec::new()),
    };
    // Small pulls, so the refused event and those after it arrive in different pulls.
    let feed = JetStreamFeed::new(jetstream.clone(), topology.clone()).with_batch(2);
    let mut first = Vec::new();
    for sequence in 1..=3 {
        first.extend([event("a", sequence), event("b", sequence)]);
    }
    publish(&jetstream, &topology, &first).await;

    let shutdown = CancellationToken::new();
    let check = async {
        // Once a-2 has been refused, more of both aggregates arrive in later pulls.
        wait_until(Duration::from_secs(60), "a-2 refused once", || {
            *handler.refusals.lock().expect("lock") >= 1
        })
        .await;
        let mut later = Vec::new();
        for sequence in 4..=5 {
            later.extend([event("a", sequence), event("b", sequence)]);
        }
        publish(&jetstream, &topology, &later).await;
        wait_until(Duration::from_secs(60), "all ten events handled", || {
            handler.handled.lock().expect("lock").len() >= 10
        })
        .await;
        shutdown.cancel();
    };
    tokio::join!(feed.run(&handler, shutdown.clone()), check);

    let handled = handler.handled.lock().expect("lock").clone();
    let attempts = handler.attempts.lock().expect("lock").clone();
    let of = |aggregate: &str| -> Vec<String> {
        let prefix = format!("Order-{aggregate}-");
        handled
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    };
    assert_eq!(
        of("a"),
        keys("a", 1..=5),
        "a's events in order, each once: {attempts:?}"
    );
    assert_eq!(
        of("b"),
        keys("b", 1..=5),
        "b's events in order, each once: {attempts:?}"
    );
    let a2_done = handled
        .iter()
        .position(|k| k == &handler.refused)
        .expect("a-2 handled");
    let b5_done = handled
        .iter()
        .position(|k| k == &handler.release_after)
        .expect("b-5 handled");
    assert!(
        b5_done < a2_done,
        "b went on while a-2 was refused: {handled:?}"
    );
    let a2_success_attempt = attempts.len()
        - 1
        - attempts
            .iter()
            .rev()
            .position(|k| k == &handler.refused)
            .expect("attempted");
    for later in keys("a", 3..=5) {
        let first_try = attempts
            .iter()
            .position(|k| k == &later)
            .expect("attempted");
        assert!(
            first_try > a2_success_attempt,
            "{later} was offered before a-2 succeeded: {attempts:?}"
        );
    }
    let _ = jetstream.delete_stream(&topology.stream).await;
}

async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Takes a second over every event of aggregate `slow`, records the order of everything it
/// handles, and refuses `refused` once.
struct SlowOnOneAggregate {
    slow: String,
    refused: String,
    refusals: Mutex<usize>,
    handled: Mutex<Vec<(String, Instant)>>,
}

#[async_trait]
impl EventHandler for SlowOnOneAggregate {
    fn name(&self) -> &str {
        "slow_on_one_aggregate"
    }
    fn aggregate_types(&self) -> &[&'static str] {
        &["Order"]
    }
    fn concurrency(&self) -> usize {
        64
    }
    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        if event.aggregate_id == self.slow {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if event.key() == self.refused {
            let mut refusals = self.refusals.lock().expect("lock");
            if *refusals == 0 {
                *refusals += 1;
                return Err(HandlerError::new(self.name(), event, "not yet"));
            }
        }
        self.handled
            .lock()
            .expect("lock")
            .push((event.key(), Instant::now()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_consumer_lets_a_slow_aggregate_hold_up_only_itself_and_keeps_each_in_order() {
    let (jetstream, topology) = test_stream().await;
    let handler = SlowOnOneAggregate {
        slow: "slow".into(),
        refused: event("fast-3", 2).key(),
        refusals: Mutex::new(0),
        handled: Mutex::new(Vec::new()),
    };
    let mut events = Vec::new();
    for sequence in 1..=3 {
        events.push(event("slow", sequence));
        for other in 0..20 {
            events.push(event(&format!("fast-{other}"), sequence));
        }
    }
    publish(&jetstream, &topology, &events).await;
    let feed = JetStreamFeed::new(jetstream.clone(), topology.clone()).with_batch(16);
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let check = async {
        wait_until(Duration::from_secs(60), "all 63 events handled", || {
            handler.handled.lock().expect("lock").len() >= 63
        })
        .await;
        shutdown.cancel();
    };
    tokio::join!(feed.run(&handler, shutdown.clone()), check);

    let handled = handler.handled.lock().expect("lock").clone();
    let keys: Vec<&String> = handled.iter().map(|(k, _)| k).collect();
    for aggregate in std::iter::once("slow".to_string()).chain((0..20).map(|i| format!("fast-{i}")))
    {
        let prefix = format!("Order-{aggregate}-");
        let of: Vec<String> = keys
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .map(|k| k.to_string())
            .collect();
        assert_eq!(
            of,
            self::keys(&aggregate, 1..=3),
            "{aggregate} in order, once each"
        );
    }
    // The other aggregates did not queue behind the slow one's three seconds: all sixty were
    // done before its second event.
    let slow_second = handled
        .iter()
        .find(|(k, _)| k == &event("slow", 2).key())
        .map(|(_, at)| *at)
        .expect("handled");
    let fast_done = handled
        .iter()
        .filter(|(k, _)| k.starts_with("Order-fast-"))
        .map(|(_, at)| *at)
        .max()
        .expect("handled");
    assert!(
        fast_done < slow_second,
        "the fast aggregates waited for the slow one: done {:?} after the start, the slow \
         one's second event at {:?}",
        fast_done - started,
        slow_second - started
    );
    // Each message was acknowledged once its run ended: nothing is left pending.
    let info = jetstream
        .get_stream(&topology.stream)
        .await
        .expect("stream")
        .consumer_info(JetStreamFeed::consumer_name(&handler))
        .await
        .expect("consumer");
    assert_eq!(
        (info.num_ack_pending, info.num_pending),
        (0, 0),
        "every event acknowledged"
    );
    let _ = jetstream.delete_stream(&topology.stream).await;
}
