//! Structured logs and metrics.
//!
//! Logs go to stderr (stdout carries command output alone): human-readable by default, JSON
//! with `EATS_LOG_FORMAT=json` for collectors, each line with its span (the request, or the
//! event a consumer handles) and the span's parents; the filter comes from `EATS_LOG` (e.g.
//! `info,eats_store=debug`).
//!
//! Metrics: every eats counter and gauge is registered when the recorder is installed, at
//! zero, so `/metrics` lists each series from the start (an alert on `rate()` or `absent()`
//! needs the series before its first increment). Series whose labels are only known when
//! something happens (HTTP route and status) appear with the first request.

use eats_saga::deadlines::Kind;
use eats_saga::ProcessManager;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (e.g. from several tests) are no-ops.
pub fn init() {
    // sqlx reports every Postgres NOTICE (e.g. "relation _sqlx_migrations already exists,
    // skipping" on each start) at info: not news to an operator.
    let filter = EnvFilter::try_from_env("EATS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let json = std::env::var("EATS_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus recorder, installed on first use with every eats metric
/// registered; `/metrics` renders it.
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        // Buckets make the HTTP latency a Prometheus histogram (aggregatable across
        // replicas) rather than a per-process summary.
        let builder = match builder.set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(eats_api::telemetry::HTTP_DURATION.into()),
            eats_api::telemetry::HTTP_BUCKETS,
        ) {
            Ok(with_buckets) => with_buckets,
            Err(error) => unreachable!("HTTP_BUCKETS is a non-empty constant: {error}"),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => register(),
            Err(error) => tracing::warn!(%error, "a metrics recorder was already installed"),
        }
        handle
    })
}

/// Describes every eats metric and registers the ones whose labels are fixed, at zero.
/// Names and labels must match the `counter!`/`gauge!` calls where they are recorded; the
/// binary's tests compare this list with the source.
fn register() {
    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
    };

    eats_api::telemetry::describe_metrics();
    eats_store::commands::describe_metrics();
    describe_counter!(
        "eats_http_rate_limited_total",
        "Requests refused with 429 by the per-client rate limit"
    );
    counter!("eats_http_rate_limited_total").increment(0);

    describe_counter!(
        "eats_http_header_timeouts_total",
        "Connections closed because the request line and headers did not arrive in time"
    );
    counter!("eats_http_header_timeouts_total").increment(0);
    describe_counter!(
        "eats_http_headers_too_large_total",
        "Requests refused with 431, by kind (all headers, or the bearer token alone)"
    );
    for kind in ["headers-too-large", "token-too-large"] {
        counter!("eats_http_headers_too_large_total", "kind" => kind).increment(0);
    }

    describe_gauge!("eats_open_streams", "Live SSE streams open in this process");
    gauge!("eats_open_streams").set(0.0);
    describe_counter!(
        "eats_streams_refused_total",
        "Live streams refused with 429 because the user held EATS_STREAMS_PER_USER already"
    );
    counter!("eats_streams_refused_total").increment(0);

    describe_counter!(
        "eats_dead_letters_total",
        "Events a consumer gave up on and parked for an operator, by consumer"
    );
    counter!("eats_dead_letters_total", "consumer" => ProcessManager::NAME).increment(0);

    describe_counter!(
        "eats_deadlines_fired_total",
        "Deadlines that expired and acted (cancel, auto-reject, widen the search), by kind"
    );
    for kind in [Kind::PaymentDue, Kind::StoreResponseDue, Kind::ClaimDue] {
        counter!("eats_deadlines_fired_total", "kind" => kind.to_string()).increment(0);
    }
    describe_counter!(
        "eats_delivery_escalations_total",
        "Delivery jobs still unclaimed at the widest radius, escalated to an operator"
    );
    counter!("eats_delivery_escalations_total").increment(0);

    // Embedded mode only, recorded from the first write on.
    describe_histogram!(
        eats_store::WRITER_WAIT_METRIC,
        Unit::Seconds,
        "Time a SQLite writer waited for its turn, by what writes (commands, projections, \
         deadlines, checkpoints)"
    );
    describe_histogram!(
        eats_store::WRITER_HELD_METRIC,
        Unit::Seconds,
        "Time a SQLite writer held its turn, by what writes: the sum's rate is how busy the one \
         writer is, embedded mode's bound"
    );

    describe_counter!(
        "eats_relay_duplicates_total",
        "Events the outbox relay published again that JetStream dropped as duplicates (after a \
         crash or a failed round; 0 in a healthy run)"
    );
    counter!("eats_relay_duplicates_total").increment(0);

    describe_counter!(
        "eats_payment_breaker_rejected_total",
        "Payment calls refused at once because the gateway's circuit breaker was open"
    );
    counter!("eats_payment_breaker_rejected_total").increment(0);
    describe_gauge!(
        "eats_payment_breaker_state",
        "The payment gateway's circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    gauge!("eats_payment_breaker_state").set(0.0);

    describe_counter!(
        "eats_notifications_total",
        "Notification messages by what became of them (outcome: sent, failed, retried, shed, \
         skipped), why, and provider"
    );
    describe_counter!(
        "eats_notifications_delivery_total",
        "Sent notification messages by the provider's verdict (result: delivered, undelivered)"
    );
    describe_gauge!(
        "eats_notifications_queue_depth",
        Unit::Count,
        "Notification messages recorded and not yet sent"
    );
    gauge!("eats_notifications_queue_depth").set(0.0);
    describe_histogram!(
        "eats_notify_provider_seconds",
        Unit::Seconds,
        "Time of one call to the notification provider"
    );
    describe_gauge!(
        "eats_notify_breaker_state",
        "The notification provider's circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    for provider in ["log", "nhn", "solapi", "webhook"] {
        for outcome in ["sent", "failed", "shed"] {
            counter!("eats_notifications_total", "outcome" => outcome, "reason" => "", "provider" => provider)
                .increment(0);
        }
        for result in ["delivered", "undelivered"] {
            counter!("eats_notifications_delivery_total", "result" => result, "provider" => provider)
                .increment(0);
        }
        gauge!("eats_notify_breaker_state", "provider" => provider).set(0.0);
        // Registered, so the series is listed before the first call.
        let _ = histogram!("eats_notify_provider_seconds", "provider" => provider);
    }

    describe_gauge!(
        "eats_consumer_lag_events",
        Unit::Count,
        "Committed events a consumer has not handled yet, by consumer"
    );
    describe_gauge!(
        "eats_consumer_lag_seconds",
        Unit::Seconds,
        "Age of the oldest event a consumer has not handled yet, by consumer"
    );
    describe_gauge!(
        "eats_outbox_pending_events",
        Unit::Count,
        "Committed events the relay has not published to JetStream yet"
    );
    describe_gauge!(
        "eats_outbox_oldest_seconds",
        Unit::Seconds,
        "Age of the oldest event the relay has not published yet"
    );
}
