//! Provider acceptance is not delivery: after sending through NHN, the dispatcher asks NHN's
//! single-message query for each message until it has a verdict, and gives up on one that
//! never gets one, so every sent record ends `delivered` or `undelivered`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{ok, StandIn};
use eats_notify::provider::nhn::{NhnSender, NhnSettings};
use eats_notify::records::{self, NewRecord, Record};
use eats_notify::{template, Dispatcher, NotifySettings};
use eats_store::testing::{Kind, TestDatabase};
use serde_json::json;

fn record(order: &str, now: i64) -> NewRecord {
    NewRecord {
        event_key: format!("Order-{order}-3"),
        order_id: Some(order.into()),
        recipient: format!("customer:{order}"),
        phone: Some("01012345678".into()),
        channel: "alimtalk".into(),
        template: template::COOKING_STARTED,
        parameters: BTreeMap::from([
            ("storeName".to_string(), "김밥천국".to_string()),
            ("orderNo".to_string(), order.to_uppercase()),
        ]),
        occurred_at: now,
        skip: None,
        sms_fallback: true,
    }
}

/// NHN's answers: a send is accepted with the request id `req-<order>`; a result query is
/// answered by what became of that order's message (o1 read on KakaoTalk, o2 failed and so
/// did its SMS fallback, o3 forever in progress).
fn nhn_stand_in_answers(seen: &common::Seen) -> Option<common::Answer> {
    let header = json!({"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true});
    if seen.method == "POST" {
        let order = seen.body["recipientList"][0]["templateParameter"]["orderNo"]
            .as_str()
            .unwrap_or("")
            .to_lowercase();
        return Some(ok(json!({"header": header, "message": {
            "requestId": format!("req-{order}"), "senderGroupingKey": null,
            "sendResults": [{"recipientSeq": 1, "recipientNo": "01012345678", "resultCode": 0,
                             "resultMessage": "SUCCESS", "recipientGroupingKey": null}]}})));
    }
    let (status, code, resend) = if seen.path.contains("/req-o1/") {
        ("COMPLETED", Some("MRC01"), "RSC01")
    } else if seen.path.contains("/req-o2/") {
        ("FAILED", Some("MRC02"), "RSC05")
    } else {
        ("READY", None, "RSC02")
    };
    Some(ok(json!({"header": header, "message": {
        "requestId": "r", "recipientSeq": 1, "plusFriendId": "@eats", "senderKey": "k",
        "templateCode": "EATS_COOKING_STARTED", "recipientNo": "01012345678",
        "requestDate": "2026-12-04 19:00:00.0", "createDate": "2026-12-04 19:00:00.0",
        "resendStatus": resend, "resendStatusName": "-", "resendResultCode": "3032",
        "messageStatus": status, "resultCode": code, "resultCodeName": code.map(|_| "결과")
    }})))
}

fn verdict(rows: &[Record], order: &str) -> (Option<String>, Option<String>) {
    let row = rows
        .iter()
        .find(|r| r.order_id.as_deref() == Some(order))
        .unwrap_or_else(|| panic!("no record for {order}"));
    (row.delivery.clone(), row.delivery_reason.clone())
}

#[tokio::test]
async fn every_sent_message_ends_delivered_or_undelivered_by_nhns_result_query() {
    let test = TestDatabase::new(Kind::Sqlite).await;
    let nhn = StandIn::start(ok(json!({}))).await;
    nhn.check(nhn_stand_in_answers);
    let provider = Arc::new(
        NhnSender::new(NhnSettings {
            alimtalk_url: nhn.url.clone(),
            sms_url: nhn.url.clone(),
            app_key: "app".into(),
            sms_app_key: "sms".into(),
            secret_key: "secret".into(),
            sender_key: "s".repeat(40),
            sms_sender_no: "0212345678".into(),
            timeout: Duration::from_secs(5),
        })
        .expect("client"),
    );
    let settings = NotifySettings {
        delivery_poll: Duration::from_millis(300),
        delivery_give_up: Duration::from_millis(1_500),
        ..NotifySettings::default()
    };
    let dispatcher = Dispatcher::new(
        test.db.clone(),
        provider,
        settings,
        Arc::new(tokio::sync::Notify::new()),
    );
    let now = records::now_ms();
    records::insert(
        &test.db,
        &[record("o1", now), record("o2", now), record("o3", now)],
        now,
    )
    .await
    .expect("insert");
    assert_eq!(dispatcher.round().await.expect("send"), 3);
    let rows = records::all(&test.db, 10).await.expect("rows");
    assert!(
        rows.iter().all(|r| r.state == "sent"
            && r.delivery.is_none()
            && r.recipient_seq == Some(1)
            && r.request_id
                .as_deref()
                .is_some_and(|id| id.starts_with("req-"))),
        "accepted, not yet delivered: {rows:#?}"
    );
    assert_eq!(
        dispatcher.delivery_round().await.expect("asked"),
        0,
        "not asked before the first poll interval"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(dispatcher.delivery_round().await.expect("asked"), 3);
    let rows = records::all(&test.db, 10).await.expect("rows");
    assert_eq!(verdict(&rows, "o1"), (Some("delivered".into()), None));
    assert_eq!(
        verdict(&rows, "o2"),
        (
            Some("undelivered".into()),
            Some("MRC02: 결과; SMS fallback failed: 3032".into())
        )
    );
    assert_eq!(verdict(&rows, "o3"), (None, None), "still in progress");
    let queries: Vec<String> = nhn
        .seen()
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.path.clone())
        .collect();
    let mut sorted = queries.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/alimtalk/v2.3/appkeys/app/messages/req-o1/1",
            "/alimtalk/v2.3/appkeys/app/messages/req-o2/1",
            "/alimtalk/v2.3/appkeys/app/messages/req-o3/1",
        ]
    );
    assert!(nhn
        .seen()
        .iter()
        .all(|s| s.header("X-Secret-Key") == Some("secret")));

    // Asked again every poll interval, and given up once it is older than the give-up age.
    assert_eq!(
        dispatcher.delivery_round().await.expect("asked"),
        0,
        "asked again only after another interval"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(dispatcher.delivery_round().await.expect("asked"), 1);
    let rows = records::all(&test.db, 10).await.expect("rows");
    assert_eq!(verdict(&rows, "o3"), (None, None));
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(dispatcher.delivery_round().await.expect("asked"), 1);
    let rows = records::all(&test.db, 10).await.expect("rows");
    let (delivery, reason) = verdict(&rows, "o3");
    assert_eq!(delivery.as_deref(), Some("undelivered"));
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.starts_with("no_result")),
        "{reason:?}"
    );
    assert!(rows.iter().all(|r| r.delivered_at.is_some()));
    assert_eq!(
        dispatcher.delivery_round().await.expect("asked"),
        0,
        "nothing is asked about once it has its verdict"
    );
    assert_eq!(
        nhn.seen().iter().filter(|s| s.method == "GET").count(),
        5,
        "o1 and o2 once, o3 three times"
    );
    test.cleanup().await;
}
