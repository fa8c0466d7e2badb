//! Calling a running server's `/api/v1` as its users do, and the few scenes most tests start
//! from (an open store, a registered customer, a scratch data folder), written once.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use eats_api::{Auth, Role};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Server, NATS_URL, SECRET};

/// Every status of an order's whole life, in the order they happen.
pub const LIFECYCLE: [&str; 7] = [
    "awaiting_payment",
    "paid",
    "accepted",
    "cooking",
    "ready_for_pickup",
    "in_delivery",
    "delivered",
];

/// A token for `sub` acting as `role`, signed with the tests' [`SECRET`] for half an hour.
pub fn token(role: Role, sub: Uuid) -> String {
    Auth::hs256(SECRET.as_bytes())
        .expect("key")
        .mint(sub, role, chrono::Duration::minutes(30))
        .expect("token")
}

/// A user of the API with their own token (or none, to call anonymously).
pub struct Caller {
    pub http: reqwest::Client,
    /// The server's `/api/v1`.
    pub base: String,
    pub token: Option<String>,
    /// The user's id, the token's `sub` (nil for [`Caller::with_token`]).
    pub id: Uuid,
}

impl Caller {
    /// A new user of `role` with a valid token.
    pub fn new(server: &Server, role: Role) -> Self {
        let id = Uuid::new_v4();
        Self {
            token: Some(token(role, id)),
            id,
            ..Self::with_token(server, String::new())
        }
    }

    /// Someone without a token.
    pub fn anonymous(server: &Server) -> Self {
        Self {
            token: None,
            ..Self::with_token(server, String::new())
        }
    }

    /// Whoever `token` says (e.g. the same user calling another server, or a forged token).
    pub fn with_token(server: &Server, token: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{}/api/v1", server.base),
            token: Some(token),
            id: Uuid::nil(),
        }
    }

    /// A request to `path` under `/api/v1` with the caller's token, for tests that shape the
    /// rest themselves (raw bodies, other headers, streams).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `body` as JSON with `headers`; see [`answer`] for what comes back.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, HeaderMap) {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    /// POSTs `body` as JSON: (status, body).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.send(Method::POST, path, Some(body), &[]).await;
        (status, body)
    }

    /// PUTs `body` as JSON: (status, body).
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.send(Method::PUT, path, Some(body), &[]).await;
        (status, body)
    }

    /// GETs `path`: (status, body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, body, _) = self.send(Method::GET, path, None, &[]).await;
        (status, body)
    }
}

/// Sends `request` and checks that every refusal is problem+json: (status, the body as JSON,
/// or as a JSON string when it is not JSON, headers).
pub async fn answer(request: RequestBuilder) -> (u16, Value, HeaderMap) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    if status >= 400 {
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(
            content_type,
            Some("application/problem+json"),
            "{status}: {text}"
        );
    }
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

/// Waits until `check` gives a value, failing after a minute (a liveness bound, not a speed
/// check), and returns it.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seoul City Hall, where the tests' stores stand.
pub fn here() -> Value {
    json!({"lat": 37.5665, "lng": 126.978})
}

/// A store owner's open store with one ₩4,500 item: (owner, store id, item id).
pub async fn open_store(server: &Server) -> (Caller, String, String) {
    let owner = Caller::new(server, Role::StoreOwner);
    let (s, store) = owner
        .post(
            "/stores",
            json!({"name": "김밥천국 시청점", "address": "서울 중구 세종대로 110", "location": here()}),
        )
        .await;
    assert_eq!(s, 201, "{store}");
    let store = store["id"].as_str().expect("id").to_string();
    let (s, item) = owner
        .post(
            &format!("/stores/{store}/menu/items"),
            json!({"name": "참치김밥", "price": 4500}),
        )
        .await;
    assert_eq!(s, 201, "{item}");
    let item = item["id"].as_str().expect("id").to_string();
    let (s, body) = owner
        .post(&format!("/stores/{store}/open"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    (owner, store, item)
}

/// A customer who has registered, living near [`here`].
pub async fn registered_customer(server: &Server) -> Caller {
    let customer = Caller::new(server, Role::Customer);
    let (s, body) = customer
        .post(
            "/customers",
            json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12", "location": {"lat": 37.566, "lng": 126.991}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    customer
}

/// The customer's order of one `item` from `store`, awaiting payment: its id.
pub async fn place(customer: &Caller, store: &str, item: &str) -> String {
    let (s, order) = customer
        .post(
            "/orders",
            json!({"store_id": store, "lines": [{"item_id": item, "quantity": 1}]}),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    order["id"].as_str().expect("id").to_string()
}

/// Waits until the customer's view of `order` has `status`, and returns the view.
pub async fn order_status(customer: &Caller, order: &str, status: &str) -> Value {
    eventually(&format!("order {status}"), || async {
        let (s, view) = customer.get(&format!("/orders/{order}")).await;
        (s == 200 && view["status"] == status).then_some(view)
    })
    .await
}

/// A fresh path under the temporary folder, not created yet.
pub fn scratch_folder() -> PathBuf {
    std::env::temp_dir().join(format!("eats-test-{}", Uuid::new_v4().simple()))
}

/// An embedded server on a scratch data folder with `extra` settings: (server, folder).
pub fn embedded(extra: &[(&str, &str)]) -> (Server, PathBuf) {
    let data = scratch_folder();
    let mut env = vec![("EATS_DATA_DIR", data.to_str().expect("utf-8 path"))];
    env.extend_from_slice(extra);
    (Server::start(&env), data)
}

/// A fresh JetStream namespace, so tests sharing the machine's NATS never meet.
pub fn namespace(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4().simple())
}

/// A server on the Postgres at `url` and the machine's NATS under `namespace`, with `extra`.
pub fn distributed(url: &str, namespace: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("EATS_DATABASE_URL", url),
        ("EATS_NATS_URL", NATS_URL),
        ("EATS_NATS_NAMESPACE", namespace),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

/// Deletes the JetStream stream a server created under `namespace`.
pub async fn delete_nats_stream(namespace: &str) {
    let nats = async_nats::connect(NATS_URL).await.expect("nats");
    let _ = async_nats::jetstream::new(nats)
        .delete_stream(format!("EATS_EVENTS_{namespace}"))
        .await;
}

/// An API process with no NATS that runs no consumer, beside one running the relay, the
/// projectors and the process managers on the same Postgres database: every wake-up of a
/// stream the API serves has to come from the other process.
pub struct ApiWithoutConsumers {
    pub api: Server,
    workers: Server,
    test: eats_store::testing::TestDatabase,
    namespace: String,
}

impl ApiWithoutConsumers {
    /// Both processes on a fresh database and a JetStream namespace starting with `prefix`.
    pub async fn start(prefix: &str) -> Self {
        let test = eats_store::testing::TestDatabase::postgres().await;
        let url = test.url.clone().expect("url");
        let namespace = namespace(prefix);
        let api = Server::start(&[("EATS_DATABASE_URL", &url), ("EATS_ROLES", "api")]);
        let workers = distributed(
            &url,
            &namespace,
            &[("EATS_ROLES", "relay,projectors,sagas")],
        );
        Self {
            api,
            workers,
            test,
            namespace,
        }
    }

    /// Stops both (each must exit cleanly) and removes the database and the stream.
    pub async fn stop(self) {
        assert!(self.api.terminate());
        assert!(self.workers.terminate());
        delete_nats_stream(&self.namespace).await;
        self.test.cleanup().await;
    }
}
