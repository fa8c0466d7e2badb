//! Live change announcements: a projector says which topics its writes changed, and one hub
//! per process wakes whoever follows those topics (the API's SSE streams).
//!
//! A topic names a thing a client may watch: an order, a store's queue, the open jobs, a
//! rider's position. Followers re-read their source when woken, so a wake-up carries no data
//! and several collapse into one. In embedded mode the projectors announce straight into the
//! hub; in distributed mode the API process may not run the projectors, so they announce with
//! a Postgres `NOTIFY` on [`CHANNEL`] and each API process forwards it to its hub with one
//! shared `LISTEN` connection ([`listen`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_store::{Backend, Database};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

/// The Postgres notification channel projectors announce on.
pub const CHANNEL: &str = "eats_live";

/// Something clients can watch for changes, e.g. `order:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// An order: its status or its view changed.
    pub fn order(order_id: &str) -> Self {
        Self(format!("order:{order_id}"))
    }

    /// A store: its order queue changed.
    pub fn store(store_id: &str) -> Self {
        Self(format!("store:{store_id}"))
    }

    /// A rider: they reported where they are. Only the customer whose order they carry
    /// follows it.
    pub fn rider(rider_id: &str) -> Self {
        Self(format!("rider:{rider_id}"))
    }

    /// The open delivery jobs picked up in one H3 cell of the delivery board's index
    /// ([`crate::delivery_board::cell_of`]): one opened, widened its radius, or was taken. A
    /// rider's stream follows the cells its own query reads, so a job across town wakes only
    /// the riders who could see it (one topic for every area had each job change re-read by
    /// every rider following, a cost that grew with the square of the riders).
    pub fn jobs_in(cell: i64) -> Self {
        Self(format!("jobs:{cell}"))
    }

    /// The topic as announced on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

struct Followed {
    changes: watch::Sender<u64>,
    followers: usize,
}

/// One process's register of followed topics. Only followed topics take memory: an
/// announcement nobody follows costs a map lookup.
#[derive(Clone, Default)]
pub struct Hub(Arc<Mutex<HashMap<Topic, Followed>>>);

impl Hub {
    /// Starts following `topic`. Announcements from now on wake [`Follow::changed`], so a
    /// follower subscribes first and reads its source after, and misses nothing in between.
    pub fn follow(&self, topic: Topic) -> Follow {
        self.follow_all(vec![topic])
    }

    /// Starts following every one of `topics`, as [`Self::follow`] does one: an
    /// announcement of any of them wakes [`Follow::changed`]. With none, it never wakes.
    pub fn follow_all(&self, topics: Vec<Topic>) -> Follow {
        let mut followed_topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let followed = topics
            .into_iter()
            .map(|topic| {
                let followed = followed_topics
                    .entry(topic.clone())
                    .or_insert_with(|| Followed {
                        changes: watch::channel(0).0,
                        followers: 0,
                    });
                followed.followers += 1;
                (topic, followed.changes.subscribe())
            })
            .collect();
        Follow {
            followed,
            hub: self.clone(),
        }
    }

