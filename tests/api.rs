//! The HTTP API of the real `eats` binary: the whole lifecycle by every role, auth, bad input,
//! idempotency, rate limits, live status over SSE, and paying through an open breaker.

mod common;

use std::time::{Duration, Instant};

use common::api::{
    delete_nats_stream, distributed, embedded, eventually, here, namespace, open_store,
    order_status, registered_customer, scratch_folder, token, Caller, LIFECYCLE,
};
use common::{Server, SECRET};
use eats_api::auth::Claims;
use eats_api::{Auth, Role};
use eats_store::testing::TestDatabase;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// The caller's token is refused with 401 because it expired (not as forged).
async fn assert_refused_as_expired(caller: &Caller) {
    let (s, body) = caller.get("/orders").await;
    assert_eq!(s, 401);
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("expired"), "{detail}");
}

/// Every step of an order, by the role that takes it; returns the customer and order id.
async fn whole_lifecycle(server: &Server) -> (Caller, String) {
    let (owner, store, item) = open_store(server).await;
    let customer = registered_customer(server).await;
    let (s, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 2}]}),
        )
        .await;
    assert_eq!(
        (s, order["status"].as_str()),
        (201, Some("awaiting_payment")),
        "{order}"
    );
    let order = order["id"].as_str().expect("id").to_string();
    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_20261126"}),
        )
        .await;
    assert_eq!(
        (s, paid["payment_status"].as_str()),
        (200, Some("approved")),
        "{paid}"
    );
    let view = order_status(&customer, &order, "paid").await;
    assert_eq!(view["total"], 9_000);

    let queue = eventually("the store's queue", || async {
        let (_, queue) = owner
            .get(&format!("/stores/{store}/orders?status=paid"))
            .await;
        (queue["items"].as_array().map(Vec::len) == Some(1)).then_some(queue)
    })
    .await;
    assert_eq!(queue["items"][0]["order_id"], order.as_str());
    for step in ["accept", "start-cooking", "finish-cooking"] {
        let (s, body) = owner
            .post(&format!("/stores/{store}/orders/{order}/{step}"), json!({}))
            .await;
        assert_eq!(s, 200, "{step}: {body}");
    }

    let rider = Caller::new(server, Role::Rider);
    let (s, _) = rider
        .put(
            "/riders/me/location",
            json!({"lat": 37.567, "lng": 126.979}),
        )
        .await;
    assert_eq!(s, 200);
    let jobs = eventually("a job nearby", || async {
        let (_, jobs) = rider
            .get("/deliveries/available?lat=37.567&lng=126.979&radius_m=3000")
            .await;
        jobs["items"]
            .as_array()
            .filter(|j| j.iter().any(|j| j["order_id"] == order.as_str()))
            .map(|_| jobs.clone())
    })
    .await;
    let delivery = jobs["items"][0]["delivery_id"]
        .as_str()
        .expect("delivery")
        .to_string();
    let (s, body) = rider
        .post(&format!("/deliveries/{delivery}/claim"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    let late = Caller::new(server, Role::Rider);
    late.put(
        "/riders/me/location",
        json!({"lat": 37.567, "lng": 126.979}),
    )
    .await;
    let (s, body) = late
        .post(&format!("/deliveries/{delivery}/claim"), json!({}))
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (409, Some("urn:eats:problem:delivery-already-claimed"))
    );
    let (s, body) = late
        .post(&format!("/deliveries/{delivery}/pickup"), json!({}))
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (403, Some("urn:eats:problem:not-assigned-rider"))
    );
    let (s, _) = rider
        .post(&format!("/deliveries/{delivery}/pickup"), json!({}))
        .await;
    assert_eq!(s, 200);

    order_status(&customer, &order, "in_delivery").await;
    let (s, _) = customer
        .post(&format!("/orders/{order}/confirm-delivery"), json!({}))
        .await;
    assert_eq!(s, 200);
    let view = order_status(&customer, &order, "delivered").await;
    assert!(view["delivered_at"].is_string() && view["rider_id"] == rider.id.to_string());
    eventually("the grade upgrade", || async {
        let (_, me) = customer.get("/customers/me").await;
        (me["grade"] == "silver" && me["completed_orders"] == 1).then_some(me)
    })
    .await;
    (customer, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_runs_through_the_api_embedded() {
    let (server, data) = embedded(&[("EATS_GRADE_THRESHOLDS", "1,2,3")]);
    let (customer, order) = whole_lifecycle(&server).await;

    // The live stream replays every status change, and resumes after Last-Event-ID.
    let all = sse(&customer, &order, None).await;
    let statuses: Vec<&str> = all.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses, LIFECYCLE);
    let resumed = sse(&customer, &order, Some(5)).await;
    assert_eq!(resumed, all[5..].to_vec());
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_runs_through_the_api_distributed() {
    let test = TestDatabase::postgres().await;
    let namespace = namespace("api");
    let server = distributed(
        test.url.as_deref().expect("url"),
        &namespace,
        &[("EATS_GRADE_THRESHOLDS", "1,2,3")],
    );
    whole_lifecycle(&server).await;
    assert!(server.terminate());
    delete_nats_stream(&namespace).await;
    test.cleanup().await;
}

/// Reads the order's SSE stream to its end: (event id, status) pairs.
async fn sse(customer: &Caller, order: &str, last_event_id: Option<i64>) -> Vec<(String, String)> {
    let mut request = customer.request(Method::GET, &format!("/orders/{order}/stream"));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.expect("stream");
    assert_eq!(response.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("stream ends")
        .expect("text");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")));
        let data = block
            .lines()
            .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")));
        if let (Some(id), Some(data)) = (id, data) {
            let data: Value = serde_json::from_str(data).expect("JSON data");
            events.push((
                id.trim().to_string(),
                data["status"].as_str().expect("status").to_string(),
            ));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_forged_and_expired_tokens_get_401_and_others_things_are_out_of_reach() {
    let (server, data) = embedded(&[]);
    let (s, body) = Caller::anonymous(&server).get("/orders").await;
    assert_eq!(
        (s, body["type"].as_str()),
        (401, Some("urn:eats:problem:unauthorized"))
    );
    let mut forged = Caller::new(&server, Role::Customer);
    forged.token = Some(
        Auth::hs256(b"not-the-servers-secret-not-the-servers")
            .expect("key")
            .mint(forged.id, Role::Customer, chrono::Duration::minutes(5))
            .expect("token"),
    );
    assert_eq!(forged.get("/orders").await.0, 401);
    let mut expired = Caller::new(&server, Role::Customer);
    expired.token = Some(
        Auth::hs256(SECRET.as_bytes())
            .expect("key")
            .mint(expired.id, Role::Customer, chrono::Duration::minutes(-10))
            .expect("token"),
    );
    assert_refused_as_expired(&expired).await;

    let (owner, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let (_, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}]}),
        )
        .await;
    let order = order["id"].as_str().expect("id").to_string();

    // Another customer: the order does not exist for them.
    let stranger = registered_customer(&server).await;
    assert_eq!(stranger.get(&format!("/orders/{order}")).await.0, 404);
    assert_eq!(
        stranger
            .post(&format!("/orders/{order}/cancel"), json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        stranger
            .post(
                &format!("/orders/{order}/payment"),
                json!({"payment_key": "k"})
            )
            .await
            .0,
        404
    );
    // A rider is not a customer.
    assert_eq!(
        Caller::new(&server, Role::Rider)
            .get(&format!("/orders/{order}"))
            .await
            .0,
        403
    );
    // Another store owner cannot touch this store or its orders.
    let rival = Caller::new(&server, Role::StoreOwner);
    let (s, body) = rival
        .post(
            &format!("/stores/{store}/menu/items"),
            json!({"name": "x", "price": 1}),
        )
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (403, Some("urn:eats:problem:not-store-owner"))
    );
    assert_eq!(rival.get(&format!("/stores/{store}/orders")).await.0, 404);
    customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "k"}),
        )
        .await;
    order_status(&customer, &order, "paid").await;
    let (s, _) = rival
        .post(&format!("/stores/{store}/orders/{order}/accept"), json!({}))
        .await;
    assert_eq!(s, 403);
    let (s, _) = owner
        .post(&format!("/stores/{store}/orders/{order}/accept"), json!({}))
        .await;
    assert_eq!(s, 200);
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

