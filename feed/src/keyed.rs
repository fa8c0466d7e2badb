//! Different aggregates at once, each aggregate's events in order: so one slow call (a
//! payment gateway taking 300 ms for a refund) holds up only the order it is about.
//!
//! Events are submitted in commit order with a ticket (the embedded feed's rowid). An
//! aggregate with nothing in flight starts a run at once; events of an aggregate whose run is
//! in flight queue behind it and go together, in order, as its next run (one `handle_batch`).
//! The runs are futures polled by the feed's own task, so a handler needs no `'static` or
//! `Arc` and a run is never cut off mid-call: on shutdown the feed lets every run end. The
//! feed must poll them beside anything else it awaits (see `EmbeddedFeed::follow_keyed`):
//! a run may hold what that waits for. Both feeds use it: the embedded feed with the log's
//! rowid as the ticket, the JetStream feed with the message to acknowledge.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::event::FeedEvent;
use crate::handler::EventHandler;

type Key = (String, String);

/// What one run hands back: its aggregate, the tickets of its events, and whether it ended
/// because they were applied (false: interrupted by shutdown while retrying).
type Ended<T> = (Key, Vec<T>, bool);

/// The runs in flight for one handler.
pub struct Keyed<'a, T> {
    handler: &'a dyn EventHandler,
    shutdown: &'a CancellationToken,
    /// Aggregates with a run in flight, and the events waiting behind it.
    behind: HashMap<Key, Vec<(T, FeedEvent)>>,
    running: FuturesUnordered<BoxFuture<'a, Ended<T>>>,
    /// Events submitted and not yet applied (running or waiting).
    held: usize,
}

impl<'a, T: Send + 'a> Keyed<'a, T> {
    /// No runs yet for `handler`; a run retrying a refused event gives up at `shutdown`.
    pub fn new(handler: &'a dyn EventHandler, shutdown: &'a CancellationToken) -> Self {
        Self {
            handler,
            shutdown,
            behind: HashMap::new(),
            running: FuturesUnordered::new(),
            held: 0,
        }
    }

    /// Whether any run is in flight.
    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// How many submitted events are not yet applied: running, or waiting behind a run.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Hands `event` over: now if its aggregate has nothing in flight, else after what has.
    pub fn submit(&mut self, ticket: T, event: FeedEvent) {
        self.held += 1;
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        match self.behind.get_mut(&key) {
            Some(waiting) => waiting.push((ticket, event)),
            None => {
                self.behind.insert(key.clone(), Vec::new());
                self.start(key, vec![(ticket, event)]);
            }
        }
    }

    fn start(&mut self, key: Key, group: Vec<(T, FeedEvent)>) {
        let (handler, shutdown) = (self.handler, self.shutdown);
        self.running.push(Box::pin(async move {
            let (tickets, events): (Vec<T>, Vec<FeedEvent>) = group.into_iter().unzip();
            let applied = deliver(handler, &events, shutdown).await;
            (key, tickets, applied)
        }));
    }

    /// Waits for the next run to end and returns the tickets it applied; starts the events
    /// that waited behind it. `None` when nothing is running, or when a run was interrupted
    /// by shutdown (its events stay unapplied: the checkpoint must not pass them).
    pub async fn next_applied(&mut self) -> Option<Vec<T>> {
        let (key, tickets, applied) = self.running.next().await?;
        self.held -= tickets.len();
        if !applied {
            return None;
        }
        match self.behind.remove(&key) {
            Some(waiting) if !waiting.is_empty() => {
                self.behind.insert(key.clone(), Vec::new());
                self.start(key, waiting);
            }
            _ => {}
        }
        Some(tickets)
    }
}

/// Hands `events` to `handler` until it succeeds (true) or shutdown interrupts a retry
/// (false). A call in progress is never interrupted.
pub async fn deliver(
    handler: &dyn EventHandler,
    events: &[FeedEvent],
    shutdown: &CancellationToken,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        match handler.handle_batch(events).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "handler failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
