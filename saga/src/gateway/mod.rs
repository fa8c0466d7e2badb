//! Payment gateways: the Toss Payments HTTP adapter, the built-in simulator, and the timeout
//! and circuit breaker every gateway call goes through.

pub mod guarded;
pub mod simulator;
pub mod toss;

pub use guarded::{BreakerSettings, BreakerState, GuardedGateway};
pub use simulator::{SimulatedGateway, SimulatorSettings};
pub use toss::TossGateway;
