//! The Toss adapter and the circuit breaker against a local HTTP server standing in for the
//! payment gateway: the exact requests sent, one charge per payment across retries, and the
//! breaker opening, refusing at once, and recovering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use eats_domain::payment::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, Payment, PaymentCommand,
    PaymentError, PaymentEvent, PaymentGateway, PaymentServices,
};
use eats_domain::{CustomerId, OrderId, PaymentId, Won};
use eats_saga::gateway::{BreakerSettings, BreakerState, GuardedGateway, TossGateway};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json, Path};
use poem::{handler, post, EndpointExt, Request, Response, Route, Server};
use serde_json::{json, Value};

const SECRET: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Approve,
    Hang(Duration),
    Fail500,
    Decline,
}

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    authorization: String,
    idempotency_key: String,
    body: Value,
}

struct FakeState {
    behaviour: Behaviour,
    requests: Vec<Recorded>,
    answered: HashMap<String, (u16, Value)>,
    charges: u32,
}

/// A stand-in for Toss Payments that honours idempotency keys like the real one.
#[derive(Clone)]
struct FakeToss(Arc<Mutex<FakeState>>);

impl FakeToss {
    fn set(&self, behaviour: Behaviour) {
        self.0.lock().expect("lock").behaviour = behaviour;
    }
    fn requests(&self) -> Vec<Recorded> {
        self.0.lock().expect("lock").requests.clone()
    }
    fn charges(&self) -> u32 {
        self.0.lock().expect("lock").charges
    }
}

async fn answer(fake: &FakeToss, request: &Request, body: Value) -> Response {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let recorded = Recorded {
        path: request.uri().path().to_string(),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body,
    };
    let key = recorded.idempotency_key.clone();
    let behaviour = {
        let mut state = fake.0.lock().expect("lock");
        state.requests.push(recorded);
        if let Some((status, body)) = state.answered.get(&key).cloned() {
            return reply(status, body);
        }
        state.behaviour
    };
    let (status, body) = match behaviour {
        Behaviour::Fail500 => {
            return reply(
                500,
                json!({"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "일시적 오류"}),
            )
        }
        Behaviour::Decline => (
            400,
            json!({"code": "REJECT_CARD_COMPANY", "message": "카드사 승인 거절"}),
        ),
        Behaviour::Approve => (200, json!({"status": "DONE"})),
        Behaviour::Hang(delay) => {
            tokio::time::sleep(delay).await;
            (200, json!({"status": "DONE"}))
        }
    };
    let mut state = fake.0.lock().expect("lock");
    if status == 200 {
        state.charges += 1;
    }
    state.answered.insert(key, (status, body.clone()));
    reply(status, body)
}

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(poem::http::StatusCode::from_u16(status).expect("status"))
        .header("Retry-After", "7")
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
async fn confirm(request: &Request, Json(body): Json<Value>, fake: Data<&FakeToss>) -> Response {
    answer(&fake, request, body).await
}

#[handler]
async fn cancel(
    request: &Request,
    Path(_key): Path<String>,
    Json(body): Json<Value>,
    fake: Data<&FakeToss>,
) -> Response {
    answer(&fake, request, body).await
}

/// Starts the fake on a free port; returns it and its base URL.
async fn start_fake() -> (FakeToss, String) {
    let fake = FakeToss(Arc::new(Mutex::new(FakeState {
        behaviour: Behaviour::Approve,
        requests: Vec::new(),
        answered: HashMap::new(),
        charges: 0,
    })));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("socket address");
    let app = Route::new()
        .at("/v1/payments/confirm", post(confirm))
        .at("/v1/payments/:key/cancel", post(cancel))
        .data(fake.clone());
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(app).await });
    (fake, format!("http://{addr}"))
}

