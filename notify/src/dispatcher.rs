//! The dispatcher: claims recorded messages and sends them, shedding under load.
//!
//! Under load it degrades in this order, each step counted in `eats_notifications_total`:
//! a queued message overtaken by a newer one about the same order is shed (`superseded`); one
//! older than its freshness deadline is shed (`stale`); a token bucket holds the rest to the
//! provider's rate; while the provider's circuit breaker is open, non-critical messages are
//! shed (`breaker_open`) and critical ones go back to the queue until it closes. Memory is
//! bounded by one claimed batch: the backlog stays in the table.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eats_store::Database;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::provider::{Provider, SendError};
use crate::records::{self, now_ms, Outcome, Record};

/// How the dispatcher sends and sheds.
#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// A non-critical message older than this is shed as stale.
    pub freshness: Duration,
    /// The same for money messages (payment and refund confirmations).
    pub money_freshness: Duration,
    /// Messages per second to the provider (token bucket rate).
    pub rate_per_sec: u32,
    /// Messages the bucket lets through at once.
    pub burst: u32,
    /// Consecutive provider failures that open the breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one trial call.
    pub breaker_open: Duration,
    /// Calls per message before it is given up as failed.
    pub max_attempts: u32,
    /// Retry delay after the first failure; doubles per attempt.
    pub first_backoff: Duration,
    /// Messages claimed at once (bounds memory).
    pub batch: u16,
    /// Orders sent to concurrently (each order's messages one after another).
    pub concurrency: usize,
    /// How long a claim holds; a lapsed claim is sent again with the same idempotency key.
    pub lease: Duration,
    /// How often to look for messages recorded by other processes.
    pub poll: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            freshness: Duration::from_secs(60),
            money_freshness: Duration::from_secs(3_600),
            rate_per_sec: 50,
            burst: 100,
            breaker_failures: 5,
            breaker_open: Duration::from_secs(30),
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
            batch: 64,
            concurrency: 16,
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(500),
        }
    }
}

/// A circuit breaker around one provider.
#[derive(Debug)]
struct Breaker {
    failures: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive: u32,
    open_until: Option<Instant>,
    trial: bool,
}

impl Breaker {
    /// `Ok` to call; `Err(wait)` while open.
    fn allow(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.open_until {
            None => Ok(()),
            Some(until) if Instant::now() < until => Err(until - Instant::now()),
            Some(_) if state.trial => Err(Duration::from_millis(100)),
            Some(_) => {
                state.trial = true;
                Ok(())
            }
        }
    }

    /// Records a call's result; returns the state for metrics (0 closed, 1 half-open, 2 open).
    fn record(&self, success: bool) -> u8 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.trial = false;
        if success {
            *state = BreakerState::default();
            return 0;
        }
        state.consecutive += 1;
        if state.consecutive >= self.failures || state.open_until.is_some() {
            state.open_until = Some(Instant::now() + self.open_for);
            return 2;
        }
        0
    }
}

/// Sends recorded messages through one provider.
pub struct Dispatcher {
    db: Database,
    provider: Arc<dyn Provider>,
    settings: NotifySettings,
    wake: Arc<Notify>,
    breaker: Breaker,
    limiter: DefaultDirectRateLimiter,
}

fn count(outcome: &'static str, reason: &str, provider: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("eats_notifications_total", "outcome" => outcome, "reason" => reason.to_string(), "provider" => provider).increment(n);
    }
}

impl Dispatcher {
    /// A dispatcher over `db`'s records through `provider`, woken by `wake` when the consumer
    /// in this process records something.
    pub fn new(
        db: Database,
        provider: Arc<dyn Provider>,
        settings: NotifySettings,
        wake: Arc<Notify>,
    ) -> Self {
        let rate = NonZeroU32::new(settings.rate_per_sec.max(1)).expect("at least one");
        let burst = NonZeroU32::new(settings.burst.max(1)).expect("at least one");
        Self {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            breaker: Breaker {
                failures: settings.breaker_failures.max(1),
                open_for: settings.breaker_open,
                state: Mutex::new(BreakerState::default()),
            },
            db,
            provider,
            settings,
            wake,
        }
    }

