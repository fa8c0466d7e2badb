//! A local HTTP server standing in for a provider: it records every request exactly as it
//! arrived and answers with what the test scripted (the providers' real response shapes).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response, Server};
use serde_json::Value;

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower case.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub raw: Vec<u8>,
    /// The body as JSON (Null if it was not JSON).
    pub body: Value,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Delay before answering.
    pub delay: Duration,
}

type Check = Arc<dyn Fn(&Seen) -> Option<Answer> + Send + Sync>;

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    script: VecDeque<Answer>,
    default: Option<Answer>,
    check: Option<Check>,
}

/// The stand-in.
#[derive(Clone)]
pub struct StandIn {
    state: Arc<Mutex<State>>,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl StandIn {
    /// Starts a stand-in answering `default` unless scripted otherwise.
    pub async fn start(default: Answer) -> Self {
        let state = Arc::new(Mutex::new(State {
            default: Some(default),
            ..State::default()
        }));
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let addr = *acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("socket address");
        let shared = state.clone();
        let endpoint = poem::endpoint::make(move |mut request: Request| {
            let state = shared.clone();
            async move {
                let raw = request.take_body().into_vec().await.unwrap_or_default();
                let seen = Seen {
                    method: request.method().to_string(),
                    path: request
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect(),
                    body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                    raw,
                };
                let answer = {
                    let mut state = state.lock().expect("stand-in state");
                    let checked = state.check.as_ref().and_then(|check| check(&seen));
                    state.seen.push(seen);
                    checked
                        .or_else(|| state.script.pop_front())
                        .or_else(|| state.default.clone())
                        .expect("an answer")
                };
                tokio::time::sleep(answer.delay).await;
                Response::builder()
                    .status(StatusCode::from_u16(answer.status).expect("status"))
                    .content_type("application/json")
                    .body(answer.body.to_string())
            }
        });
        tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(endpoint).await });
        Self {
            state,
            url: format!("http://{addr}"),
        }
    }

    /// The next requests are answered with `answers`, in turn.
    pub fn script(&self, answers: Vec<Answer>) {
        self.state.lock().expect("state").script.extend(answers);
    }

    /// Every request is first shown to `check`, which may answer it (to verify signatures).
    pub fn check(&self, check: impl Fn(&Seen) -> Option<Answer> + Send + Sync + 'static) {
        self.state.lock().expect("state").check = Some(Arc::new(check));
    }

    /// Changes the default answer.
    pub fn answer_by_default(&self, answer: Answer) {
        self.state.lock().expect("state").default = Some(answer);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }
}

/// 200 with `body`.
pub fn ok(body: Value) -> Answer {
    Answer {
        status: 200,
        body,
        delay: Duration::ZERO,
    }
}

/// `status` with `body`.
pub fn status(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        delay: Duration::ZERO,
    }
}

/// Runs the notifier (consumer and dispatcher) through `provider` on `db` until every event
/// is recorded and nothing is queued. Embedded: through the embedded feed. Postgres: every
/// event handed over in one batch, as a JetStream pull hands a backlog over (the feed itself
/// is tested with NATS elsewhere), each aggregate's in order.
pub async fn run_notifier_until_idle(
    db: &eats_store::Database,
    provider: Arc<dyn eats_notify::Provider>,
    settings: eats_notify::NotifySettings,
) {
    use eats_feed::EventHandler;
    let wake = Arc::new(tokio::sync::Notify::new());
    let notifier = eats_notify::Notifier::new(db.clone(), provider.clone(), wake.clone());
    let (name, types) = (
        notifier.name().to_string(),
        notifier.aggregate_types().to_vec(),
    );
    let dispatcher = eats_notify::Dispatcher::new(db.clone(), provider, settings, wake);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let s = shutdown.clone();
    let sender = tokio::spawn(async move { dispatcher.run(s).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    match db.backend() {
        eats_store::Backend::Postgres(pool) => {
            let events: Vec<eats_feed::FeedEvent> = sqlx::query_as(
                "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                 payload, metadata FROM events WHERE aggregate_type = ANY($1) \
                 ORDER BY aggregate_type, aggregate_id, sequence",
            )
            .bind(&types)
            .fetch_all(pool)
            .await
            .expect("events");
            notifier.handle_batch(&events).await.expect("recorded");
            while eats_notify::records::queue_depth(db).await.expect("depth") > 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the dispatcher did not finish"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        eats_store::Backend::Sqlite(_) => {
            let feed = eats_feed::EmbeddedFeed::new(db)
                .expect("sqlite")
                .with_poll(Duration::from_millis(50));
            let (f, s) = (feed.clone(), shutdown.clone());
            let consumer = tokio::spawn(async move { f.run(&notifier, s).await });
            loop {
                let lag = feed.lag(&name, &types).await.expect("lag");
                let depth = eats_notify::records::queue_depth(db).await.expect("depth");
                if lag.events == 0 && depth == 0 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the notifier did not finish: {lag:?}, {depth} queued"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            shutdown.cancel();
            let _ = consumer.await;
        }
    }
    shutdown.cancel();
    let _ = sender.await;
}
