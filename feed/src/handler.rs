//! What a consumer implements.

use async_trait::async_trait;

use crate::event::FeedEvent;

/// A consumer of committed events: a projector, a process manager or the notifier.
///
/// Feeds deliver at least once and in per-aggregate order, so `handle` must be idempotent:
/// the same event twice must have the effect of once. Order holds across refusals too: once
/// an event is refused, no later event of its aggregate is handed over until that one has
/// succeeded. (A handler with [`concurrency`](Self::concurrency) above 1 has the refused event
/// retried in place in both feeds, other aggregates going on meanwhile; at 1, the JetStream
/// feed redelivers it later and goes on with other aggregates, the embedded feed retries it in
/// place.) An event applied before may still come again.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Stable, unique name: the durable consumer and checkpoint are keyed by it, so renaming
    /// a handler starts it from the beginning.
    fn name(&self) -> &str;

    /// The aggregate types it wants; events of others are skipped without a call.
    fn aggregate_types(&self) -> &[&'static str];

    /// How many events may be in flight at once. At 1 (the default) batches go through
    /// [`handle_batch`](Self::handle_batch) one after another: right for read models, which
    /// apply a batch in one transaction. Above 1 the feed runs different aggregates
    /// concurrently, each aggregate's events still in order, so a handler that calls out (a
    /// payment gateway, a message provider) is held up by a slow call only for that
    /// aggregate.
    fn concurrency(&self) -> usize {
        1
    }

    /// The key of the handler's own per-aggregate positions in `projection_positions`, if it
    /// keeps them: the last event of each aggregate it applied, written in the transaction of
    /// that event's effects, with any events missing before an incoming one read from the
    /// event store and applied first by the handler itself (a projector does). A feed that
    /// tracks positions to find events the bus lost (JetStream's `Recorded`) then reads these
    /// instead of writing a second copy of them after every batch.
    fn own_positions(&self) -> Option<&str> {
        None
    }

    /// Applies one event. An error leaves it unacknowledged; it is offered again later, and
    /// its aggregate's later events wait for it.
    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError>;

    /// Applies consecutive events, in order. Handlers that can apply many at once (one
    /// transaction instead of one per event) override this; on error none of the batch is
    /// acknowledged and each is offered again.
    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        for event in events {
            self.handle(event).await?;
        }
        Ok(())
    }
}

/// Why a handler could not apply an event. The feed retries it with backoff.
#[derive(Debug, thiserror::Error)]
#[error("{handler} could not apply {event}: {reason}")]
pub struct HandlerError {
    /// The handler.
    pub handler: String,
    /// The event's key.
    pub event: String,
    /// What went wrong.
    pub reason: String,
}

impl HandlerError {
    /// An error of `handler` on `event`.
    pub fn new(handler: &str, event: &FeedEvent, reason: impl std::fmt::Display) -> Self {
        Self {
            handler: handler.to_string(),
            event: event.key(),
            reason: reason.to_string(),
        }
    }
}
