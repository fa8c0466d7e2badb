//! The dispatcher: claims recorded messages and sends them, shedding under load.
//!
//! Under load it degrades in this order, each step counted in `eats_notifications_total`:
//! a queued message overtaken by a newer one about the same order is shed (`superseded`); one
//! older than its freshness deadline is shed (`stale`); a token bucket holds the rest to the
//! provider's rate; while the provider's circuit breaker is open, non-critical messages are
//! shed (`breaker_open`) and critical ones go back to the queue until it closes. Memory is
//! bounded by one claimed batch: the backlog stays in the table.
//!
//! Beside sending, it asks the provider what became of each sent message until the provider
//! has a verdict (`delivered` / `undelivered`, counted in `eats_notifications_delivery_total`)
//! or the message is older than the give-up age, which ends it `undelivered` (`no_result`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eats_store::Database;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::provider::{Provider, SendError, Verdict};
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
    /// How long after sending, and then how often, to ask for a message's delivery result.
    pub delivery_poll: Duration,
    /// A sent message without a verdict this long after sending is given up as undelivered.
    pub delivery_give_up: Duration,
    /// Results asked for at once.
    pub delivery_batch: u16,
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
            delivery_poll: Duration::from_secs(30),
            delivery_give_up: Duration::from_secs(86_400),
            delivery_batch: 64,
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
    /// `Ok(false)` to call, `Ok(true)` to make the one trial call of a half-open breaker;
    /// `Err(wait)` while open.
    fn allow(&self) -> Result<bool, Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.open_until {
            None => Ok(false),
            Some(until) if Instant::now() < until => Err(until - Instant::now()),
            Some(_) if state.trial => Err(Duration::from_millis(100)),
            Some(_) => {
                state.trial = true;
                Ok(true)
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
    /// When this dispatcher last swept the queue for superseded messages.
    swept: Mutex<Option<Instant>>,
}

/// How often a dispatcher sweeps the whole queue for superseded messages. Recording sheds
/// what a new message overtakes ([`records::insert`]), and a message sent in vain that a newer
/// one overtook meanwhile is shed as it comes back to the queue ([`records::finish`]); the
/// sweep is for what neither can see (two batches of one order recorded at once, a message
/// held by another transaction). It reads every queued message, thousands under a provider's
/// rate limit: every round, it was a tenth of the database's statement time in a load test.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

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
            swept: Mutex::new(None),
        }
    }

    /// Whether this round sweeps: the first, then one every [`SWEEP_EVERY`] after the last
    /// that succeeded.
    fn sweep_due(&self) -> bool {
        let swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
        !matches!(*swept, Some(at) if at.elapsed() < SWEEP_EVERY)
    }

    /// Sends until `shutdown`, then finishes the messages in hand. A database error is logged
    /// and retried after a pause; claims of a batch that was interrupted lapse and are sent
    /// again with the same idempotency key.
    pub async fn run(&self, shutdown: CancellationToken) {
        tokio::join!(
            self.send_until(shutdown.clone()),
            self.ask_for_deliveries_until(shutdown)
        );
    }

    async fn send_until(&self, shutdown: CancellationToken) {
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

    /// When to ask first for a just-sent message's result; `None` when acceptance is delivery.
    fn first_delivery_check(&self) -> Option<i64> {
        self.provider
            .reports_delivery()
            .then(|| now_ms() + self.settings.delivery_poll.as_millis() as i64)
    }

    async fn ask_for_deliveries_until(&self, shutdown: CancellationToken) {
        let tick = (self.settings.delivery_poll / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
            if let Err(error) = self.delivery_round().await {
                tracing::warn!(%error, "asking for notification delivery results failed; retrying");
            }
        }
    }

    /// One round of delivery results: asks the provider about every sent message due for a
    /// look and records each verdict. Returns how many it asked about.
    pub async fn delivery_round(&self) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        let poll = self.settings.delivery_poll.as_millis() as i64;
        let due = records::awaiting_delivery(
            &self.db,
            now,
            // Long enough for a batch of slow queries; lapses if this process dies meanwhile.
            poll.max(1_000) * 4,
            i64::from(self.settings.delivery_batch.max(1)),
        )
        .await?;
        let n = due.len();
        let results: Vec<Result<(), sqlx::Error>> = futures::stream::iter(due)
            .map(|record| self.ask_for_delivery(record))
            .buffer_unordered(4)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(n)
    }

    async fn ask_for_delivery(&self, record: Record) -> Result<(), sqlx::Error> {
        let provider = self.provider.name();
        let now = now_ms();
        let too_old = record
            .sent_at
            .is_some_and(|sent| now - sent >= self.settings.delivery_give_up.as_millis() as i64);
        let verdict = if !self.provider.reports_delivery() {
            // Sent before this provider was chosen, or by one that reports nothing.
            Verdict::Delivered { how: None }
        } else if record.request_id.is_none() {
            Verdict::Undelivered {
                reason: "no_result: the provider gave no request id to ask about".into(),
            }
        } else {
            match record.outgoing() {
                Err(error) => Verdict::Undelivered {
                    reason: format!("no_result: {error}"),
                },
                Ok(message) => match self.provider.delivery(&message, &record.accepted()).await {
                    Ok(verdict) => verdict,
                    Err(SendError::Refused { code, message }) => {
                        tracing::warn!(id = %record.id, %code, %message, "provider refused a delivery result query");
                        Verdict::Undelivered {
                            reason: format!("no_result: query refused: {code}: {message}"),
                        }
                    }
                    Err(error) => {
                        tracing::debug!(id = %record.id, %error, "delivery result query failed");
                        Verdict::Pending
                    }
                },
            }
        };
        let (result, reason) = match verdict {
            Verdict::Pending if !too_old => {
                let again = now + self.settings.delivery_poll.as_millis() as i64;
                return records::check_delivery_again(&self.db, &record.id, again).await;
            }
            Verdict::Pending => (
                records::delivery::UNDELIVERED,
                Some(format!(
                    "no_result: no verdict {} s after sending",
                    self.settings.delivery_give_up.as_secs()
                )),
            ),
            Verdict::Delivered { how } => (records::delivery::DELIVERED, how),
            Verdict::Undelivered { reason } => (records::delivery::UNDELIVERED, Some(reason)),
        };
        if records::record_delivery(&self.db, &record.id, result, reason.as_deref(), now).await? {
            metrics::counter!("eats_notifications_delivery_total", "result" => result, "provider" => provider)
                .increment(1);
        }
        Ok(())
    }

    /// One round: shed what is stale (and, now and then, superseded), claim a batch, send it.
    /// Returns how many messages it claimed.
    pub async fn round(&self) -> Result<usize, sqlx::Error> {
        let provider = self.provider.name();
        let now = now_ms();
        if self.sweep_due() {
            let started = Instant::now();
            count(
                "shed",
                "superseded",
                provider,
                records::shed_superseded(&self.db).await?,
            );
            *self.swept.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        }
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
        let allowed = self.breaker.allow();
        if allowed == Ok(true) {
            metrics::gauge!("eats_notify_breaker_state", "provider" => provider).set(1.0);
        }
        if let Err(wait) = allowed {
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
                    accepted,
                    reason: None,
                    check_delivery_at: self.first_delivery_check(),
                }
            }
            Err(SendError::Duplicate) => {
                // The earlier attempt's answer (and its request id) was lost: there is no
                // receipt to ask about, so no delivery result will come.
                count("sent", "duplicate_request", provider, 1);
                Outcome::Sent {
                    accepted: crate::provider::Accepted::default(),
                    reason: Some("duplicate_request".into()),
                    check_delivery_at: self.first_delivery_check(),
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
