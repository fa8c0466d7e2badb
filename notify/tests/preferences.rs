//! The customer's choice, applied when messages are recorded: quiet hours and opting out hold
//! back everything but critical messages, and KakaoTalk off with SMS on sends plain SMS.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use common::{ok, run_notifier_until_idle, StandIn};
use eats_notify::preferences::{self, Preferences, QuietHours};
use eats_notify::provider::nhn::{NhnSender, NhnSettings};
use eats_notify::provider::webhook::WebhookSender;
use eats_notify::{records, NotifySettings, Provider};
use eats_store::testing::scenario::{self, Stage};
use eats_store::testing::{Kind, TestDatabase};
use serde_json::json;

fn states(rows: &[records::Record]) -> Vec<(String, String, Option<String>)> {
    rows.iter()
        .filter(|r| r.recipient.starts_with("customer:"))
        .map(|r| (r.template.clone(), r.state.clone(), r.reason.clone()))
        .collect()
}

#[tokio::test]
async fn quiet_hours_and_opting_out_hold_back_all_but_critical_messages() {
    let choices = [
        (
            Preferences {
                quiet: {
                    let seoul_hour = ((chrono::Utc::now().hour() + 9) % 24) as u8;
                    Some(QuietHours {
                        start: seoul_hour,
                        end: (seoul_hour + 2) % 24,
                    })
                },
                ..Preferences::default()
            },
            "quiet_hours",
        ),
        (
            Preferences {
                kakao: false,
                sms: false,
                quiet: None,
            },
            "opted_out",
        ),
    ];
    let on_both = choices
        .into_iter()
        .flat_map(|choice| [Kind::Sqlite, Kind::Postgres].map(|kind| (choice, kind)));
    for ((choice, reason), kind) in on_both {
        let test = TestDatabase::new(kind).await;
        let hook = StandIn::start(ok(json!({}))).await;
        let aggregates = scenario::aggregates(&test.db);
        let store = scenario::open_store(&aggregates).await;
        let customer = scenario::register_customer(&aggregates).await;
        preferences::put(&test.db, &customer.to_string(), choice)
            .await
            .expect("put");
        assert_eq!(
            preferences::get(&test.db, &customer.to_string())
                .await
                .expect("get"),
            choice
        );
        scenario::drive_order(&aggregates, store, customer, 1, Stage::Cancelled).await;
        let provider: Arc<dyn Provider> =
            Arc::new(WebhookSender::new(&hook.url, "s", Duration::from_secs(5)).expect("client"));
        run_notifier_until_idle(&test.db, provider, NotifySettings::default()).await;
        let rows = records::all(&test.db, 100).await.expect("rows");
        let skipped = Some(reason.to_string());
        assert_eq!(
            states(&rows),
            [
                (
                    "EATS_ORDER_PLACED".into(),
                    "skipped".into(),
                    skipped.clone()
                ),
                ("EATS_ORDER_PAID".into(), "skipped".into(), skipped.clone()),
                ("EATS_CANCEL_REFUND".into(), "sent".into(), None),
                ("EATS_REFUND_DONE".into(), "sent".into(), None),
            ],
            "{reason}"
        );
        let customer_requests = hook
            .seen()
            .iter()
            .filter(|s| {
                s.body["recipient"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("customer:"))
            })
            .count();
        assert_eq!(
            customer_requests, 2,
            "only the critical messages reached the provider ({reason})"
        );
        test.cleanup().await;
    }
}

