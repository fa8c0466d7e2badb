//! Each provider adapter against a local stand-in: the exact request it sends, and the
//! provider's real answers (success, refusal, per-recipient failure, outage) read correctly.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ok, status, Answer, StandIn};
use eats_notify::provider::nhn::{NhnSender, NhnSettings};
use eats_notify::provider::solapi::{self, SolapiSender, SolapiSettings};
use eats_notify::provider::webhook::{self, WebhookSender};
use eats_notify::provider::{domestic_number, Accepted, Outgoing, Provider, SendError, Verdict};
use eats_notify::template;
use serde_json::{json, Value};

const APP_KEY: &str = "appkey-alimtalk-123";
const SMS_APP_KEY: &str = "appkey-sms-456";
const SECRET: &str = "nhn-secret-key";
const SENDER_KEY: &str = "0123456789012345678901234567890123456789";
const SENDER_NO: &str = "0212345678";

fn message() -> Outgoing {
    let parameters: BTreeMap<String, String> = [
        ("storeName", "김밥천국 시청점"),
        ("orderNo", "A1B2C3D4"),
        ("reason", "재료 소진"),
        ("refund", "9,000원"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Outgoing {
        id: "5b0c6f9e-7d1a-5c3e-9f2b-000000000001".into(),
        event_key: "Order-a1b2c3d4-4".into(),
        recipient: "customer:c1".into(),
        phone: domestic_number("+82 10-1234-5678"),
        channel: "alimtalk".into(),
        order_id: Some("a1b2c3d4".into()),
        template: template::ORDER_REJECTED,
        parameters,
        sms_fallback: true,
    }
}

fn nhn(stand_in: &StandIn) -> NhnSender {
    NhnSender::new(NhnSettings {
        alimtalk_url: stand_in.url.clone(),
        sms_url: stand_in.url.clone(),
        app_key: APP_KEY.into(),
        sms_app_key: SMS_APP_KEY.into(),
        secret_key: SECRET.into(),
        sender_key: SENDER_KEY.into(),
        sms_sender_no: SENDER_NO.into(),
        timeout: Duration::from_secs(2),
    })
    .expect("client")
}

fn alimtalk_accepted() -> Value {
    json!({
        "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true},
        "message": {
            "requestId": "20261204-req-1",
            "senderGroupingKey": null,
            "sendResults": [{"recipientSeq": 1, "recipientNo": "01012345678", "resultCode": 0,
                              "resultMessage": "SUCCESS", "recipientGroupingKey": "g"}]
        }
    })
}

#[tokio::test]
async fn nhn_alimtalk_sends_the_template_with_an_sms_fallback_exactly_as_nhn_documents() {
    let stand_in = StandIn::start(ok(alimtalk_accepted())).await;
    let sent = nhn(&stand_in).send(&message()).await;
    assert_eq!(
        sent,
        Ok(Accepted {
            request_id: Some("20261204-req-1".into()),
            recipient_seq: Some(1),
        })
    );

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        request.path,
        format!("/alimtalk/v2.3/appkeys/{APP_KEY}/messages")
    );
    assert_eq!(request.header("X-Secret-Key"), Some(SECRET));
    assert_eq!(
        request.header("X-NC-API-IDEMPOTENCY-KEY"),
        Some(message().id.as_str())
    );
    assert_eq!(request.body["senderKey"], SENDER_KEY);
    assert_eq!(request.body["templateCode"], "EATS_ORDER_REJECTED");
    let recipient = &request.body["recipientList"][0];
    assert_eq!(
        request.body["recipientList"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(recipient["recipientNo"], "01012345678");
    assert_eq!(
        recipient["templateParameter"],
        json!({"storeName": "김밥천국 시청점", "orderNo": "A1B2C3D4", "reason": "재료 소진", "refund": "9,000원"})
    );
    let text = message().text();
    assert_eq!(
        recipient["resendParameter"],
        json!({"isResend": true, "resendType": "LMS", "resendTitle": "eats", "resendContent": text, "resendSendNo": SENDER_NO})
    );
}

#[tokio::test]
async fn nhn_alimtalk_refusals_are_read_from_the_header_and_from_each_recipient() {
    let stand_in = StandIn::start(ok(alimtalk_accepted())).await;
    stand_in.script(vec![
        ok(json!({"header": {"resultCode": -3009, "resultMessage": "Invalid template", "isSuccessful": false}})),
        ok(json!({
            "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true},
            "message": {"requestId": "r2", "senderGroupingKey": null, "sendResults": [
                {"recipientSeq": 1, "recipientNo": "01012345678", "resultCode": -3026,
                 "resultMessage": "Invalid recipient", "recipientGroupingKey": null}]}
        })),
        ok(json!({"header": {"resultCode": -1005, "resultMessage": "duplicate request", "isSuccessful": false}})),
        status(503, json!({"message": "maintenance"})),
    ]);
    let sender = nhn(&stand_in);
    assert_eq!(
        sender.send(&message()).await,
        Err(SendError::Refused {
            code: "-3009".into(),
            message: "Invalid template".into()
        })
    );
    assert_eq!(
        sender.send(&message()).await,
        Err(SendError::Refused {
            code: "-3026".into(),
            message: "Invalid recipient".into()
        })
    );
    assert_eq!(sender.send(&message()).await, Err(SendError::Duplicate));
    assert!(matches!(
        sender.send(&message()).await,
        Err(SendError::Unavailable(_))
    ));
}

#[tokio::test]
async fn nhn_sms_goes_to_the_v3_sender_with_its_own_app_key_and_shape() {
    let stand_in = StandIn::start(ok(json!({
        "header": {"isSuccessful": true, "resultCode": 0, "resultMessage": "SUCCESS"},
        "body": {"data": {"requestId": "sms-req-9", "statusCode": "2", "senderGroupingKey": null,
                 "sendResultList": [{"recipientNo": "01012345678", "resultCode": 0,
                                     "resultMessage": "SUCCESS", "recipientSeq": 1}]}}
    })))
    .await;
    let mut sms = message();
    sms.channel = "sms".into();
    sms.template = template::COOKING_STARTED;
    let sent = nhn(&stand_in).send(&sms).await;
    assert_eq!(
        sent,
        Ok(Accepted {
            request_id: Some("sms-req-9".into()),
            recipient_seq: Some(1),
        })
    );
    let request = &stand_in.seen()[0];
    assert_eq!(
        request.path,
        format!("/sms/v3.0/appKeys/{SMS_APP_KEY}/sender/sms")
    );
    assert_eq!(request.header("X-Secret-Key"), Some(SECRET));
    assert_eq!(request.body["sendNo"], SENDER_NO);
    assert_eq!(request.body["body"], sms.text());
    assert_eq!(
        request.body["recipientList"],
        json!([{"recipientNo": "01012345678"}])
    );

    stand_in.script(vec![ok(json!({
        "header": {"isSuccessful": false, "resultCode": -9001, "resultMessage": "unregistered sendNo"},
        "body": null
    }))]);
    assert_eq!(
        nhn(&stand_in).send(&sms).await,
        Err(SendError::Refused {
            code: "-9001".into(),
            message: "unregistered sendNo".into()
        })
    );
}

fn solapi_sender(stand_in: &StandIn, secret: &str) -> SolapiSender {
    SolapiSender::new(SolapiSettings {
        url: stand_in.url.clone(),
        api_key: "NCSAPIKEY".into(),
        api_secret: secret.into(),
        pf_id: "KA01PF2026".into(),
        sender_no: SENDER_NO.into(),
        timeout: Duration::from_secs(2),
    })
    .expect("client")
}

/// Verifies Solapi's Authorization header as Solapi does; answers 401 when it is wrong.
fn verify_solapi(secret: &'static str) -> impl Fn(&common::Seen) -> Option<Answer> + Send + Sync {
    move |seen| {
        let header = seen.header("authorization").unwrap_or("");
        let fields: BTreeMap<&str, &str> = header
            .strip_prefix("HMAC-SHA256 ")
            .unwrap_or("")
            .split(", ")
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let date = fields.get("date").copied().unwrap_or("");
        let salt = fields.get("salt").copied().unwrap_or("");
        let fresh = chrono::DateTime::parse_from_rfc3339(date)
            .map(|d| {
                (chrono::Utc::now() - d.with_timezone(&chrono::Utc))
                    .num_minutes()
                    .abs()
                    < 15
            })
            .unwrap_or(false);
        let valid = fields.get("apiKey") == Some(&"NCSAPIKEY")
            && (12..=64).contains(&salt.len())
            && fresh
            && fields.get("signature").copied()
                == Some(solapi::signature(secret, date, salt).as_str());
        (!valid).then(|| {
            status(
                401,
                json!({"errorCode": "SignatureDoesNotMatch", "errorMessage": "bad signature"}),
            )
        })
    }
}

#[tokio::test]
async fn solapi_signs_every_request_and_sends_kakao_options_with_sms_fallback() {
    let stand_in = StandIn::start(ok(json!({
        "groupId": "G4V2026", "messageId": "M4V2026", "statusCode": "2000",
        "statusMessage": "정상 접수(이통사로 접수 예정) ", "to": "01012345678", "from": SENDER_NO,
        "type": "ATA", "country": "82", "accountId": "26120400000000"
    })))
    .await;
    stand_in.check(verify_solapi("solapi-secret"));
    let sent = solapi_sender(&stand_in, "solapi-secret")
        .send(&message())
        .await;
    assert_eq!(
        sent,
        Ok(Accepted {
            request_id: Some("M4V2026".into()),
            recipient_seq: None,
        })
    );
    let request = &stand_in.seen()[0];
    assert_eq!(request.path, "/messages/v4/send");
    assert_eq!(
        request.body,
        json!({"message": {
            "to": "01012345678", "from": SENDER_NO, "text": message().text(),
            "kakaoOptions": {"pfId": "KA01PF2026", "templateId": "EATS_ORDER_REJECTED", "disableSms": false,
                "variables": {"#{storeName}": "김밥천국 시청점", "#{orderNo}": "A1B2C3D4", "#{reason}": "재료 소진", "#{refund}": "9,000원"}}
        }})
    );

    let wrong = solapi_sender(&stand_in, "not-the-secret")
        .send(&message())
        .await;
    assert_eq!(
        wrong,
        Err(SendError::Refused {
            code: "SignatureDoesNotMatch".into(),
            message: "bad signature".into()
        })
    );
    let salts: Vec<String> = stand_in
        .seen()
        .iter()
        .map(|s| s.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_ne!(salts[0], salts[1], "a signature is never reused");
}

#[tokio::test]
async fn solapi_refusals_in_the_body_are_failures() {
    let stand_in = StandIn::start(ok(json!({
        "groupId": "G", "messageId": "M", "statusCode": "3059", "statusMessage": "변작된 발신번호"
    })))
    .await;
    assert_eq!(
        solapi_sender(&stand_in, "s").send(&message()).await,
        Err(SendError::Refused {
            code: "3059".into(),
            message: "변작된 발신번호".into()
        })
    );
}

#[tokio::test]
async fn the_webhook_is_signed_with_hmac_sha256_of_the_exact_body() {
    let stand_in = StandIn::start(ok(json!({}))).await;
    let sender = WebhookSender::new(
        &format!("{}/hooks/eats", stand_in.url),
        "hook-secret",
        Duration::from_secs(2),
    )
    .expect("client");
    assert_eq!(sender.send(&message()).await, Ok(Accepted::default()));
    let request = &stand_in.seen()[0];
    assert_eq!(request.path, "/hooks/eats");
    assert_eq!(
        request.header(webhook::SIGNATURE_HEADER),
        Some(webhook::signature("hook-secret", &request.raw).as_str())
    );
    assert!(request
        .header(webhook::SIGNATURE_HEADER)
        .is_some_and(|s| s.starts_with("sha256=") && s.len() == 71));
    assert_eq!(
        request.header("Idempotency-Key"),
        Some(message().id.as_str())
    );
    assert_eq!(request.body["template"], "EATS_ORDER_REJECTED");
    assert_eq!(request.body["phone"], "01012345678");
    assert_eq!(request.body["text"], message().text());
    assert_eq!(request.body["critical"], true);

    stand_in.script(vec![
        status(500, json!({})),
        status(410, json!({"gone": true})),
    ]);
    assert!(matches!(
        sender.send(&message()).await,
        Err(SendError::Unavailable(_))
    ));
    assert!(
        matches!(sender.send(&message()).await, Err(SendError::Refused { code, .. }) if code == "410")
    );
}

/// AlimTalk's single-message query as NHN answers it (the fields eats reads, among others).
fn alimtalk_result(status: &str, code: Option<&str>, resend: &str) -> Value {
    json!({
        "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true},
        "message": {
            "requestId": "20261204-req-1", "recipientSeq": 1, "plusFriendId": "@eats",
            "senderKey": SENDER_KEY, "templateCode": "EATS_ORDER_REJECTED",
            "recipientNo": "01012345678", "content": message().text(),
            "requestDate": "2026-12-04 19:00:00.0", "receiveDate": "2026-12-04 19:00:03.0",
            "createDate": "2026-12-04 19:00:00.0",
            "resendStatus": resend, "resendStatusName": "-", "resendResultCode": null,
            "resendRequestId": null, "messageStatus": status, "resultCode": code,
            "resultCodeName": code.map(|c| if c == "MRC01" { "성공" } else { "실패" }),
            "createUser": null, "buttons": [], "senderGroupingKey": null,
            "recipientGroupingKey": message().id
        }
    })
}

fn accepted(request_id: &str, seq: Option<i64>) -> Accepted {
    Accepted {
        request_id: Some(request_id.into()),
        recipient_seq: seq,
    }
}

#[tokio::test]
async fn nhn_alimtalk_delivery_results_are_read_from_the_single_message_query() {
    let stand_in = StandIn::start(ok(alimtalk_result("COMPLETED", Some("MRC01"), "RSC01"))).await;
    stand_in.script(vec![
        ok(alimtalk_result("COMPLETED", Some("MRC01"), "RSC01")),
        ok(alimtalk_result("FAILED", Some("MRC02"), "RSC04")),
        ok(alimtalk_result("FAILED", Some("MRC02"), "RSC05")),
        ok(alimtalk_result("FAILED", Some("MRC02"), "RSC03")),
        ok(alimtalk_result("READY", None, "RSC02")),
        ok(alimtalk_result("FAILED", Some("MRC02"), "RSC01")),
        ok(json!({"header": {"resultCode": -1000, "resultMessage": "Invalid appKey.", "isSuccessful": false}})),
    ]);
    let sender = nhn(&stand_in);
    let receipt = accepted("20261204-req-1", Some(1));
    let mut verdicts = Vec::new();
    for _ in 0..7 {
        verdicts.push(sender.delivery(&message(), &receipt).await);
    }
    assert_eq!(
        verdicts,
        [
            Ok(Verdict::Delivered { how: None }),
            Ok(Verdict::Delivered {
                how: Some("sms_fallback".into())
            }),
            Ok(Verdict::Undelivered {
                reason: "MRC02: 실패; SMS fallback failed: -".into()
            }),
            Ok(Verdict::Pending),
            Ok(Verdict::Pending),
            Ok(Verdict::Undelivered {
                reason: "MRC02: 실패".into()
            }),
            Err(SendError::Refused {
                code: "-1000".into(),
                message: "Invalid appKey.".into()
            }),
        ]
    );
    for seen in stand_in.seen() {
        assert_eq!(seen.method, "GET");
        assert_eq!(
            seen.path,
            format!("/alimtalk/v2.3/appkeys/{APP_KEY}/messages/20261204-req-1/1")
        );
        assert_eq!(seen.header("X-Secret-Key"), Some(SECRET));
    }
    assert!(
        matches!(
            sender.delivery(&message(), &accepted("r", None)).await,
            Err(SendError::Refused { code, .. }) if code == "no_receipt"
        ),
        "without a recipientSeq there is nothing to ask"
    );
}

/// SMS v3.0's single search as NHN answers it.
fn sms_result(msg_status: &str, result_code: Option<&str>) -> Value {
    json!({
        "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": true},
        "body": {"data": {
            "requestId": "sms-req-9", "requestDate": "2026-12-04 19:00:00.0",
            "resultDate": "2026-12-04 19:00:04.0", "templateId": null, "body": "본문",
            "sendNo": SENDER_NO, "countryCode": "82", "recipientNo": "01012345678",
            "msgStatus": msg_status,
            "msgStatusName": match msg_status { "3" => "성공", "2" => "처리 중", _ => "실패" },
            "resultCode": result_code,
            "resultCodeName": result_code.map(|c| if c == "1000" { "성공" } else { "미가입자" }),
            "telecomCode": 10001, "telecomCodeName": "SKT", "recipientSeq": 1, "sendType": "0",
            "messageType": "SMS", "messageCount": 1, "adYn": "N", "resultMessage": "",
            "senderGroupingKey": null, "recipientGroupingKey": null
        }}
    })
}

#[tokio::test]
async fn nhn_sms_delivery_results_are_read_from_the_single_search() {
    let stand_in = StandIn::start(ok(sms_result("3", Some("1000")))).await;
    stand_in.script(vec![
        ok(sms_result("3", Some("1000"))),
        ok(sms_result("2", None)),
        ok(sms_result("3", None)),
        ok(sms_result("3", Some("3032"))),
        ok(sms_result("0", None)),
    ]);
    let mut sms = message();
    sms.channel = "sms".into();
    sms.template = template::COOKING_STARTED;
    let sender = nhn(&stand_in);
    let receipt = accepted("sms-req-9", Some(1));
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(sender.delivery(&sms, &receipt).await);
    }
    assert_eq!(
        verdicts,
        [
            Ok(Verdict::Delivered { how: None }),
            Ok(Verdict::Pending),
            Ok(Verdict::Pending),
            Ok(Verdict::Undelivered {
                reason: "3032: 미가입자".into()
            }),
            Ok(Verdict::Undelivered {
                reason: "msgStatus 0: 실패".into()
            }),
        ]
    );
    for seen in stand_in.seen() {
        assert_eq!(seen.method, "GET");
        assert_eq!(
            seen.path,
            format!("/sms/v3.0/appKeys/{SMS_APP_KEY}/sender/sms/sms-req-9?recipientSeq=1")
        );
        assert_eq!(seen.header("X-Secret-Key"), Some(SECRET));
    }
    // A long text went as LMS, so its result is under the MMS sender.
    sms.template = template::ORDER_REJECTED;
    sender.delivery(&sms, &receipt).await.expect("asked");
    assert_eq!(
        stand_in.seen().last().map(|s| s.path.clone()),
        Some(format!(
            "/sms/v3.0/appKeys/{SMS_APP_KEY}/sender/mms/sms-req-9?recipientSeq=1"
        ))
    );
}

/// `GET /messages/v4/list` as Solapi answers it for one message.
fn solapi_listed(status_code: &str, replacement: bool) -> Value {
    json!({
        "startKey": null, "limit": 20,
        "messageList": {"M4V2026": {
            "_id": "M4V2026", "messageId": "M4V2026", "groupId": "G4V2026", "type": "ATA",
            "country": "82", "to": "01012345678", "from": SENDER_NO,
            "statusCode": status_code,
            "status": match status_code { "4000" => "COMPLETE", "2000" | "3000" => "PENDING", _ => "FAILED" },
            "reason": if status_code == "3032" { Value::from("미가입자") } else { Value::Null },
            "replacement": replacement, "networkName": "SKT", "customFields": {},
            "dateCreated": "2026-12-04T10:00:00.000Z", "dateUpdated": "2026-12-04T10:00:04.000Z"
        }}
    })
}

#[tokio::test]
async fn solapi_delivery_results_are_read_from_the_signed_message_list() {
    let stand_in = StandIn::start(ok(solapi_listed("4000", false))).await;
    stand_in.check(verify_solapi("solapi-secret"));
    stand_in.script(vec![
        ok(solapi_listed("4000", false)),
        ok(solapi_listed("4000", true)),
        ok(solapi_listed("3000", false)),
        ok(solapi_listed("3032", false)),
        ok(json!({"startKey": null, "limit": 20, "messageList": {}})),
    ]);
    let sender = solapi_sender(&stand_in, "solapi-secret");
    let receipt = accepted("M4V2026", None);
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(sender.delivery(&message(), &receipt).await);
    }
    assert_eq!(
        verdicts,
        [
            Ok(Verdict::Delivered { how: None }),
            Ok(Verdict::Delivered {
                how: Some("sms_fallback".into())
            }),
            Ok(Verdict::Pending),
            Ok(Verdict::Undelivered {
                reason: "3032: 미가입자".into()
            }),
            Ok(Verdict::Pending),
        ]
    );
    for seen in stand_in.seen() {
        assert_eq!(seen.method, "GET");
        assert_eq!(seen.path, "/messages/v4/list?messageId=M4V2026");
    }
    let wrong = solapi_sender(&stand_in, "not-the-secret")
        .delivery(&message(), &receipt)
        .await;
    assert!(
        matches!(wrong, Err(SendError::Refused { ref code, .. }) if code == "401"),
        "the signature is checked on queries too: {wrong:?}"
    );
}

#[tokio::test]
async fn without_sms_the_kakaotalk_message_goes_without_its_sms_fallback() {
    let stand_in = StandIn::start(ok(alimtalk_accepted())).await;
    let mut no_sms = message();
    no_sms.sms_fallback = false;
    nhn(&stand_in).send(&no_sms).await.expect("sent");
    assert_eq!(
        stand_in.seen()[0].body["recipientList"][0]["resendParameter"],
        json!({"isResend": false})
    );

    let solapi = StandIn::start(ok(json!({
        "groupId": "G", "messageId": "M", "statusCode": "2000", "statusMessage": "정상 접수"
    })))
    .await;
    solapi_sender(&solapi, "s")
        .send(&no_sms)
        .await
        .expect("sent");
    assert_eq!(
        solapi.seen()[0].body["message"]["kakaoOptions"]["disableSms"],
        true
    );
}
