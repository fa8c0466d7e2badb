//! The HTTP edges of the real `eats` binary: slow and oversized request heads, tokens not
//! valid yet, unknown fields, invisible Unicode in names, a pay that loses to a cancel, and
//! cancel/reject without a body.

mod common;

use std::time::{Duration, Instant};

use common::api::{
    answer, embedded, here, open_store, order_status, place, registered_customer, Caller,
};
use common::{Server, SECRET};
use eats_api::Role;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// An open store with one item, and a registered customer: (owner, store, item, customer).
async fn store_and_customer(server: &Server) -> (Caller, String, String, Caller) {
    let (owner, store, item) = open_store(server).await;
    let customer = registered_customer(server).await;
    (owner, store, item, customer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dribbling_header_lines_is_disconnected_within_the_header_timeout() {
    let (server, _data) = embedded(&[("EATS_HEADER_READ_TIMEOUT_SECS", "2")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // The server's only way to answer is to close: the reader ends when it does.
    let closed = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink).await;
        Instant::now()
    });
    let started = Instant::now();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: eats\r\n")
        .await
        .expect("request line");
    // One header line a second for 12 seconds: six times the timeout.
    for i in 0..12 {
        if closed.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if writer
            .write_all(format!("X-Dribble-{i}: still here\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    assert!(
        closed.is_finished(),
        "the dribbling client still holds its connection after {:?}",
        started.elapsed()
    );
    let cut_after = closed.await.expect("reader") - started;
    eprintln!("slow-header client cut off after {cut_after:?} (timeout 2 s)");

    // A client that sends its head at once is served as before, and a keep-alive connection
    // may rest between requests for longer than the timeout: only heads are timed.
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    for pause in [Duration::ZERO, Duration::from_secs(3)] {
        tokio::time::sleep(pause).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: eats\r\n\r\n")
            .await
            .expect("request");
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

/// One HTTP/1.1 response with a `content-length` body, as text.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("a response within 30 s")
            .expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&bytes));
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                // No content-length: an empty body.
                .map_or(0, |v| {
                    v.trim().parse::<usize>().expect("a numeric content-length")
                });
            if bytes.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_header_or_a_huge_bearer_token_is_refused_with_431() {
    let (server, _data) = embedded(&[]);
    let http = reqwest::Client::new();
    let (s, body, _) = answer(
        http.get(format!("{}/api/v1/stores", server.base))
            .header("x-padding", "a".repeat(32 * 1024)),
    )
    .await;
    assert_eq!(s, 431, "{body}");
    assert_eq!(body["type"], "urn:eats:problem:headers-too-large");

    let (s, body, _) = answer(
        http.get(format!("{}/api/v1/orders", server.base))
            .bearer_auth("a".repeat(8 * 1024)),
    )
    .await;
    assert_eq!(s, 431, "{body}");
    assert_eq!(body["type"], "urn:eats:problem:token-too-large");

    // Ordinary requests pass.
    let (s, body, _) =
        answer(Caller::new(&server, Role::Customer).request(Method::GET, "/stores")).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_nbf_is_in_the_future_is_refused_with_401() {
    let (server, _data) = embedded(&[]);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": Uuid::new_v4(), "role": "customer", "exp": now + 3_600, "nbf": now + 600,
    });
    let not_yet = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token");
    let (s, body, _) = answer(
        reqwest::Client::new()
            .get(format!("{}/api/v1/orders", server.base))
            .bearer_auth(not_yet),
    )
    .await;
    assert_eq!(s, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_refused_with_422_naming_it() {
    let (server, _data) = embedded(&[]);
    let customer = Caller::new(&server, Role::Customer);
    let (s, body) = customer
        .post(
            "/customers",
            json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12",
                   "location": here(), "extra": 1}),
        )
        .await;
    assert_eq!((s, body["field"].as_str()), (422, Some("extra")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_width_and_bidi_override_characters_in_names_and_addresses_are_422_naming_the_field() {
    let (server, _data) = embedded(&[]);
    let customer = Caller::new(&server, Role::Customer);
    let register = |name: &str, address: &str| json!({"name": name, "phone": "010-1234-5678", "address": address, "location": here()});
    for (body, field) in [
        (register("김\u{200B}민지", "서울 중구 을지로 12"), "name"),
        (register("김민지", "서울 중구 \u{202E}21 로지을"), "address"),
    ] {
        let (s, problem) = customer.post("/customers", body).await;
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    let owner = Caller::new(&server, Role::StoreOwner);
    let (s, problem) = owner
        .post(
            "/stores",
            json!({"name": "\u{202E}점청시 국천밥김", "address": "서울 중구 세종대로 110", "location": here()}),
        )
        .await;
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("name")),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_that_loses_to_a_cancel_says_the_payment_is_refunded() {
    // The gateway takes long enough for the customer to cancel while it decides.
    let (server, _data) = embedded(&[("EATS_PAYMENT_SIM_LATENCY_MS", "2000")]);
    let (_owner, store, item, customer) = store_and_customer(&server).await;
    let order = place(&customer, &store, &item).await;
    let customer = std::sync::Arc::new(customer);
    let paying = {
        let customer = customer.clone();
        let order = order.clone();
        tokio::spawn(async move {
            customer
                .post(
                    &format!("/orders/{order}/payment"),
                    json!({"payment_key": "tgen_race"}),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, body) = customer
        .post(&format!("/orders/{order}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200, "the cancel wins while the gateway decides: {body}");

    let (s, paid) = paying.await.expect("pay");
    assert_eq!(s, 200, "{paid}");
    assert_eq!(
        (
            paid["payment_status"].as_str(),
            paid["order_status"].as_str()
        ),
        (Some("refunded"), Some("cancelled")),
        "{paid}"
    );
    order_status(&customer, &order, "cancelled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_reject_work_with_no_body_or_an_empty_one() {
    let (server, _data) = embedded(&[]);
    let (owner, store, item, customer) = store_and_customer(&server).await;

    let bare = place(&customer, &store, &item).await;
    let (s, body, _) =
        answer(customer.request(Method::POST, &format!("/orders/{bare}/cancel"))).await;
    assert_eq!(s, 200, "cancel with no body: {body}");

    let empty = place(&customer, &store, &item).await;
    let (s, body, _) = answer(
        customer
            .request(Method::POST, &format!("/orders/{empty}/cancel"))
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(s, 200, "cancel with an empty JSON body: {body}");

    let paid = place(&customer, &store, &item).await;
    let (s, body) = customer
        .post(
            &format!("/orders/{paid}/payment"),
            json!({"payment_key": "tgen_reject"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    order_status(&customer, &paid, "paid").await;
    let (s, body, _) = answer(owner.request(
        Method::POST,
        &format!("/stores/{store}/orders/{paid}/reject"),
    ))
    .await;
    assert_eq!(s, 200, "reject with no body: {body}");

    // A body that is sent is still checked.
    let reasoned = place(&customer, &store, &item).await;
    let (s, body) = customer
        .post(
            &format!("/orders/{reasoned}/cancel"),
            json!({"reason": "배고프지 않아요", "extra": true}),
        )
        .await;
    assert_eq!((s, body["field"].as_str()), (422, Some("extra")), "{body}");
}
