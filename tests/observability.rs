//! What an operator sees of the real `eats` binary: every metric listed from the start,
//! HTTP metrics by route template, one trace from a request to the consumers of the events
//! it committed, and a start without warnings.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::api::{delete_nats_stream, distributed, embedded, eventually, here, namespace, Caller};
use common::Server;
use eats_api::Role;
use eats_store::testing::TestDatabase;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Every metric name recorded with a literal name anywhere in the workspace's sources.
fn metric_names_in_the_code() -> Vec<String> {
    fn visit(dir: &Path, names: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                visit(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("read source");
                for macro_call in ["counter!(", "gauge!(", "histogram!("] {
                    for (at, _) in source.match_indices(macro_call) {
                        let rest = source[at + macro_call.len()..].trim_start();
                        if let Some(quoted) = rest.strip_prefix('"') {
                            let name: String = quoted.chars().take_while(|c| *c != '"').collect();
                            if name.starts_with("eats_") && !names.contains(&name) {
                                names.push(name);
                            }
                        }
                    }
                }
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut names = Vec::new();
    for krate in [
        "src",
        "api/src",
        "domain/src",
        "feed/src",
        "nats/src",
        "notify/src",
        "projections/src",
        "saga/src",
        "store/src",
    ] {
        visit(&root.join(krate), &mut names);
    }
    names.sort();
    names
}

/// The sample lines of `metric` (not its HELP/TYPE comments).
fn samples<'a>(metrics: &'a str, metric: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_list_every_eats_metric_right_after_start_and_http_by_route_template() {
    let names = metric_names_in_the_code();
    assert!(
        names.contains(&"eats_dead_letters_total".to_string()),
        "the scan finds the metrics: {names:?}"
    );
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let namespace = namespace("obs");
    let server = distributed(&url, &namespace, &[("EATS_ROLES", "all")]);

    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    for name in &names {
        assert!(
            !samples(&metrics, name).is_empty(),
            "{name} is not listed at start:\n{metrics}"
        );
    }
    for (metric, labels) in [
        (
            "eats_dead_letters_total",
            "{consumer=\"process_manager\"} 0",
        ),
        ("eats_deadlines_fired_total", "{kind=\"payment_due\"} 0"),
        ("eats_deadlines_fired_total", "{kind=\"claim_due\"} 0"),
        ("eats_consumer_lag_events", "{consumer=\"order_view\"}"),
    ] {
        assert!(
            samples(&metrics, metric).iter().any(|l| l.contains(labels)),
            "{metric}{labels} at start:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("# HELP eats_dead_letters_total"),
        "{metrics}"
    );

    // Requests are measured by the route they matched, never by their raw path.
    let order = Uuid::new_v4();
    let (status, _) = server.get(&format!("/api/v1/orders/{order}")).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = server.get(&format!("/api/v1/no-such-thing/{order}")).await;
    assert_eq!(status, 404);
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        !metrics.contains(&order.to_string()),
        "an id became a label:\n{metrics}"
    );
    let route = "route=\"/api/v1/orders/{order_id}\"";
    let counted = samples(&metrics, "eats_http_requests_total");
    assert!(
        counted.iter().any(|l| l.contains(route)
            && l.contains("status=\"401\"")
            && l.contains("method=\"GET\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(
        counted
            .iter()
            .any(|l| l.contains("route=\"unmatched\"") && l.contains("status=\"404\"")),
        "{metrics}"
    );
    let buckets = samples(&metrics, "eats_http_request_duration_seconds_bucket");
    assert!(
        buckets.iter().any(|l| l.contains(route)
            && l.contains("status=\"401\"")
            && l.contains("le=\"+Inf\"")),
        "a histogram with buckets by route and status:\n{metrics}"
    );

    assert!(server.terminate());
    delete_nats_stream(&namespace).await;
    test.cleanup().await;
}

/// POSTs `body` with `headers` as `caller`, whose answers here are all JSON.
async fn post(
    caller: &Caller,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let (status, body, headers) = caller.send(Method::POST, path, Some(body), headers).await;
    assert!(!body.is_string(), "JSON body: {body}");
    (status, body, headers)
}

const CONSUMER_LOGS: &str = "info,eats_projections=debug,eats_saga=debug";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_the_consumers_of_its_events_log_under_one_trace_embedded() {
    let (server, data) = embedded(&[("EATS_LOG", CONSUMER_LOGS)]);
    one_trace_from_the_request_to_the_consumers(&server).await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_the_consumers_of_its_events_log_under_one_trace_through_jetstream() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let namespace = namespace("obs");
    let server = distributed(
        &url,
        &namespace,
        &[("EATS_ROLES", "all"), ("EATS_LOG", CONSUMER_LOGS)],
    );
    one_trace_from_the_request_to_the_consumers(&server).await;
    assert!(server.terminate());
    delete_nats_stream(&namespace).await;
    test.cleanup().await;
}

/// Places an order with the caller's trace and finds that trace on the request's log line
/// and on the lines of two consumers handling the order's first event.
async fn one_trace_from_the_request_to_the_consumers(server: &Server) {
    let owner = Caller::new(server, Role::StoreOwner);
    let (s, store, _) = post(
        &owner,
        "/stores",
        json!({"name": "김밥천국 시청점", "address": "서울 중구 세종대로 110", "location": here()}),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{store}");
    let store = store["id"].as_str().expect("id").to_string();
    let (s, item, _) = post(
        &owner,
        &format!("/stores/{store}/menu/items"),
        json!({"name": "참치김밥", "price": 4500}),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{item}");
    let (s, _, _) = post(&owner, &format!("/stores/{store}/open"), json!({}), &[]).await;
    assert_eq!(s, 200);
    let customer = Caller::new(server, Role::Customer);
    let (s, body, _) = post(
        &customer,
        "/customers",
        json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}),
        &[],
    )
    .await;
    assert_eq!(s, 201, "{body}");

    let trace_id = Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let (s, order, headers) = post(
        &customer,
        "/orders",
        json!({"store_id": store, "lines": [{"item_id": item["id"], "quantity": 2}]}),
        &[
            ("traceparent", &format!("00-{trace_id}-{caller_span}-01")),
            ("x-request-id", "checkout-42"),
        ],
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let order = order["id"].as_str().expect("id").to_string();
    assert_eq!(
        headers["x-request-id"], "checkout-42",
        "the request id is echoed"
    );
    let echoed = headers["traceparent"].to_str().expect("ascii").to_string();
    let [_, echoed_trace, request_span, _] = echoed.split('-').collect::<Vec<_>>()[..] else {
        panic!("not a traceparent: {echoed}");
    };
    assert_eq!(echoed_trace, trace_id, "the caller's trace goes on");
    assert_ne!(
        request_span, caller_span,
        "under a span of the server's own"
    );

    let span_of = |log: &Value, name: &str| -> Option<Value> {
        (log["span"]["name"] == name).then(|| log["span"].clone())
    };
    let request = eventually("the request's log line", || async {
        server.logs().into_iter().find_map(|log| {
            span_of(&log, "request").filter(|span| {
                span["request_id"] == "checkout-42"
                    && log["fields"]["message"] == "request answered"
            })
        })
    })
    .await;
    assert_eq!(request["correlation_id"], order.as_str(), "{request}");
    assert_eq!(request["trace_id"], trace_id.as_str(), "{request}");
    assert_eq!(request["span_id"], request_span, "{request}");
    assert_eq!(request["parent_span_id"], caller_span, "{request}");

    for consumer in ["order_view", "process_manager"] {
        let handled = eventually(&format!("{consumer} handling the order"), || async {
            server.logs().into_iter().find_map(|log| {
                span_of(&log, "event").filter(|span| {
                    span["consumer"] == consumer && span["event_type"] == "OrderPlaced"
                })
            })
        })
        .await;
        assert_eq!(handled["correlation_id"], order.as_str(), "{handled}");
        assert_eq!(handled["trace_id"], trace_id.as_str(), "{handled}");
        assert_eq!(handled["parent_span_id"], request_span, "{handled}");
        assert_ne!(handled["span_id"], request_span, "{handled}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_embedded_start_logs_no_warning() {
    let (server, data) = embedded(&[("EATS_LOG", "info")]);
    assert_eq!(server.get("/readyz").await, (200, "ready".into()));
    // Long enough for every consumer to start and the first lag measurements to run.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let logs = server.logs();
    assert!(server.terminate());
    let loud: Vec<&Value> = logs
        .iter()
        .filter(|log| !matches!(log["level"].as_str(), Some("INFO" | "DEBUG" | "TRACE")))
        .collect();
    assert!(loud.is_empty(), "warnings on a clean start: {loud:#?}");
    let _ = std::fs::remove_dir_all(data);
}
