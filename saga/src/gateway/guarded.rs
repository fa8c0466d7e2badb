//! A gateway behind a timeout and a circuit breaker.
//!
//! After `failures` consecutive failures (timeouts, 5xx, unreachable) the breaker opens: for
//! `open_for` every call is refused at once with "unavailable, retry in N seconds" and the
//! gateway is not called at all. Then one call is let through (half-open): success closes the
//! breaker, failure opens it again. A declined card is an answer, not a failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eats_domain::payment::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, PaymentGateway,
};
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;
use failsafe::futures::CircuitBreaker;
use failsafe::{Instrument, StateMachine};

/// The breaker's tuning.
#[derive(Clone, Debug)]
pub struct BreakerSettings {
    /// Longest wait for one gateway call.
    pub timeout: Duration,
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long it stays open before letting one call through.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            failures: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, as exported on `/metrics` (`eats_payment_breaker_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed = 0,
    /// One trial call goes through.
    HalfOpen = 1,
    /// Calls are refused at once.
    Open = 2,
}

/// Records state changes for metrics and for telling callers when to retry.
#[derive(Clone, Debug)]
struct Observer {
    state: Arc<Mutex<(BreakerState, Option<Instant>)>>,
}

impl Observer {
    fn set(&self, state: BreakerState) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // failsafe reports "closed" once when the breaker is built: that is no change.
        if guard.0 == state {
            return;
        }
        let opened = if state == BreakerState::Open {
            Some(Instant::now())
        } else {
            guard.1
        };
        *guard = (state, opened);
        metrics::gauge!("eats_payment_breaker_state").set(f64::from(state as u8));
        if state == BreakerState::Open {
            tracing::warn!(?state, "payment gateway circuit breaker opened");
        } else {
            tracing::info!(?state, "payment gateway circuit breaker changed state");
        }
    }
}

impl Instrument for Observer {
    fn on_call_rejected(&self) {
        metrics::counter!("eats_payment_breaker_rejected_total").increment(1);
    }
    fn on_open(&self) {
        self.set(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.set(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.set(BreakerState::Closed);
    }
}

type Breaker = StateMachine<ConsecutiveFailures<Constant>, Observer>;

/// `G` behind a timeout and a circuit breaker.
pub struct GuardedGateway<G> {
    inner: G,
    breaker: Breaker,
    observer: Observer,
    settings: BreakerSettings,
}

impl<G: PaymentGateway> GuardedGateway<G> {
    /// Guards `inner` with `settings`.
    pub fn new(inner: G, settings: BreakerSettings) -> Self {
        let observer = Observer {
            state: Arc::new(Mutex::new((BreakerState::Closed, None))),
        };
        let policy = failsafe::failure_policy::consecutive_failures(
            settings.failures.max(1),
            failsafe::backoff::constant(settings.open_for),
        );
        let breaker = failsafe::Config::new()
            .failure_policy(policy)
            .instrument(observer.clone())
            .build();
        metrics::gauge!("eats_payment_breaker_state").set(0.0);
        Self {
            inner,
            breaker,
            observer,
            settings,
        }
    }

    /// The breaker's state now.
    pub fn state(&self) -> BreakerState {
        self.observer
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// The gateway behind the breaker.
    pub fn inner(&self) -> &G {
        &self.inner
    }

    fn retry_after_secs(&self) -> u64 {
        let opened = self
            .observer
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1;
        let remaining = opened
            .map(|at| self.settings.open_for.saturating_sub(at.elapsed()))
            .unwrap_or(self.settings.open_for);
        remaining.as_secs_f64().ceil().max(1.0) as u64
    }

    async fn guarded<F>(&self, call: F) -> Result<GatewayVerdict, GatewayError>
    where
        F: std::future::Future<Output = Result<GatewayVerdict, GatewayError>>,
    {
        let timeout = self.settings.timeout;
        let result = self
            .breaker
            .call(async move {
                match tokio::time::timeout(timeout, call).await {
                    Ok(result) => result,
                    Err(_) => Err(GatewayError::Timeout),
                }
            })
            .await;
        match result {
            Ok(verdict) => Ok(verdict),
            Err(failsafe::Error::Inner(error)) => Err(error),
            Err(failsafe::Error::Rejected) => Err(GatewayError::Unavailable {
                retry_after_secs: self.retry_after_secs(),
            }),
        }
    }
}

#[async_trait]
impl<G: PaymentGateway> PaymentGateway for GuardedGateway<G> {
    async fn confirm(&self, request: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
        self.guarded(self.inner.confirm(request)).await
    }

    async fn cancel(&self, request: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
        self.guarded(self.inner.cancel(request)).await
    }
}
