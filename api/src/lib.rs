//! The eats HTTP API.
//!
//! - [`problem`]: every refusal as an RFC 9457 problem, with a stable `type` per kind of
//!   error and the HTTP status decided in exactly one place (an optimistic-concurrency
//!   conflict becomes 409 here and nowhere else).

pub mod problem;

pub use problem::{Classified, Problem, ProblemKind};
