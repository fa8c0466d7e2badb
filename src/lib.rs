//! The `eats` binary's library: configuration, start-up and the admin commands.
//!
//! `main.rs` only parses the command line and calls in here, so integration tests start the
//! very same application on port 0 with a fresh database.
//!
//! - [`config`]: every setting, from `EATS_*` environment variables or the mirroring flags.
//! - [`app`]: opens the event store for the configured mode and serves HTTP until shutdown.
//! - [`edge`]: the server's outer defences (request head timeout, header and token caps).
//! - [`demo`]: the first embedded run's demo stores (`EATS_DEMO_DATA`).
//! - [`admin`]: one-shot operator commands (an aggregate's audit trail).
//! - [`workers`]: the background roles (outbox relay, projectors) and their lag metrics.
//! - [`web`]: the web app, built into the binary and served at `/`.
//! - [`telemetry`]: structured logs through `tracing`, Prometheus metrics.

pub mod admin;
pub mod app;
pub mod config;
pub mod demo;
pub mod edge;
pub mod telemetry;
pub mod web;
pub mod workers;
