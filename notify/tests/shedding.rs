//! Shedding and replays, one dispatcher round at a time against a stand-in webhook: a newer
//! status supersedes a queued one, a stale message is dropped, an open breaker sheds the
//! non-critical and keeps the critical queued until the provider is back, and neither a
//! replay of the feed nor a projection rebuild nor a notifier started on an old log sends
//! anything.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ok, status, StandIn};
use eats_feed::EmbeddedFeed;
use eats_notify::provider::webhook::WebhookSender;
use eats_notify::records::{self, NewRecord, Record};
use eats_notify::{template, Dispatcher, NotifySettings, Provider};
use eats_store::testing::scenario;
use eats_store::testing::{Kind, TestDatabase};
use eats_store::Database;
use serde_json::json;

fn webhook(hook: &StandIn) -> Arc<dyn Provider> {
    Arc::new(WebhookSender::new(&hook.url, "s", Duration::from_secs(5)).expect("client"))
}

fn dispatcher(db: &Database, hook: &StandIn, settings: NotifySettings) -> Dispatcher {
    Dispatcher::new(
        db.clone(),
        webhook(hook),
        settings,
        Arc::new(tokio::sync::Notify::new()),
    )
}

fn record(order: &str, template: template::Template, occurred_at: i64) -> NewRecord {
    NewRecord {
        event_key: format!("Order-{order}-{}", template.rank),
        order_id: Some(order.into()),
        recipient: "customer:c".into(),
        phone: Some("01012345678".into()),
        channel: "webhook".into(),
        template,
        parameters: BTreeMap::new(),
        occurred_at,
        skip: None,
        sms_fallback: true,
    }
}

fn by_template(rows: &[Record], code: &str) -> Record {
    rows.iter()
        .find(|r| r.template == code)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} in {rows:#?}"))
}

async fn wait_until<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "condition not met within a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_newer_status_of_the_same_order_supersedes_a_queued_one() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(ok(json!({}))).await;
    let now = records::now_ms();
    records::insert(
        &test.db,
        &[
            record("o1", template::ORDER_PLACED, now),
            record("o1", template::ORDER_PAID, now + 1),
            record("o1", template::ORDER_ACCEPTED, now + 2),
            record("o2", template::ORDER_PLACED, now),
        ],
        now,
    )
    .await
    .expect("insert");
    dispatcher(&test.db, &hook, NotifySettings::default())
        .round()
        .await
        .expect("round");
    let rows = records::all(&test.db, 100).await.expect("rows");
    let o1: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .filter(|r| r.order_id.as_deref() == Some("o1"))
        .map(|r| (r.template.as_str(), r.state.as_str(), r.reason.as_deref()))
        .collect();
    assert_eq!(
        o1,
        [
            ("EATS_ORDER_PLACED", "shed", Some("superseded")),
            ("EATS_ORDER_PAID", "shed", Some("superseded")),
            ("EATS_ORDER_ACCEPTED", "sent", None),
        ]
    );
    let sent: Vec<String> = hook
        .seen()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s.body["order_id"].as_str().unwrap_or(""),
                s.body["template"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.contains(&"o1:EATS_ORDER_ACCEPTED".to_string())
            && sent.contains(&"o2:EATS_ORDER_PLACED".to_string())
    );
    test.cleanup().await;
}

