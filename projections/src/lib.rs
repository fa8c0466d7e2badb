//! Read models, fed from the durable event log rather than from in-process dispatch.
//!
//! Each projection turns events into portable SQL writes ([`sql`]); the [`runner`] applies
//! them on Postgres or SQLite inside one transaction with a per-aggregate position guard
//! ([`position`]), so redelivery is harmless, each aggregate's events apply in order, and a
//! gap is filled from the event store before going on. Each projection is one consumer of
//! the event feed, with its own checkpoint and lag, and can be rebuilt by resetting it.
//!
//! - [`order_view`]: what the customer polls and streams.
//! - [`store_queue`]: a store's paid orders by status.
//! - [`delivery_board`]: open jobs near a point, indexed by H3 cell.
//! - [`customer_profile`]: contact and grade.
//! - [`store_directory`]: stores and menus as customers browse them.
//! - [`audit`]: everything that happened because of one order.
//! - [`story`]: an order's whole story from the event store, with causes and states.
//! - [`verify`]: every row checked against the event store.
//! - [`handover`]: blue/green rebuilds, switched in while the live tables keep serving.
//! - [`replay`]: chosen aggregates' events applied again to one read model, nothing else.
//! - [`page`]: keyset pages, so lists read one page and never skip or repeat a row.
//! - [`live`]: projectors announce what they changed, so live streams wake instead of polling.

pub mod audit;
pub mod customer_profile;
pub mod delivery_board;
pub mod handover;
pub mod live;
pub mod order_view;
pub mod page;
pub mod position;
pub mod replay;
pub mod runner;
pub mod sql;
pub mod store_directory;
pub mod store_queue;
pub mod story;
pub mod verify;

use std::sync::Arc;

use async_trait::async_trait;
use eats_feed::EventHandler;
use eats_store::Database;

pub use position::{decide, Decision};
pub use runner::{Applied, Projection, ProjectionError, Projector};

/// A read model as the operator sees it: a feed consumer that can also be rebuilt from the
/// event store by name.
#[async_trait]
pub trait ReadModel: EventHandler {
    /// See [`Projector::rebuild`]; returns the events read.
    async fn rebuild(&self, batch: usize) -> Result<u64, ProjectionError>;

    /// See [`Projector::rebuild_blue_green`].
    async fn rebuild_blue_green(
        &self,
        batch: usize,
        dry_run: bool,
        progress: &dyn handover::Progress,
    ) -> Result<handover::Handover, ProjectionError>;

    /// See [`Projector::status`].
    async fn status(&self) -> Result<handover::Status, ProjectionError>;

    /// See [`Projector::replay`].
    async fn replay(
        &self,
        selection: &replay::Selection,
        progress: &dyn handover::Progress,
    ) -> Result<replay::Replayed, ProjectionError>;

    /// The tables it owns.
    fn tables(&self) -> &'static [&'static str];
}

#[async_trait]
impl<P: Projection> ReadModel for Projector<P> {
    async fn rebuild(&self, batch: usize) -> Result<u64, ProjectionError> {
        Projector::rebuild(self, batch).await
    }

    async fn rebuild_blue_green(
        &self,
        batch: usize,
        dry_run: bool,
        progress: &dyn handover::Progress,
    ) -> Result<handover::Handover, ProjectionError> {
        Projector::rebuild_blue_green(self, batch, dry_run, progress).await
    }

    async fn status(&self) -> Result<handover::Status, ProjectionError> {
        Projector::status(self).await
    }

    async fn replay(
        &self,
        selection: &replay::Selection,
        progress: &dyn handover::Progress,
    ) -> Result<replay::Replayed, ProjectionError> {
        Projector::replay(self, selection, progress).await
    }

    fn tables(&self) -> &'static [&'static str] {
        P::TABLES
    }
}

/// Every read model over `db`.
pub fn read_models(db: &Database) -> Vec<Arc<dyn ReadModel>> {
    vec![
        Arc::new(Projector::new(order_view::OrderViewProjection, db.clone())),
        Arc::new(Projector::new(
            store_queue::StoreQueueProjection,
            db.clone(),
        )),
        Arc::new(Projector::new(
            delivery_board::DeliveryBoardProjection,
            db.clone(),
        )),
        Arc::new(Projector::new(
            customer_profile::CustomerProfileProjection,
            db.clone(),
        )),
        Arc::new(Projector::new(audit::AuditTimelineProjection, db.clone())),
        Arc::new(Projector::new(
            store_directory::StoreDirectoryProjection,
            db.clone(),
        )),
    ]
}

/// Every projection over `db`, as feed consumers.
pub fn all(db: &Database) -> Vec<Arc<dyn EventHandler>> {
    read_models(db)
        .into_iter()
        .map(|model| -> Arc<dyn EventHandler> { model })
        .collect()
}

/// Every projection over `db`, as feed consumers, those that clients watch live announcing
/// each change through `announcer` once it is written.
pub fn announcing(db: &Database, announcer: &live::Announcer) -> Vec<Arc<dyn EventHandler>> {
    all(db)
        .into_iter()
        .map(|handler| -> Arc<dyn EventHandler> {
            match handler.name() {
                order_view::OrderViewProjection::NAME => Arc::new(live::Announcing::new(
                    handler,
                    announcer.clone(),
                    order_view::topic,
                )),
                store_queue::StoreQueueProjection::NAME => Arc::new(live::Announcing::with_topics(
                    handler,
                    announcer.clone(),
                    Arc::new(store_queue::QueueTopics(db.clone())),
                )),
                delivery_board::DeliveryBoardProjection::NAME => {
                    Arc::new(live::Announcing::with_topics(
                        handler,
                        announcer.clone(),
                        Arc::new(delivery_board::BoardTopics(db.clone())),
                    ))
                }
                _ => handler,
            }
        })
        .collect()
}