#[tokio::test]
async fn kakaotalk_off_with_sms_on_sends_plain_sms_through_nhn() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let nhn = StandIn::start(ok(json!({
        "header": {"isSuccessful": true, "resultCode": 0, "resultMessage": "SUCCESS"},
        "body": {"data": {"requestId": "sms-1", "statusCode": "2", "sendResultList": [
            {"recipientNo": "01012345678", "resultCode": 0, "resultMessage": "SUCCESS", "recipientSeq": 1}]}}
    })))
    .await;
    let aggregates = scenario::aggregates(&test.db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    preferences::put(
        &test.db,
        &customer.to_string(),
        Preferences {
            kakao: false,
            sms: true,
            quiet: None,
        },
    )
    .await
    .expect("put");
    scenario::drive_order(&aggregates, store, customer, 1, Stage::Placed).await;
    let provider: Arc<dyn Provider> = Arc::new(
        NhnSender::new(NhnSettings {
            alimtalk_url: nhn.url.clone(),
            sms_url: nhn.url.clone(),
            app_key: "at".into(),
            sms_app_key: "sms".into(),
            secret_key: "k".into(),
            sender_key: "s".repeat(40),
            sms_sender_no: "0212345678".into(),
            timeout: Duration::from_secs(5),
        })
        .expect("client"),
    );
    run_notifier_until_idle(&test.db, provider, NotifySettings::default()).await;
    let rows = records::all(&test.db, 100).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].channel.as_str(), rows[0].state.as_str()),
        ("sms", "sent")
    );
    assert_eq!(rows[0].request_id.as_deref(), Some("sms-1"));
    let paths: Vec<String> = nhn.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        ["/sms/v3.0/appKeys/sms/sender/mms"],
        "the placed message is long: LMS"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn sms_off_sends_the_kakaotalk_message_without_its_sms_fallback_embedded() {
    sms_off_sends_the_kakaotalk_message_without_its_sms_fallback(Kind::Sqlite).await;
}

#[tokio::test]
async fn sms_off_sends_the_kakaotalk_message_without_its_sms_fallback_on_postgres() {
    sms_off_sends_the_kakaotalk_message_without_its_sms_fallback(Kind::Postgres).await;
}

/// Of two customers in one batch, the one who turned SMS off gets no fallback; the other,
/// who never chose, keeps it.
async fn sms_off_sends_the_kakaotalk_message_without_its_sms_fallback(kind: Kind) {
    let test = TestDatabase::new(kind).await;
    let nhn = StandIn::start(ok(json!({
        "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true},
        "message": {"requestId": "r1", "senderGroupingKey": null, "sendResults": [
            {"recipientSeq": 1, "recipientNo": "01012345678", "resultCode": 0,
             "resultMessage": "SUCCESS", "recipientGroupingKey": null}]}
    })))
    .await;
    let aggregates = scenario::aggregates(&test.db);
    let store = scenario::open_store(&aggregates).await;
    let without_sms = scenario::register_customer(&aggregates).await;
    let with_sms = scenario::register_customer(&aggregates).await;
    preferences::put(
        &test.db,
        &without_sms.to_string(),
        Preferences {
            kakao: true,
            sms: false,
            quiet: None,
        },
    )
    .await
    .expect("put");
    scenario::drive_order(&aggregates, store, without_sms, 1, Stage::Placed).await;
    scenario::drive_order(&aggregates, store, with_sms, 1, Stage::Placed).await;
    let provider: Arc<dyn Provider> = Arc::new(
        NhnSender::new(NhnSettings {
            alimtalk_url: nhn.url.clone(),
            sms_url: nhn.url.clone(),
            app_key: "at".into(),
            sms_app_key: "sms".into(),
            secret_key: "k".into(),
            sender_key: "s".repeat(40),
            sms_sender_no: "0212345678".into(),
            timeout: Duration::from_secs(5),
        })
        .expect("client"),
    );
    run_notifier_until_idle(&test.db, provider, NotifySettings::default()).await;
    let rows = records::all(&test.db, 100).await.expect("rows");
    let fallback = |customer: &eats_domain::CustomerId| {
        rows.iter()
            .find(|r| r.recipient == format!("customer:{customer}"))
            .map(|r| (r.channel.clone(), r.state.clone(), r.sms_fallback))
    };
    assert_eq!(
        fallback(&without_sms),
        Some(("alimtalk".into(), "sent".into(), false))
    );
    assert_eq!(
        fallback(&with_sms),
        Some(("alimtalk".into(), "sent".into(), true))
    );
    let resend = |customer: &eats_domain::CustomerId| {
        let id = rows
            .iter()
            .find(|r| r.recipient == format!("customer:{customer}"))
            .map(|r| r.id.clone())
            .expect("record");
        nhn.seen()
            .iter()
            .find(|s| s.body["recipientList"][0]["recipientGroupingKey"] == id.as_str())
            .map(|s| s.body["recipientList"][0]["resendParameter"].clone())
            .expect("sent")
    };
    assert_eq!(resend(&without_sms), json!({"isResend": false}));
    assert_eq!(resend(&with_sms)["isResend"], true);
    test.cleanup().await;
}
