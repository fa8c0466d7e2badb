//! Open live streams: the hub they wait on, how many each user may hold, how often they
//! send a heartbeat, and the reconnection hint they end with when the server stops.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eats_projections::live::{Follow, Hub};
use futures::stream::BoxStream;
use futures::StreamExt;
use poem::web::sse::Event;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use crate::problem::{ApiError, Problem, ProblemKind};

/// Streams one user may hold open unless configured otherwise: a few tabs and devices
/// following a few orders each, while a script that opens streams in a loop is stopped early.
pub const DEFAULT_STREAMS_PER_USER: usize = 10;

/// Seconds between heartbeats unless configured otherwise: well under the idle timeouts of
/// common proxies and load balancers (60 s), so they keep the connection open.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 15;

/// What a `429 too-many-streams` tells the client to wait before trying again.
const RETRY_AFTER_SECS: u64 = 5;

/// The shortest reconnection delay a stream closed on shutdown asks for; each stream adds up
/// to [`RECONNECT_SPREAD`] to it, so a stopping replica's clients do not all come back in
/// the same instant. Long enough for the load balancer to stop routing to this process
/// (its readiness already answers 503).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The spread added to [`RECONNECT_AFTER`], per stream.
pub const RECONNECT_SPREAD: Duration = Duration::from_secs(3);

/// What a live stream sends: an item, or, last of all when the server is shutting down,
/// how long the client should wait before it reconnects (the SSE `retry:` field; a browser's
/// `EventSource` and eats' SDKs honour it and resume with `Last-Event-ID`).
///
/// Documented in the OpenAPI document as the item itself: the hint is a field of the SSE
/// protocol, not a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent<T> {
    /// The next item.
    Item(T),
    /// Reconnect after this long; the stream ends right after it.
    Reconnect(Duration),
}

impl<T> Sent<T> {
    /// The hint a stream closed now sends: [`RECONNECT_AFTER`] plus a random share of
    /// [`RECONNECT_SPREAD`].
    pub fn reconnect() -> Self {
        let spread = RECONNECT_SPREAD.as_millis().max(1);
        let jitter = (Uuid::new_v4().as_u128() % spread) as u64;
        Self::Reconnect(RECONNECT_AFTER + Duration::from_millis(jitter))
    }

    /// The SSE event: `to_event` for an item, the `retry:` field for the hint.
    pub fn into_event(self, to_event: impl FnOnce(T) -> Event) -> Event {
        match self {
            Self::Item(item) => to_event(item),
            Self::Reconnect(after) => Event::retry(after.as_millis() as u64),
        }
    }
}

impl<T: Type> Type for Sent<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        match self {
            Self::Item(item) => item.as_raw_value(),
            Self::Reconnect(_) => None,
        }
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match self {
            Self::Item(item) => item.raw_element_iter(),
            Self::Reconnect(_) => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ToJSON> ToJSON for Sent<T> {
    fn to_json(&self) -> Option<serde_json::Value> {
        match self {
            Self::Item(item) => item.to_json(),
            Self::Reconnect(_) => None,
        }
    }
}

/// The live streams of this process.
#[derive(Clone)]
pub struct LiveStreams {
    /// Wakes streams when the projectors announce a change of what they follow.
    pub hub: Hub,
    /// Most streams one user may hold open at once.
    pub per_user: usize,
    /// Interval of the SSE heartbeat comments.
    pub heartbeat: Duration,
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
    closing: Arc<watch::Sender<bool>>,
}

impl LiveStreams {
    /// Streams on `hub`, capped at `per_user` per user, with a heartbeat every `heartbeat`.
    pub fn new(hub: Hub, per_user: usize, heartbeat: Duration) -> Self {
        Self {
            hub,
            per_user,
            heartbeat,
            open: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every stream, open or opened from now on, after the change it is sending and a
    /// reconnection hint ([`Sent::reconnect`]): on shutdown, so the server need not wait for
    /// streams that never end by themselves. The clients resume elsewhere with
    /// `Last-Event-ID`.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`LiveStreams::close_all`] has been called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            // An error means the sender is gone, which also means shutting down.
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// A slot for one more stream of `user`, or 429 when they hold `per_user` already. The
    /// slot is given back when it is dropped, i.e. when the stream ends or its client leaves.
    pub fn open(&self, user: Uuid) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(user).or_insert(0);
        if *held >= self.per_user {
            metrics::counter!("eats_streams_refused_total").increment(1);
            return Err(Problem {
                retry_after_secs: Some(RETRY_AFTER_SECS),
                ..Problem::new(
                    ProblemKind {
                        status: 429,
                        slug: "too-many-streams",
                        title: "Too many open streams",
                        field: None,
                    },
                    format!(
                        "you already have {} live streams open; close one first",
                        self.per_user
                    ),
                )
            }
            .into());
        }
        *held += 1;
        metrics::gauge!("eats_open_streams").increment(1.0);
        Ok(StreamSlot {
            streams: self.clone(),
            user,
        })
    }

    /// How many streams `user` holds open.
    pub fn held_by(&self, user: Uuid) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&user).copied().unwrap_or(0)
    }
}

