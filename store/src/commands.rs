//! Command handling that remembers the aggregates it has just written.
//!
//! cqrs-es loads an aggregate's events before every command. An order sees a dozen commands in
//! a few minutes, most of them from this very process, so each load reads back what the
//! process wrote moments before. [`Commands`] keeps the state each successful command left
//! (the aggregate with its events applied, and its sequence) and starts the next command on
//! the same aggregate from it instead of loading.
//!
//! The remembered state may be stale: another process (or another replica) can have appended
//! since. That cannot go unnoticed:
//! - a command that emits events appends them at the remembered sequence + 1; if anything was
//!   appended since, that sequence is taken and the append fails as a whole (the optimistic
//!   lock), and the command is decided again on the stored events;
//! - a command refused, or one that emits nothing (a no-op), on a remembered state is also
//!   decided again on the stored events before its answer counts.
//!
//! So every answer is the one a fresh load would have given; the cache only saves the load
//! when nothing else wrote. An entry is taken out while a command works on it, so two
//! commands on one aggregate in this process never start from the same remembered state (the
//! second loads, as without a cache). Aggregates with snapshots (stores, customers) are not
//! remembered: their snapshot bookkeeping lives in the load.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventEnvelope, EventStore};
use hashlink::LruCache;

use crate::repository::EventRepository;

/// How the command running in this task may load its aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    /// From the cache if it is there.
    MayRemember,
    /// It was taken from the cache: its answer must be confirmed.
    Remembered,
    /// From the event store.
    Stored,
}

tokio::task_local! {
    static LOAD: Cell<Load>;
}

fn load() -> Load {
    LOAD.try_with(Cell::get).unwrap_or(Load::Stored)
}

const HITS: &str = "eats_aggregate_cache_total";

/// An aggregate as its last successful command here left it.
struct Remembered<A> {
    aggregate: A,
    sequence: usize,
}

type Cache<A> = Option<Arc<Mutex<LruCache<String, Remembered<A>>>>>;

/// The event store of `A` with the cache in front of its loads.
pub struct CachedStore<A: Aggregate> {
    inner: PersistedEventStore<EventRepository, A>,
    cache: Cache<A>,
}

impl<A: Aggregate> CachedStore<A> {
    /// `inner` with room for `capacity` aggregates; 0 turns the cache off.
    pub fn new(inner: PersistedEventStore<EventRepository, A>, capacity: usize) -> Self {
        Self {
            inner,
            cache: (capacity > 0).then(|| Arc::new(Mutex::new(LruCache::new(capacity)))),
        }
    }

    fn take(&self, aggregate_id: &str) -> Option<Remembered<A>> {
        let cache = self.cache.as_ref()?;
        let taken = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(aggregate_id);
        let outcome = if taken.is_some() { "hit" } else { "miss" };
        metrics::counter!(HITS, "aggregate" => A::TYPE, "outcome" => outcome).increment(1);
        taken
    }

    fn keep(&self, aggregate_id: String, remembered: Remembered<A>) {
        if let Some(cache) = &self.cache {
            let mut cache = cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Two commands that loaded from the store may finish out of order: keep the later.
            let newer = cache
                .peek(&aggregate_id)
                .is_none_or(|kept| kept.sequence < remembered.sequence);
            if newer {
                cache.insert(aggregate_id, remembered);
            }
        }
    }
}

impl<A: Aggregate + Clone> EventStore<A> for CachedStore<A> {
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.inner.load_events(aggregate_id).await
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        if load() == Load::MayRemember {
            if let Some(remembered) = self.take(aggregate_id) {
                LOAD.with(|load| load.set(Load::Remembered));
                return Ok(EventStoreAggregateContext {
                    aggregate_id: aggregate_id.to_string(),
                    aggregate: remembered.aggregate,
                    current_sequence: remembered.sequence,
                    current_snapshot: None,
                });
            }
        }
        self.inner.load_aggregate(aggregate_id).await
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if self.cache.is_none() {
            return self.inner.commit(events, context, metadata).await;
        }
        if events.is_empty() {
            // A no-op decided on a remembered state might not be one on the stored state:
            // report the conflict so that `Commands` decides again on a fresh load.
            if load() == Load::Remembered {
                return Err(AggregateError::AggregateConflict);
            }
            return self.inner.commit(events, context, metadata).await;
        }
        // The sink has applied the new events to the aggregate already (cqrs-es's
        // `EventSink::write`), so this is the state after the commit.
        let remembered = Remembered {
            aggregate: context.aggregate.clone(),
            sequence: context.current_sequence + events.len(),
        };
        let aggregate_id = context.aggregate_id.clone();
        let committed = self.inner.commit(events, context, metadata).await?;
        self.keep(aggregate_id, remembered);
        Ok(committed)
    }
}

/// The command handler of aggregate `A`: cqrs-es's framework over [`CachedStore`], deciding
/// again on the stored events whenever a remembered state's answer is not confirmed.
pub struct Commands<A: Aggregate + Clone> {
    framework: CqrsFramework<A, CachedStore<A>>,
    /// The store's cache (`None`: off), shared with it.
    cache: Cache<A>,
}

impl<A> Commands<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    /// Commands on `store` with `services`.
    pub fn new(store: CachedStore<A>, services: A::Services) -> Self {
        let cache = store.cache.clone();
        Self {
            framework: CqrsFramework::new(store, vec![], services),
            cache,
        }
    }

    /// A copy of aggregate `aggregate_id` as this process's last command on it left it, if it
    /// is remembered (and no command is working on it right now). Possibly stale: good for
    /// what never changes once written (whose order it is), never for a decision on its
    /// current state.
    pub fn remembered(&self, aggregate_id: &str) -> Option<A> {
        let cache = self.cache.as_ref()?;
        let cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.peek(aggregate_id).map(|kept| kept.aggregate.clone())
    }

    /// [`Self::execute_with_metadata`] without metadata.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>> {
        self.execute_with_metadata(aggregate_id, command, HashMap::new())
            .await
    }

    /// Handles `command` on aggregate `aggregate_id` and appends its events with `metadata`,
    /// as cqrs-es's `CqrsFramework::execute_with_metadata` does, with the same outcomes.
    pub async fn execute_with_metadata(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<A::Error>> {
        if self.cache.is_none() {
            return self
                .framework
                .execute_with_metadata(aggregate_id, command, metadata)
                .await;
        }
        let (result, load) = LOAD
            .scope(Cell::new(Load::MayRemember), async {
                let result = self
                    .framework
                    .execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
                    .await;
                (result, load())
            })
            .await;
        match result {
            Err(AggregateError::UserError(_) | AggregateError::AggregateConflict)
                if load == Load::Remembered =>
            {
                metrics::counter!(HITS, "aggregate" => A::TYPE, "outcome" => "recheck")
                    .increment(1);
                LOAD.scope(
                    Cell::new(Load::Stored),
                    self.framework
                        .execute_with_metadata(aggregate_id, command, metadata),
                )
                .await
            }
            other => other,
        }
    }
}

/// Describes the cache's counter for `/metrics`.
pub fn describe_metrics() {
    metrics::describe_counter!(
        HITS,
        "commands by how their aggregate was found: hit (remembered from this process's last \
         command on it), miss (loaded from the event store), recheck (remembered, but the \
         command was refused, was a no-op or found the aggregate moved on by another writer, \
         so it was decided again on a fresh load)"
    );
}