    /// Sends until `shutdown`, then finishes the messages in hand. A database error is logged
    /// and retried after a pause; claims of a batch that was interrupted lapse and are sent
    /// again with the same idempotency key.
    pub async fn run(&self, shutdown: CancellationToken) {
        let provider = self.provider.name();
        let mut depth_at = Instant::now() - Duration::from_secs(10);
        tracing::info!(provider, "notifier dispatcher started");
        while !shutdown.is_cancelled() {
            if depth_at.elapsed() >= Duration::from_secs(1) {
                depth_at = Instant::now();
                match records::queue_depth(&self.db).await {
                    Ok(depth) => {
                        metrics::gauge!("eats_notifications_queue_depth").set(depth as f64)
                    }
                    Err(error) => tracing::warn!(%error, "counting queued notifications failed"),
                }
            }
            match self.round().await {
                Ok(0) => {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "notifier dispatcher failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        tracing::info!(provider, "notifier dispatcher stopped");
    }

    /// One round: shed what is superseded or stale, claim a batch, send it. Returns how many
    /// messages it claimed.
    pub async fn round(&self) -> Result<usize, sqlx::Error> {
        let provider = self.provider.name();
        let now = now_ms();
        count(
            "shed",
            "superseded",
            provider,
            records::shed_superseded(&self.db).await?,
        );
        let fresh_before = now - self.settings.freshness.as_millis() as i64;
        let money_before = now - self.settings.money_freshness.as_millis() as i64;
        count(
            "shed",
            "stale",
            provider,
            records::shed_stale(&self.db, fresh_before, money_before).await?,
        );
        let claimed = records::claim(
            &self.db,
            now,
            self.settings.lease.as_millis() as i64,
            i64::from(self.settings.batch.max(1)),
        )
        .await?;
        let n = claimed.len();
        // Each order's messages one after another, orders in the order of their oldest message.
        let mut groups: Vec<Vec<Record>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for record in claimed {
            let key = format!(
                "{}|{}|{}",
                record.order_id.as_deref().unwrap_or(&record.id),
                record.recipient,
                record.channel
            );
            let slot = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[slot].push(record);
        }
        let results: Vec<Result<(), sqlx::Error>> = futures::stream::iter(groups)
            .map(|records| async move {
                for record in records {
                    self.send_one(record).await?;
                }
                Ok(())
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(n)
    }

    async fn send_one(&self, record: Record) -> Result<(), sqlx::Error> {
        let provider = self.provider.name();
        let message = match record.outgoing() {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "unsendable notification record");
                count("failed", "unreadable", provider, 1);
                let outcome = Outcome::Failed(error.to_string());
                return records::finish(&self.db, &record.id, provider, &outcome, false, now_ms())
                    .await;
            }
        };
        if let Err(wait) = self.breaker.allow() {
            let outcome = if record.critical {
                Outcome::Retry {
                    at: now_ms() + wait.as_millis() as i64,
                    reason: "breaker_open".into(),
                }
            } else {
                count("shed", "breaker_open", provider, 1);
                Outcome::Shed("breaker_open".into())
            };
            return records::finish(&self.db, &record.id, provider, &outcome, false, now_ms())
                .await;
        }
        self.limiter.until_ready().await;
        let started = Instant::now();
        let result = self.provider.send(&message).await;
        metrics::histogram!("eats_notify_provider_seconds", "provider" => provider)
            .record(started.elapsed().as_secs_f64());
        let breaker = self
            .breaker
            .record(!matches!(result, Err(SendError::Unavailable(_))));
        metrics::gauge!("eats_notify_breaker_state", "provider" => provider)
            .set(f64::from(breaker));
        let outcome = match result {
            Ok(accepted) => {
                count("sent", "", provider, 1);
                Outcome::Sent {
                    request_id: accepted.request_id,
                    reason: None,
                }
            }
            Err(SendError::Duplicate) => {
                count("sent", "duplicate_request", provider, 1);
                Outcome::Sent {
                    request_id: None,
                    reason: Some("duplicate_request".into()),
                }
            }
            Err(SendError::Refused { code, message }) => {
                tracing::warn!(id = %record.id, %code, %message, "provider refused a notification");
                count("failed", "refused", provider, 1);
                Outcome::Failed(format!("refused: {code}: {message}"))
            }
            Err(SendError::Unavailable(reason)) => {
                let attempts = u32::try_from(record.attempts + 1).unwrap_or(u32::MAX);
                if attempts >= self.settings.max_attempts.max(1) {
                    count("failed", "unavailable", provider, 1);
                    Outcome::Failed(format!("unavailable after {attempts} attempts: {reason}"))
                } else {
                    let backoff = self.settings.first_backoff * 2u32.saturating_pow(attempts - 1);
                    let jitter = fastrand::u64(0..=backoff.as_millis() as u64 / 4 + 1);
                    count("retried", "unavailable", provider, 1);
                    Outcome::Retry {
                        at: now_ms() + backoff.as_millis() as i64 + jitter as i64,
                        reason: format!("unavailable: {reason}"),
                    }
                }
            }
        };
        records::finish(&self.db, &record.id, provider, &outcome, true, now_ms()).await
    }
}