impl Default for LiveStreams {
    fn default() -> Self {
        Self::new(
            Hub::default(),
            DEFAULT_STREAMS_PER_USER,
            Duration::from_secs(DEFAULT_HEARTBEAT_SECS),
        )
    }
}

/// One open stream of one user, counted until dropped.
pub struct StreamSlot {
    streams: LiveStreams,
    user: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&self.user) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.user);
            }
        }
        metrics::gauge!("eats_open_streams").decrement(1.0);
    }
}

/// Names the content of a snapshot: the same items give the same version in every process
/// and after restarts, so a client resuming with it as `Last-Event-ID` is sent nothing until
/// something changed.
pub fn version_of(items: &serde_json::Value) -> String {
    let digest = Sha256::digest(items.to_string().as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// A stream of whole snapshots of something followed on the hub (a store's queue, the jobs
/// near a rider, a rider's position): `read` gives the current one and its version; it is sent
/// when its version differs from the last one sent (or from `seen`, the client's
/// `Last-Event-ID`), then the stream waits to be woken. `read` giving none ends the stream
/// (nothing more to follow); so does a failing `read`, and shutdown after a reconnection hint
/// ([`Sent::reconnect`]); the client resumes.
pub fn snapshots<T, F, Fut>(
    live: &LiveStreams,
    follow: Follow,
    slot: StreamSlot,
    seen: Option<String>,
    read: F,
) -> BoxStream<'static, Sent<T>>
where
    T: Send + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Option<(String, T)>, sqlx::Error>> + Send,
{
    let live = live.clone();
    let read = Arc::new(read);
    futures::stream::unfold(Some((follow, seen, slot)), move |following| {
        let (read, closed) = (read.clone(), live.closed());
        async move {
            let (mut follow, seen, slot) = following?;
            tokio::pin!(closed);
            loop {
                match read().await {
                    Ok(None) => return None,
                    Ok(Some((version, snapshot))) if seen.as_deref() != Some(version.as_str()) => {
                        return Some((Sent::Item(snapshot), Some((follow, Some(version), slot))));
                    }
                    Ok(Some(_)) => tokio::select! {
                        () = follow.changed() => {}
                        // Shutting down: say when to reconnect and end here; the client
                        // resumes elsewhere.
                        () = &mut closed => return Some((Sent::reconnect(), None)),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "reading a live snapshot failed; ending the stream");
                        return None;
                    }
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_all_ends_the_wait_of_every_stream() {
        let streams = LiveStreams::default();
        let waiting = tokio::spawn(streams.closed());
        tokio::task::yield_now().await;
        streams.close_all();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .expect("joined");
        tokio::time::timeout(Duration::from_secs(10), streams.closed())
            .await
            .expect("a stream opened after closing ends at once");
    }

    #[test]
    fn the_reconnection_hint_is_the_sse_retry_field_within_its_spread() {
        for _ in 0..100 {
            let Sent::<()>::Reconnect(after) = Sent::reconnect() else {
                panic!("not a hint");
            };
            assert!(after >= RECONNECT_AFTER && after < RECONNECT_AFTER + RECONNECT_SPREAD);
        }
        let event = Sent::<()>::Reconnect(Duration::from_millis(2500))
            .into_event(|()| Event::message("unused"));
        assert_eq!(event.to_string(), "retry: 2500\n\n");
    }

    #[test]
    fn a_user_at_the_cap_is_refused_until_a_stream_closes() {
        let streams = LiveStreams::new(Hub::default(), 2, Duration::from_secs(15));
        let user = Uuid::new_v4();
        let first = streams.open(user).expect("first");
        let _second = streams.open(user).expect("second");
        assert!(matches!(
            streams.open(user),
            Err(ApiError::TooManyRequests(_, RETRY_AFTER_SECS))
        ));
        assert!(
            streams.open(Uuid::new_v4()).is_ok(),
            "others are not capped"
        );
        drop(first);
        assert_eq!(streams.held_by(user), 1);
        assert!(streams.open(user).is_ok());
    }
}