/// Recording sheds what a new message overtakes, before any dispatcher round: a queued
/// status a newer one follows, the older of two in one batch, and a message that arrives after
/// a newer one of its order. A critical message, another order's and another recipient's
/// are kept.
async fn recording_sheds_what_a_new_message_overtakes(db: &Database) {
    let now = records::now_ms();
    let insert = |batch: Vec<NewRecord>| {
        let db = db.clone();
        async move { records::insert(&db, &batch, now).await.expect("insert") }
    };
    let other_recipient = NewRecord {
        recipient: "store:s".into(),
        ..record("o1", template::ORDER_PLACED, now)
    };
    let first = insert(vec![
        record("o1", template::ORDER_PLACED, now),
        other_recipient,
        record("o2", template::ORDER_PLACED, now),
        record("o3", template::ORDER_REJECTED, now),
    ])
    .await;
    assert_eq!((first.added, first.superseded), (4, 0));

    let next = insert(vec![
        record("o1", template::ORDER_PAID, now + 1),
        // The same batch: PAID is overtaken by ACCEPTED, PLACED (recorded above) by both.
        record("o1", template::ORDER_ACCEPTED, now + 2),
        // After o3's critical message: it stays.
        record("o3", template::ORDER_CANCELLED, now + 1),
    ])
    .await;
    assert_eq!((next.added, next.superseded), (3, 2));

    // Arrives after a newer message of its order: recorded as shed.
    let late = insert(vec![record("o1", template::COOKING_STARTED, now - 5)]).await;
    assert_eq!((late.added, late.superseded), (1, 1));
    // Already recorded: neither added nor judged again.
    let again = insert(vec![record("o1", template::ORDER_PAID, now + 1)]).await;
    assert_eq!((again.added, again.superseded), (0, 0));

    let rows = records::all(db, 100).await.expect("rows");
    let mut seen: Vec<(String, String, String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r.order_id.as_deref().unwrap_or("-"), r.recipient),
                r.template.clone(),
                r.state.clone(),
                r.reason.clone(),
            )
        })
        .collect();
    seen.sort();
    let row = |who: &str, template: &str, state: &str, reason: Option<&str>| {
        (
            who.to_string(),
            template.to_string(),
            state.to_string(),
            reason.map(str::to_string),
        )
    };
    assert_eq!(
        seen,
        [
            row(
                "o1/customer:c",
                "EATS_COOKING_STARTED",
                "shed",
                Some("superseded")
            ),
            row("o1/customer:c", "EATS_ORDER_ACCEPTED", "queued", None),
            row(
                "o1/customer:c",
                "EATS_ORDER_PAID",
                "shed",
                Some("superseded")
            ),
            row(
                "o1/customer:c",
                "EATS_ORDER_PLACED",
                "shed",
                Some("superseded")
            ),
            row("o1/store:s", "EATS_ORDER_PLACED", "queued", None),
            row("o2/customer:c", "EATS_ORDER_PLACED", "queued", None),
            row("o3/customer:c", "EATS_ORDER_CANCELLED", "queued", None),
            row("o3/customer:c", "EATS_ORDER_REJECTED", "queued", None),
        ]
    );
}

