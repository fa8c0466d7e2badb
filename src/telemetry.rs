//! Structured logs and metrics.
//!
//! Logs go to stderr, always (stdout is for command output: `OWNER=$(eats token ...)`):
//! human-readable by default, JSON with `EATS_LOG_FORMAT=json` for
//! collectors; the filter comes from `EATS_LOG` (e.g. `info,eats_store=debug`).

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

/// The process-wide Prometheus recorder, installed on first use; `/metrics` renders it.
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
