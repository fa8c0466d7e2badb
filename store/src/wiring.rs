//! The five aggregates' command handlers on one database, and the store catalogue that
//! prices orders from the Store aggregate's events.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{CqrsFramework, EventStore};
use eats_domain::customer::{Customer, CustomerServices, GradePolicy};
use eats_domain::delivery::Delivery;
use eats_domain::order::{CatalogError, Order, OrderServices, StoreCatalog};
use eats_domain::payment::{Payment, PaymentGateway, PaymentServices};
use eats_domain::store::{Store, StoreMenu};
use eats_domain::StoreId;

use crate::database::Database;
use crate::repository::EventRepository;

/// The event store of aggregate `A` on either backend.
pub type EventStoreOf<A> = PersistedEventStore<EventRepository, A>;

/// The command handler of aggregate `A` on either backend.
pub type Cqrs<A> = CqrsFramework<A, EventStoreOf<A>>;

/// The outside world the aggregates need, chosen at start-up.
#[derive(Clone)]
pub struct DomainServices {
    /// Charges and refunds (the simulator in embedded mode, Toss when configured).
    pub gateway: Arc<dyn PaymentGateway>,
    /// Loyalty grade thresholds.
    pub grades: GradePolicy,
}

/// Command handlers for all five aggregates, sharing one database.
///
/// No in-process `Query` is attached: cqrs-es dispatches queries after the commit, where a
/// crash would skip them. Read models are fed from the durable event log instead.
#[derive(Clone)]
pub struct Aggregates {
    /// Orders.
    pub orders: Arc<Cqrs<Order>>,
    /// Payments.
    pub payments: Arc<Cqrs<Payment>>,
    /// Delivery jobs.
    pub deliveries: Arc<Cqrs<Delivery>>,
    /// Stores and menus.
    pub stores: Arc<Cqrs<Store>>,
    /// Customers.
    pub customers: Arc<Cqrs<Customer>>,
}

impl Aggregates {
    /// Wires every aggregate to `db` with `services`.
    pub fn new(db: &Database, services: DomainServices) -> Self {
        let catalog = Arc::new(EventStoreCatalog::new(db));
        Self {
            orders: Arc::new(CqrsFramework::new(
                db.event_store::<Order>(),
                vec![],
                OrderServices { catalog },
            )),
            payments: Arc::new(CqrsFramework::new(
                db.event_store::<Payment>(),
                vec![],
                PaymentServices {
                    gateway: services.gateway,
                },
            )),
            deliveries: Arc::new(CqrsFramework::new(db.event_store::<Delivery>(), vec![], ())),
            stores: Arc::new(CqrsFramework::new(db.event_store::<Store>(), vec![], ())),
            customers: Arc::new(CqrsFramework::new(
                db.event_store::<Customer>(),
                vec![],
                CustomerServices {
                    grades: services.grades,
                },
            )),
        }
    }
}

/// Prices orders from the Store aggregate itself, so placing an order needs only the event
/// store: no read model, projector or message bus has to be up.
pub struct EventStoreCatalog {
    stores: EventStoreOf<Store>,
}

impl EventStoreCatalog {
    /// A catalogue reading stores from `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            stores: db.event_store::<Store>(),
        }
    }
}

#[async_trait]
impl StoreCatalog for EventStoreCatalog {
    async fn menu(&self, store: StoreId) -> Result<Option<StoreMenu>, CatalogError> {
        let context = self
            .stores
            .load_aggregate(&store.to_string())
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        Ok(context.aggregate.menu())
    }
}