/// Signs `claims` as RS256 with the PKCS#8 PEM `private_key`, as an identity provider would.
fn rs256_token(private_key: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).expect("RSA key"),
    )
    .expect("sign")
}

/// A fresh RSA key pair as (private PKCS#8 PEM, public SPKI PEM).
fn rsa_key_pair() -> (String, String) {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
    let private = key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    (private, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_rs256_public_key_only_tokens_signed_by_its_private_key_get_in() {
    let data = scratch_folder();
    std::fs::create_dir_all(&data).expect("data folder");
    let (private, public) = rsa_key_pair();
    let public_file = data.join("issuer.pub.pem");
    std::fs::write(&public_file, &public).expect("public key");
    let server = Server::start(&[
        ("EATS_DATA_DIR", data.to_str().expect("path")),
        (
            "EATS_JWT_PUBLIC_KEY_FILE",
            public_file.to_str().expect("path"),
        ),
    ]);
    let claims = |exp: chrono::Duration| Claims {
        sub: Uuid::new_v4(),
        role: Role::Customer,
        exp: (chrono::Utc::now() + exp).timestamp(),
    };
    let with_token = |token: String| Caller::with_token(&server, token);

    let signed = with_token(rs256_token(&private, &claims(chrono::Duration::minutes(5))));
    let (s, body) = signed.get("/orders").await;
    assert_eq!((s, body), (200, json!({"items": []})));

    // Signed by another key pair.
    let (other, _) = rsa_key_pair();
    let forged = with_token(rs256_token(&other, &claims(chrono::Duration::minutes(5))));
    assert_eq!(forged.get("/orders").await.0, 401);
    // Expired, though signed by the right key.
    let expired = with_token(rs256_token(
        &private,
        &claims(chrono::Duration::minutes(-10)),
    ));
    assert_refused_as_expired(&expired).await;
    // Algorithm confusion: HS256 keyed with the public key, which anyone can read.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(chrono::Duration::minutes(5)),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .expect("sign");
    assert_eq!(with_token(confused).get("/orders").await.0, 401);
    // The shared secret no longer opens anything once a public key is configured.
    assert_eq!(
        with_token(token(Role::Customer, Uuid::new_v4()))
            .get("/orders")
            .await
            .0,
        401
    );
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_naming_the_field_and_writes_nothing() {
    let (server, data) = embedded(&[]);
    let (_, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let order = |lines: Value| json!({"store_id": store, "lines": lines, "deliver_to": {"address": "서울", "location": here()}});
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (
            order(json!([{"item_id": item, "quantity": 0}])),
            422,
            Some("quantity"),
        ),
        (
            order(json!([{"item_id": item, "quantity": -3}])),
            422,
            Some("quantity"),
        ),
        (order(json!([])), 422, Some("lines")),
        (
            order(json!([{"item_id": Uuid::new_v4(), "quantity": 1}])),
            422,
            Some("lines[].item_id"),
        ),
        (
            order(json!([{"item_id": item, "quantity": "two"}])),
            400,
            None,
        ),
        (
            json!({"store_id": Uuid::new_v4(), "lines": [{"item_id": item, "quantity": 1}], "deliver_to": {"address": "서울", "location": here()}}),
            404,
            Some("store_id"),
        ),
        (
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}], "deliver_to": {"address": "서울", "location": {"lat": 91.0, "lng": 0.0}}}),
            422,
            Some("lat"),
        ),
        (
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}], "deliver_to": {"address": "가".repeat(201), "location": here()}}),
            422,
            Some("address"),
        ),
    ];
    for (body, status, field) in cases {
        let (s, problem) = customer.post("/orders", body.clone()).await;
        assert_eq!(
            (s, problem["field"].as_str()),
            (status, field),
            "{body} -> {problem}"
        );
    }
    // Malformed JSON, a wrong media type, an oversized body.
    let raw = |body: String, content_type: &'static str| {
        customer
            .request(Method::POST, "/orders")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = raw("{\"store_id\": ".into(), "application/json")
        .await
        .expect("send");
    assert_eq!(malformed.status(), 400);
    let text = raw("store_id=1".into(), "text/plain").await.expect("send");
    assert!(
        matches!(text.status().as_u16(), 400 | 415),
        "{}",
        text.status()
    );
    let huge = raw(
        format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000)),
        "application/json",
    )
    .await
    .expect("send");
    assert_eq!(huge.status(), 413);
    assert_eq!(
        huge.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Store input, too.
    let owner = Caller::new(&server, Role::StoreOwner);
    let (s, problem) = owner
        .post(
            "/stores",
            json!({"name": "", "address": "서울", "location": here()}),
        )
        .await;
    assert_eq!((s, problem["field"].as_str()), (422, Some("name")));
    let (s, problem) = owner
        .post(
            "/stores",
            json!({"name": "가게", "address": "서울", "location": {"lat": 0.0, "lng": 181.0}}),
        )
        .await;
    assert_eq!((s, problem["field"].as_str()), (422, Some("lng")));
    // A method the path does not have.
    let trace = customer
        .request(Method::TRACE, "/orders")
        .send()
        .await
        .expect("send");
    assert_eq!(trace.status(), 405);
    assert_eq!(
        trace.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    // Nothing was half-written: no order exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, mine) = customer.get("/orders").await;
    assert_eq!(mine, json!({"items": []}));
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_and_body_returns_the_first_result() {
    let (server, data) = embedded(&[]);
    let (_, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let body = json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}]});
    let key = [("Idempotency-Key", "order-2026-11-26-001")];
    let (s1, first, _) = customer
        .send(Method::POST, "/orders", Some(body.clone()), &key)
        .await;
    let (s2, second, headers) = customer
        .send(Method::POST, "/orders", Some(body.clone()), &key)
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second);
    assert_eq!(
        headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let other = json!({"store_id": store, "lines": [{"item_id": item, "quantity": 2}]});
    let (s, problem, _) = customer
        .send(Method::POST, "/orders", Some(other), &key)
        .await;
    assert_eq!(
        (s, problem["type"].as_str()),
        (409, Some("urn:eats:problem:idempotency-key-reused"))
    );
    let mine = eventually("the order", || async {
        let (_, mine) = customer.get("/orders").await;
        (mine["items"].as_array().map(Vec::len) == Some(1)).then_some(mine)
    })
    .await;
    assert_eq!(mine["items"][0]["order_id"], first["id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        customer.get("/orders").await.1["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "one order, not two"
    );
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let (server, data) = embedded(&[
        ("EATS_RATE_LIMIT_PER_SEC", "1"),
        ("EATS_RATE_LIMIT_BURST", "3"),
    ]);
    let customer = Caller::new(&server, Role::Customer);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let (s, _, headers) = customer.send(Method::GET, "/orders", None, &[]).await;
        statuses.push(s);
        if s == 429 {
            retry_after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200]);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Another client has its own allowance.
    assert_eq!(
        Caller::new(&server, Role::Customer).get("/orders").await.0,
        200
    );
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_while_the_gateway_fails_opens_the_breaker_and_answers_503_at_once() {
    let (server, data) = embedded(&[
        ("EATS_PAYMENT_SIM_FAILURE_RATE", "1"),
        ("EATS_PAYMENT_BREAKER_FAILURES", "2"),
        ("EATS_PAYMENT_BREAKER_OPEN_SECS", "30"),
    ]);
    let (_, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let (_, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}]}),
        )
        .await;
    let order = order["id"].as_str().expect("id").to_string();
    let path = format!("/orders/{order}/payment");
    let pay = || {
        customer.send(
            Method::POST,
            &path,
            Some(json!({"payment_key": "tgen_1"})),
            &[],
        )
    };
    for _ in 0..2 {
        let (s, problem, _) = pay().await;
        assert_eq!(
            (s, problem["type"].as_str()),
            (503, Some("urn:eats:problem:payment-gateway-unavailable"))
        );
    }
    let started = Instant::now();
    let (s, problem, headers) = pay().await;
    let took = started.elapsed();
    assert_eq!(s, 503);
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((25..=30).contains(&retry_after), "{retry_after}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("retry in"),
        "{problem}"
    );
    assert!(took < Duration::from_millis(200), "answered in {took:?}");
    // The order stays payable and nothing was charged.
    let view = order_status(&customer, &order, "awaiting_payment").await;
    assert!(view["payment_status"].is_null());
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("eats_payment_breaker_state 2"),
        "{metrics}"
    );
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_notifications_are_shown_to_its_customer_and_operators_can_resend_failed_ones() {
    let data = std::env::temp_dir().join(format!("eats_api_{}", Uuid::new_v4().simple()));
    let server = Server::start(&[("EATS_DATA_DIR", data.to_str().expect("path"))]);
    let (owner, store, item) = open_store(&server).await;
    let customer = registered_customer(&server).await;
    let (_, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 2}]}),
        )
        .await;
    let order = order["id"].as_str().expect("id").to_string();
    customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_1"}),
        )
        .await;
    order_status(&customer, &order, "paid").await;
    let (s, _) = owner
        .post(&format!("/stores/{store}/orders/{order}/accept"), json!({}))
        .await;
    assert_eq!(s, 200);

    // One record per status change; an older one may be shed as superseded when a newer one
    // overtook it, the newest is always sent.
    let path = format!("/orders/{order}/notifications");
    let list = eventually("the acceptance message", || async {
        let (_, list) = customer.get(&path).await;
        let last = list.as_array()?.last()?.clone();
        (last["template"] == "EATS_ORDER_ACCEPTED" && last["state"] == "sent").then_some(list)
    })
    .await;
    let templates: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["template"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        templates,
        [
            "EATS_ORDER_PLACED",
            "EATS_ORDER_PAID",
            "EATS_ORDER_ACCEPTED"
        ]
    );
    assert!(
        list[2]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("김밥천국 시청점에서 주문을 수락했습니다.")),
        "{list}"
    );
    assert!(list
        .as_array()
        .expect("array")
        .iter()
        .all(|n| n["recipient"] == format!("customer:{}", customer.id)));
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .all(|n| n["state"] == "sent" || n["reason"] == "superseded"),
        "{list}"
    );

    let stranger = registered_customer(&server).await;
    assert_eq!(stranger.get(&path).await.0, 404);

    // The log provider is the message's destination: what it took is delivered.
    assert_eq!(list[2]["delivery"], "delivered", "{list}");
    assert!(list[2]["delivered_at"].is_string(), "{list}");

    let admin = Caller::new(&server, Role::Admin);
    let (s, all) = admin
        .get(&format!("/admin/notifications?order_id={order}"))
        .await;
    assert_eq!(s, 200);
    assert!(all.get("next").is_none(), "one page: {all}");
    let all = all["items"].clone();
    assert_eq!(all.as_array().map(Vec::len), Some(4), "{all}");
    // Paged newest first by a cursor that belongs to its filter.
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_path = match &next {
            Some(cursor) => {
                format!("/admin/notifications?order_id={order}&limit=3&cursor={cursor}")
            }
            None => format!("/admin/notifications?order_id={order}&limit=3"),
        };
        let (s, page) = admin.get(&page_path).await;
        assert_eq!(s, 200, "{page}");
        paged.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|n| n["id"].clone()),
        );
        match page["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => break,
        }
    }
    let ids: Vec<Value> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    assert_eq!(paged, ids, "the pages are the whole list, in order");
    let (s, _) = admin
        .get(&format!(
            "/admin/notifications?state=sent&limit=3&cursor={}",
            next.unwrap_or_default()
        ))
        .await;
    assert_eq!(s, 422, "a cursor of another filter is refused");
    let owner_message = all
        .as_array()
        .expect("array")
        .iter()
        .find(|n| n["template"] == "EATS_STORE_NEW_ORDER")
        .cloned()
        .expect("the store owner's message");
    assert_eq!(
        owner_message["recipient"],
        format!("store_owner:{}", owner.id)
    );
    let sent_id = list[2]["id"].as_str().expect("id");
    let (s, body) = admin
        .post(&format!("/admin/notifications/{sent_id}/resend"), json!({}))
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (409, Some("urn:eats:problem:notification-not-resendable"))
    );
    let (s, _) = admin
        .post("/admin/notifications/nope/resend", json!({}))
        .await;
    assert_eq!(s, 404);
    assert_eq!(customer.get("/admin/notifications").await.0, 403);

    let (s, mine) = customer.get("/customers/me/notifications").await;
    assert_eq!((s, mine), (200, json!({"kakao": true, "sms": true})));
    let quiet = json!({"kakao": false, "sms": true, "quiet_hours": {"start": 22, "end": 8}});
    assert_eq!(
        customer
            .put("/customers/me/notifications", quiet.clone())
            .await,
        (200, quiet.clone())
    );
    assert_eq!(
        customer.get("/customers/me/notifications").await,
        (200, quiet)
    );
    let (s, _) = customer
        .put(
            "/customers/me/notifications",
            json!({"kakao": true, "sms": true, "quiet_hours": {"start": 24, "end": 8}}),
        )
        .await;
    assert!(s == 400 || s == 422, "an hour past 23 is refused: {s}");
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}