    /// Wakes every follower of the topic spelled `topic`.
    pub fn announce(&self, topic: &str) {
        let topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(followed) = topics.get(&Topic(topic.to_string())) {
            followed.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every follower of every topic: after announcements may have been lost (the
    /// listening connection dropped), each re-reads its source.
    pub fn announce_all(&self) {
        let topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for followed in topics.values() {
            followed.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// How many topics have at least one follower.
    pub fn followed_topics(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A follower of one topic or several; it stops following when dropped.
pub struct Follow {
    followed: Vec<(Topic, watch::Receiver<u64>)>,
    hub: Hub,
}

impl Follow {
    /// Waits until a followed topic is announced after the last call (or since following
    /// began).
    pub async fn changed(&mut self) {
        // The senders live as long as this follower is counted, so this cannot fail; if it
        // ever did, returning lets the caller re-read rather than hang.
        match self.followed.as_mut_slice() {
            [] => std::future::pending().await,
            [(_, changes)] => {
                let _ = changes.changed().await;
            }
            many => {
                let waits = many
                    .iter_mut()
                    .map(|(_, changes)| Box::pin(changes.changed()));
                let _ = futures::future::select_all(waits).await;
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let mut topics = self.hub.0.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, _) in &self.followed {
            if let Some(followed) = topics.get_mut(topic) {
                followed.followers -= 1;
                if followed.followers == 0 {
                    topics.remove(topic);
                }
            }
        }
    }
}

/// How this process's projectors announce: into the local hub (embedded: the API is here),
/// or by `NOTIFY` (distributed: the API may be another process).
#[derive(Clone)]
pub enum Announcer {
    /// Straight into the hub.
    Local(Hub),
    /// `pg_notify` on [`CHANNEL`], heard by every API process's [`listen`].
    Postgres(PgPool),
}

impl Announcer {
    /// The announcer that reaches the API processes of `db`'s deployment.
    pub fn for_database(db: &Database, hub: &Hub) -> Self {
        match db.backend() {
            Backend::Postgres(pool) => Self::Postgres(pool.clone()),
            Backend::Sqlite(_) => Self::Local(hub.clone()),
        }
    }

    /// Announces `topics`, in as few notifications as Postgres's payload limit allows, and
    /// returns once they are sent: the caller acknowledges its events only then, so an
    /// announcement lost to a crash is made again when the events come back. (Sent from a
    /// task of its own, announcements still queued when a projector stopped were lost for
    /// good, and a status stream waited for its order's next change: a review caught it.)
    pub async fn announce(&self, topics: &[Topic]) -> Result<(), sqlx::Error> {
        match self {
            Self::Local(hub) => {
                topics.iter().for_each(|t| hub.announce(t.as_str()));
                Ok(())
            }
            Self::Postgres(pool) => notify(pool, topics.iter()).await,
        }
    }
}

/// Announces `topics` now, to followers in this process or (on Postgres) in every API
/// process; for a one-off change outside the projectors (a rider's position).
pub async fn announce_now(db: &Database, hub: &Hub, topics: &[Topic]) -> Result<(), sqlx::Error> {
    Announcer::for_database(db, hub).announce(topics).await
}

/// Postgres refuses a notification payload of 8,000 bytes or more.
const PAYLOAD_LIMIT: usize = 7_900;

/// Sends `topics`, one per line, in as few notifications as the payload limit allows.
async fn notify<'t>(
    pool: &PgPool,
    topics: impl Iterator<Item = &'t Topic>,
) -> Result<(), sqlx::Error> {
    let mut payload = String::new();
    for topic in topics {
        if !payload.is_empty() && payload.len() + 1 + topic.as_str().len() > PAYLOAD_LIMIT {
            send(pool, &payload).await?;
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push('\n');
        }
        payload.push_str(topic.as_str());
    }
    if payload.is_empty() {
        return Ok(());
    }
    send(pool, &payload).await
}

async fn send(pool: &PgPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(pool)
        .await
        .map(drop)
}

/// Forwards every announcement on [`CHANNEL`] to `hub` until `shutdown` resolves, over one
/// connection of `pool` for the whole process. When the connection drops, notifications sent
/// meanwhile are lost, so every follower is woken once it is back to re-read its source.
pub async fn listen(pool: PgPool, hub: Hub, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut pause = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = &mut shutdown => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "live announcements: cannot listen");
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        pause = Duration::from_millis(100);
        // Whatever was announced before this connection listened went unheard.
        hub.announce_all();
        loop {
            let next = tokio::select! {
                () = &mut shutdown => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => notification
                    .payload()
                    .lines()
                    .for_each(|topic| hub.announce(topic)),
                Ok(None) => {
                    tracing::warn!("live announcements: connection lost and re-established");
                    hub.announce_all();
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, "live announcements: listening failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Which topic an applied event changed.
#[async_trait]
pub trait Topics: Send + Sync {
    /// The topic `event` changed, once its projection has applied it; it may read what the
    /// projection wrote (e.g. the store of an order whose later events do not name it).
    async fn topic(&self, event: &FeedEvent) -> Result<Option<Topic>, sqlx::Error>;

    /// The topics a batch of applied events changed, each once. Lookups override this to
    /// read the whole batch's topics at once instead of one statement per event.
    async fn topics(&self, events: &[FeedEvent]) -> Result<Vec<Topic>, sqlx::Error> {
        let mut topics: Vec<Topic> = Vec::new();
        for event in events {
            if let Some(topic) = self.topic(event).await? {
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
        Ok(topics)
    }
}

/// The distinct values of `column` in `table`'s rows whose `key` is one of `keys`, in one
/// statement on Postgres (on SQLite, where a lookup is an in-process call, one per key).
pub(crate) async fn look_up(
    db: &Database,
    table: &str,
    key: &str,
    column: &str,
    keys: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    match db.backend() {
        Backend::Postgres(pool) => {
            // `key` is the table's primary key. One index probe per key whatever the
            // statistics (see `eats_nats::recovery`'s position lookup): `= ANY` planned on an
            // empty table kept scanning the whole table as it grew.
            sqlx::query_scalar(&format!(
                "SELECT DISTINCT v.value FROM unnest($1::text[]) AS k(key) \
                 CROSS JOIN LATERAL (SELECT {column}::text AS value FROM {table} \
                 WHERE {key} = k.key AND {column} IS NOT NULL LIMIT 1) AS v"
            ))
            .bind(keys)
            .fetch_all(pool)
            .await
        }
        Backend::Sqlite(pool) => {
            let sql = format!(
                "SELECT CAST({column} AS TEXT) FROM {table} WHERE {key} = $1 AND {column} IS NOT NULL"
            );
            let mut found: Vec<String> = Vec::new();
            for key in keys {
                if let Some(value) = sqlx::query_scalar::<_, String>(&sql)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?
                {
                    if !found.contains(&value) {
                        found.push(value);
                    }
                }
            }
            Ok(found)
        }
    }
}

/// Topics that follow from the event alone.
struct FromEvent(fn(&FeedEvent) -> Option<Topic>);

#[async_trait]
impl Topics for FromEvent {
    async fn topic(&self, event: &FeedEvent) -> Result<Option<Topic>, sqlx::Error> {
        Ok((self.0)(event))
    }
}

/// A feed consumer that, once `inner` has applied events, announces the topics they changed,
/// so followers re-read what `inner` just wrote.
pub struct Announcing {
    inner: Arc<dyn EventHandler>,
    announcer: Announcer,
    topics: Arc<dyn Topics>,
}

impl Announcing {
    /// `inner`, announcing `topics(event)` for every event it applies.
    pub fn new(
        inner: Arc<dyn EventHandler>,
        announcer: Announcer,
        topics: fn(&FeedEvent) -> Option<Topic>,
    ) -> Self {
        Self::with_topics(inner, announcer, Arc::new(FromEvent(topics)))
    }

    /// `inner`, announcing what `topics` finds for every event it applies.
    pub fn with_topics(
        inner: Arc<dyn EventHandler>,
        announcer: Announcer,
        topics: Arc<dyn Topics>,
    ) -> Self {
        Self {
            inner,
            announcer,
            topics,
        }
    }

    async fn announce(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        // The events stay unacknowledged on failure: the feed offers them again, the
        // projection skips them as applied, and the announcement is retried.
        let failed = |error| HandlerError::new(self.inner.name(), &events[0], error);
        let topics = self.topics.topics(events).await.map_err(failed)?;
        self.announcer.announce(&topics).await.map_err(failed)
    }
}

#[async_trait]
impl EventHandler for Announcing {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aggregate_types(&self) -> &[&'static str] {
        self.inner.aggregate_types()
    }

    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }

    fn own_positions(&self) -> Option<&str> {
        self.inner.own_positions()
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.inner.handle(event).await?;
        self.announce(std::slice::from_ref(event)).await
    }

    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        if events.is_empty() {
            return Ok(());
        }
        self.inner.handle_batch(events).await?;
        self.announce(events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_is_woken_by_an_announcement_made_before_it_waits() {
        let hub = Hub::default();
        let mut follow = hub.follow(Topic::order("o1"));
        hub.announce("order:o1");
        tokio::time::timeout(Duration::from_secs(10), follow.changed())
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn an_announcement_of_another_topic_does_not_wake_a_follower() {
        let hub = Hub::default();
        let mut follow = hub.follow(Topic::order("o1"));
        hub.announce("order:o2");
        hub.announce(Topic::store("o1").as_str());
        assert!(futures::FutureExt::now_or_never(follow.changed()).is_none());
    }

    #[test]
    fn a_topic_is_forgotten_when_its_last_follower_leaves() {
        let hub = Hub::default();
        let first = hub.follow(Topic::order("o1"));
        let second = hub.follow(Topic::order("o1"));
        assert_eq!(hub.followed_topics(), 1);
        drop(first);
        assert_eq!(hub.followed_topics(), 1);
        drop(second);
        assert_eq!(hub.followed_topics(), 0);
    }
}
