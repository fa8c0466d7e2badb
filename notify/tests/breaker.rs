//! The provider's breaker as an operator sees it in `eats_notify_breaker_state`: open (2)
//! after failures, half-open (1) while its one trial call is out, closed (0) once that passed.
//! A test binary of its own: it installs the process-wide metrics recorder.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{status, Answer, StandIn};
use eats_notify::provider::webhook::WebhookSender;
use eats_notify::records::{self, NewRecord};
use eats_notify::{template, Dispatcher, NotifySettings};
use eats_store::testing::{Kind, TestDatabase};
use serde_json::json;

fn breaker_state(metrics: &str) -> Option<String> {
    metrics
        .lines()
        .find(|l| l.starts_with("eats_notify_breaker_state{provider=\"webhook\"}"))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_gauge_shows_open_then_half_open_during_the_trial_call_then_closed() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder in this binary");

    let test = TestDatabase::new(Kind::Sqlite).await;
    let hook = StandIn::start(status(503, json!({"message": "overloaded"}))).await;
    let provider =
        Arc::new(WebhookSender::new(&hook.url, "s", Duration::from_secs(10)).expect("client"));
    let settings = NotifySettings {
        breaker_failures: 1,
        breaker_open: Duration::from_millis(200),
        first_backoff: Duration::from_millis(50),
        concurrency: 1,
        ..NotifySettings::default()
    };
    let dispatcher = Arc::new(Dispatcher::new(
        test.db.clone(),
        provider,
        settings,
        Arc::new(tokio::sync::Notify::new()),
    ));
    let now = records::now_ms();
    records::insert(
        &test.db,
        &[NewRecord {
            event_key: "Payment-p-3".into(),
            order_id: Some("o".into()),
            recipient: "customer:c".into(),
            phone: None,
            channel: "webhook".into(),
            template: template::REFUND_DONE,
            parameters: BTreeMap::new(),
            occurred_at: now,
            skip: None,
            sms_fallback: true,
        }],
        now,
    )
    .await
    .expect("insert");
    dispatcher.round().await.expect("round");
    assert_eq!(
        breaker_state(&handle.render()).as_deref(),
        Some("2"),
        "open"
    );

    // The provider is back but slow: the trial call is out for a second.
    hook.answer_by_default(Answer {
        status: 200,
        body: json!({}),
        delay: Duration::from_secs(1),
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trial = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { dispatcher.round().await }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while breaker_state(&handle.render()).as_deref() != Some("1") {
        assert!(
            Instant::now() < deadline,
            "never half-open: {}",
            handle.render()
        );
        assert!(
            !trial.is_finished(),
            "the trial ended without showing half-open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    trial.await.expect("joined").expect("round");
    assert_eq!(
        breaker_state(&handle.render()).as_deref(),
        Some("0"),
        "closed"
    );
    let rows = records::all(&test.db, 10).await.expect("rows");
    assert_eq!(rows[0].state, "sent");
    test.cleanup().await;
}