fn confirm_request(order: OrderId, key: &str) -> ConfirmRequest {
    ConfirmRequest {
        payment_key: "tgen_20261126abcd".into(),
        order_id: order,
        amount: Won(9_000),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn the_toss_adapter_sends_exactly_what_toss_expects() {
    let (fake, base) = start_fake().await;
    let toss = TossGateway::new(&base, SECRET, Duration::from_secs(2)).expect("client");
    let order = OrderId::new();
    assert_eq!(
        toss.confirm(confirm_request(order, "pay-key-1")).await,
        Ok(GatewayVerdict::Approved)
    );
    let refund = CancelRequest {
        payment_key: "tgen_20261126abcd".into(),
        reason: "order cancelled".into(),
        amount: Won(9_000),
        idempotency_key: "refund-key-1".into(),
    };
    assert_eq!(toss.cancel(refund).await, Ok(GatewayVerdict::Approved));

    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:"))
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/payments/confirm");
    assert_eq!(requests[0].authorization, basic);
    assert_eq!(requests[0].idempotency_key, "pay-key-1");
    assert_eq!(
        requests[0].body,
        json!({"paymentKey": "tgen_20261126abcd", "orderId": order.to_string(), "amount": 9_000})
    );
    assert_eq!(requests[1].path, "/v1/payments/tgen_20261126abcd/cancel");
    assert_eq!(requests[1].authorization, basic);
    assert_eq!(requests[1].idempotency_key, "refund-key-1");
    assert_eq!(requests[1].body, json!({"cancelReason": "order cancelled"}));
}

#[tokio::test]
async fn declines_are_answers_and_server_errors_say_when_to_retry() {
    let (fake, base) = start_fake().await;
    let toss = TossGateway::new(&base, SECRET, Duration::from_secs(2)).expect("client");
    fake.set(Behaviour::Decline);
    assert_eq!(
        toss.confirm(confirm_request(OrderId::new(), "k1")).await,
        Ok(GatewayVerdict::Declined {
            code: "REJECT_CARD_COMPANY".into(),
            message: "카드사 승인 거절".into()
        })
    );
    fake.set(Behaviour::Fail500);
    assert_eq!(
        toss.confirm(confirm_request(OrderId::new(), "k2")).await,
        Err(GatewayError::Unavailable {
            retry_after_secs: 7
        })
    );
    let unreachable =
        TossGateway::new("http://127.0.0.1:1", SECRET, Duration::from_secs(1)).expect("client");
    assert!(matches!(
        unreachable
            .confirm(confirm_request(OrderId::new(), "k3"))
            .await,
        Err(GatewayError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_payment_retried_after_a_timeout_charges_once() {
    let (fake, base) = start_fake().await;
    let services = PaymentServices {
        gateway: Arc::new(
            TossGateway::new(&base, SECRET, Duration::from_millis(300)).expect("client"),
        ),
    };
    let order = OrderId::new();
    let pay = PaymentCommand::PayForOrder {
        payment_id: PaymentId::for_order(order),
        order_id: order,
        customer: CustomerId::new(),
        amount: Won(9_000),
        payment_key: "tgen_20261126abcd".into(),
    };
    // The gateway charges but answers too late: nothing is recorded, the order stays payable.
    fake.set(Behaviour::Hang(Duration::from_millis(800)));
    let first = cqrs_es::test::TestFramework::<Payment>::with(services.clone())
        .given_no_previous_events()
        .when_async(pay.clone())
        .await
        .inspect_result();
    assert_eq!(first, Err(PaymentError::Gateway(GatewayError::Timeout)));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.charges(), 1, "the slow call did charge");

    // The customer pays again: same attempt, same idempotency key, the first charge's answer.
    fake.set(Behaviour::Approve);
    let second = cqrs_es::test::TestFramework::<Payment>::with(services)
        .given_no_previous_events()
        .when_async(pay)
        .await
        .inspect_result()
        .expect("approved");
    assert!(matches!(
        second.as_slice(),
        [PaymentEvent::PaymentApproved(_)]
    ));
    assert_eq!(fake.charges(), 1, "charged once");
    let keys: Vec<String> = fake
        .requests()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn the_breaker_opens_on_a_failing_gateway_refuses_at_once_and_recovers() {
    let (fake, base) = start_fake().await;
    let settings = BreakerSettings {
        timeout: Duration::from_millis(200),
        failures: 3,
        open_for: Duration::from_secs(1),
    };
    let toss = TossGateway::new(&base, SECRET, Duration::from_secs(5)).expect("client");
    let guarded = GuardedGateway::new(toss, settings);
    let call = |n: usize| confirm_request(OrderId::new(), &format!("key-{n}"));

    // Two timeouts and a 500: three consecutive failures open the breaker.
    fake.set(Behaviour::Hang(Duration::from_secs(2)));
    assert_eq!(guarded.confirm(call(1)).await, Err(GatewayError::Timeout));
    assert_eq!(guarded.confirm(call(2)).await, Err(GatewayError::Timeout));
    fake.set(Behaviour::Fail500);
    assert!(matches!(
        guarded.confirm(call(3)).await,
        Err(GatewayError::Unavailable { .. })
    ));
    assert_eq!(guarded.state(), BreakerState::Open);
    let reached = fake.requests().len();
    assert_eq!(reached, 3);

    // Open: answered at once with when to retry; the gateway is not called.
    let mut slowest = Duration::ZERO;
    for n in 0..50 {
        let started = Instant::now();
        let result = guarded.confirm(call(100 + n)).await;
        slowest = slowest.max(started.elapsed());
        assert!(
            matches!(result, Err(GatewayError::Unavailable { retry_after_secs }) if (1..=1).contains(&retry_after_secs))
        );
    }
    assert!(
        slowest < Duration::from_millis(50),
        "open breaker answered in {slowest:?}"
    );
    assert_eq!(
        fake.requests().len(),
        reached,
        "no call reached the failing gateway"
    );

    // After open_for, one trial goes through; it fails, so the breaker opens again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(matches!(
        guarded.confirm(call(200)).await,
        Err(GatewayError::Unavailable { .. })
    ));
    assert_eq!(guarded.state(), BreakerState::Open);
    assert_eq!(fake.requests().len(), reached + 1);

    // The gateway recovers: the next trial succeeds and closes the breaker.
    fake.set(Behaviour::Approve);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        guarded.confirm(call(300)).await,
        Ok(GatewayVerdict::Approved)
    );
    assert_eq!(guarded.state(), BreakerState::Closed);
    assert_eq!(
        guarded.confirm(call(301)).await,
        Ok(GatewayVerdict::Approved)
    );
    eprintln!(
        "breaker: open answers within {slowest:?}; {} of {} calls reached the gateway",
        fake.requests().len(),
        3 + 50 + 1 + 2
    );
}