/// A message being sent when a newer one is recorded is left alone (it is not queued), but if
/// the send fails and it goes back to the queue, it is shed then: it would otherwise go out
/// before the newer status, long before the next sweep.
async fn a_message_sent_in_vain_after_a_newer_one_came_is_shed_not_retried(db: &Database) {
    let now = records::now_ms();
    records::insert(db, &[record("o1", template::ORDER_PLACED, now)], now)
        .await
        .expect("insert");
    let claimed = records::claim(db, now, 60_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let newer = records::insert(db, &[record("o1", template::ORDER_PAID, now + 1)], now)
        .await
        .expect("insert");
    assert_eq!(
        (newer.added, newer.superseded),
        (1, 0),
        "being sent: not shed"
    );
    let retry = records::Outcome::Retry {
        at: now,
        reason: "provider busy".into(),
    };
    records::finish(db, &claimed[0].id, "webhook", &retry, true, now)
        .await
        .expect("finish");
    let rows = records::all(db, 100).await.expect("rows");
    let placed = by_template(&rows, "EATS_ORDER_PLACED");
    assert_eq!(
        (placed.state.as_str(), placed.reason.as_deref()),
        ("shed", Some("superseded"))
    );
    assert_eq!(by_template(&rows, "EATS_ORDER_PAID").state, "queued");
    // A retry nothing overtook goes back to the queue.
    let claimed = records::claim(db, now, 60_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    records::finish(db, &claimed[0].id, "webhook", &retry, true, now)
        .await
        .expect("finish");
    let rows = records::all(db, 100).await.expect("rows");
    let paid = by_template(&rows, "EATS_ORDER_PAID");
    assert_eq!(
        (paid.state.as_str(), paid.reason.as_deref()),
        ("queued", Some("provider busy"))
    );
}

/// The sweep sheds a queued message a newer one overtook that recording could not see (two
/// batches recorded at once, each blind to the other: made here by queueing a shed one again).
async fn the_sweep_sheds_what_recording_missed(db: &Database) {
    let now = records::now_ms();
    records::insert(
        db,
        &[
            record("o1", template::ORDER_PAID, now + 1),
            record("o1", template::ORDER_PLACED, now),
            record("o2", template::ORDER_PLACED, now),
        ],
        now,
    )
    .await
    .expect("insert");
    eats_store::on_pool!(db.for_notification_updates(), |pool| sqlx::query(
        "UPDATE notifications SET state = 'queued', reason = NULL WHERE state = 'shed'"
    )
    .execute(pool)
    .await
    .map(drop))
    .expect("queueing it again");
    assert_eq!(records::shed_superseded(db).await.expect("sweep"), 1);
    let rows = records::all(db, 100).await.expect("rows");
    let states: Vec<(Option<&str>, &str, &str)> = rows
        .iter()
        .map(|r| (r.order_id.as_deref(), r.template.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(states.len(), 3);
    assert!(states.contains(&(Some("o1"), "EATS_ORDER_PLACED", "shed")));
    assert!(states.contains(&(Some("o1"), "EATS_ORDER_PAID", "queued")));
    assert!(states.contains(&(Some("o2"), "EATS_ORDER_PLACED", "queued")));
}

eats_store::on_both_backends!(
    recording_sheds_what_a_new_message_overtakes,
    a_message_sent_in_vain_after_a_newer_one_came_is_shed_not_retried,
    the_sweep_sheds_what_recording_missed,
);

#[tokio::test]
async fn messages_past_their_freshness_deadline_are_shed_money_ones_later() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(ok(json!({}))).await;
    let now = records::now_ms();
    let two_minutes_ago = now - 120_000;
    records::insert(
        &test.db,
        &[
            record("o1", template::COOKING_STARTED, two_minutes_ago),
            record("o2", template::ORDER_PAID, two_minutes_ago),
            record("o3", template::REFUND_DONE, two_minutes_ago),
            record("o4", template::ORDER_REJECTED, now - 7_200_000),
        ],
        now,
    )
    .await
    .expect("insert");
    dispatcher(&test.db, &hook, NotifySettings::default())
        .round()
        .await
        .expect("round");
    let rows = records::all(&test.db, 100).await.expect("rows");
    let state = |code: &str| {
        let r = by_template(&rows, code);
        (r.state, r.reason)
    };
    assert_eq!(
        state("EATS_COOKING_STARTED"),
        ("shed".into(), Some("stale".into()))
    );
    assert_eq!(state("EATS_ORDER_PAID"), ("sent".into(), None));
    assert_eq!(state("EATS_REFUND_DONE"), ("sent".into(), None));
    assert_eq!(
        state("EATS_ORDER_REJECTED"),
        ("shed".into(), Some("stale".into())),
        "two hours is past even the money deadline"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn an_open_breaker_sheds_the_non_critical_and_keeps_the_critical_until_the_provider_recovers()
{
    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(status(503, json!({"message": "overloaded"}))).await;
    let now = records::now_ms();
    records::insert(
        &test.db,
        &[
            record("o1", template::COOKING_STARTED, now),
            record("o2", template::ORDER_READY, now + 1),
            record("o3", template::REFUND_DONE, now + 2),
        ],
        now,
    )
    .await
    .expect("insert");
    let settings = NotifySettings {
        breaker_failures: 1,
        breaker_open: Duration::from_millis(300),
        // The retry comes after the breaker has closed again.
        first_backoff: Duration::from_secs(1),
        concurrency: 1,
        ..NotifySettings::default()
    };
    let dispatcher = dispatcher(&test.db, &hook, settings);
    dispatcher.round().await.expect("round");
    let rows = records::all(&test.db, 100).await.expect("rows");
    let state = |code: &str| {
        let r = by_template(&rows, code);
        (
            r.state,
            r.reason
                .map(|r| r.split(':').next().unwrap_or("").to_string()),
            r.attempts,
        )
    };
    assert_eq!(
        state("EATS_COOKING_STARTED"),
        ("queued".into(), Some("unavailable".into()), 1),
        "the failure that opened the breaker is retried"
    );
    assert_eq!(
        state("EATS_ORDER_READY"),
        ("shed".into(), Some("breaker_open".into()), 0)
    );
    assert_eq!(
        state("EATS_REFUND_DONE"),
        ("queued".into(), Some("breaker_open".into()), 0),
        "critical: kept"
    );
    assert_eq!(
        hook.seen().len(),
        1,
        "an open breaker does not call the provider"
    );

    hook.answer_by_default(ok(json!({})));
    wait_until(|| async {
        dispatcher.round().await.expect("round");
        let rows = records::all(&test.db, 100).await.expect("rows");
        rows.iter().filter(|r| r.state == "sent").count() == 2
    })
    .await;
    let rows = records::all(&test.db, 100).await.expect("rows");
    assert_eq!(by_template(&rows, "EATS_REFUND_DONE").state, "sent");
    assert_eq!(by_template(&rows, "EATS_COOKING_STARTED").state, "sent");
    assert_eq!(by_template(&rows, "EATS_ORDER_READY").state, "shed");
    test.cleanup().await;
}

async fn run_notifier_until_idle(db: &Database, hook: &StandIn, settings: NotifySettings) {
    common::run_notifier_until_idle(db, webhook(hook), settings).await;
}

#[tokio::test]
async fn a_replay_of_the_feed_and_a_projection_rebuild_send_nothing() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(ok(json!({}))).await;
    scenario::history(&test.db, 5).await;
    run_notifier_until_idle(&test.db, &hook, NotifySettings::default()).await;
    let first = hook.seen().len();
    assert!(first > 5, "the history was notified: {first}");

    EmbeddedFeed::new(&test.db)
        .expect("sqlite")
        .reset(eats_notify::consumer::NAME)
        .await
        .expect("reset");
    run_notifier_until_idle(&test.db, &hook, NotifySettings::default()).await;
    assert_eq!(
        hook.seen().len(),
        first,
        "a replay from the first event sends nothing"
    );

    let models = eats_projections::read_models(&test.db);
    assert!(
        models
            .iter()
            .all(|m| m.name() != eats_notify::consumer::NAME),
        "the notifier is no read model"
    );
    for model in &models {
        model.rebuild(500).await.expect("rebuild");
    }
    run_notifier_until_idle(&test.db, &hook, NotifySettings::default()).await;
    assert_eq!(
        hook.seen().len(),
        first,
        "a projection rebuild sends nothing"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn a_notifier_started_on_an_old_log_says_nothing_about_the_past() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(ok(json!({}))).await;
    scenario::history(&test.db, 5).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let settings = NotifySettings {
        freshness: Duration::from_millis(10),
        money_freshness: Duration::from_millis(10),
        ..NotifySettings::default()
    };
    run_notifier_until_idle(&test.db, &hook, settings).await;
    assert_eq!(hook.seen().len(), 0);
    let rows = records::all(&test.db, 1_000).await.expect("rows");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.state == "shed"
                && matches!(r.reason.as_deref(), Some("stale" | "superseded"))),
        "{rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.critical && r.reason.as_deref() == Some("stale")),
        "critical ones are stale too"
    );
    test.cleanup().await;
}
