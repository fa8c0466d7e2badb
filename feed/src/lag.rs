//! How far a consumer is behind the event log.

use serde::Serialize;

/// Behind by this many events, the oldest of which was committed this long ago. Exported as
/// metrics and used to scale consumers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Lag {
    /// Committed events the consumer has not yet handled.
    pub events: u64,
    /// Age of the oldest of them, in seconds; 0 when caught up.
    pub seconds: f64,
}
