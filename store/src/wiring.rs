//! The five aggregates' command handlers on one database, and the store catalogue that
//! prices orders from the Store aggregate's events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use eats_domain::customer::{Customer, CustomerServices, GradePolicy};
use eats_domain::delivery::Delivery;
use eats_domain::order::{CatalogError, Order, OrderServices, StoreCatalog};
use eats_domain::payment::{Payment, PaymentGateway, PaymentServices};
use eats_domain::store::{Store, StoreMenu};
use eats_domain::StoreId;

use crate::commands::Commands;
use crate::database::Database;
use crate::repository::EventRepository;

/// The event store of aggregate `A` on either backend.
pub type EventStoreOf<A> = PersistedEventStore<EventRepository, A>;

/// The command handler of aggregate `A` on either backend (cqrs-es's framework with this
/// process's recently written aggregates remembered: see [`crate::commands`]).
pub type Cqrs<A> = Commands<A>;

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
            orders: Arc::new(Commands::new(
                db.command_store::<Order>(),
                OrderServices { catalog },
            )),
            payments: Arc::new(Commands::new(
                db.command_store::<Payment>(),
                PaymentServices {
                    gateway: services.gateway,
                },
            )),
            deliveries: Arc::new(Commands::new(db.command_store::<Delivery>(), ())),
            stores: Arc::new(Commands::new(db.command_store::<Store>(), ())),
            customers: Arc::new(Commands::new(
                db.command_store::<Customer>(),
                CustomerServices {
                    grades: services.grades,
                },
            )),
        }
    }
}

/// Menus kept per store at most; past this the cache starts over (a store not in it costs
/// one load, as without a cache).
const MENU_CACHE_STORES: usize = 10_000;

/// Prices orders from the Store aggregate itself, so placing an order needs only the event
/// store: no read model, projector or message bus has to be up.
///
/// Each store's menu is kept with the sequence of the store's last event it reflects. Placing
/// an order asks the event store only for the store's latest sequence (one index lookup) and
/// reloads the store when it moved, so a menu change committed by any process is seen by the
/// very next order, and the common case costs one read instead of loading the store.
pub struct EventStoreCatalog {
    db: Database,
    stores: EventStoreOf<Store>,
    menus: Mutex<HashMap<StoreId, (usize, Option<StoreMenu>)>>,
}

impl EventStoreCatalog {
    /// A catalogue reading stores from `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            stores: db.event_store::<Store>(),
            menus: Mutex::new(HashMap::new()),
        }
    }

    /// The sequence of the store's last event (0 when it has none).
    async fn latest_sequence(&self, store: &str) -> Result<usize, sqlx::Error> {
        let latest: Option<i64> = on_pool!(self.db, |pool| {
            sqlx::query_scalar(
                "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(<Store as cqrs_es::Aggregate>::TYPE)
            .bind(store)
            .fetch_one(pool)
            .await
        })?;
        Ok(latest.unwrap_or(0).max(0) as usize)
    }

    fn cached(&self, store: StoreId, sequence: usize) -> Option<Option<StoreMenu>> {
        let menus = self.menus.lock().unwrap_or_else(|e| e.into_inner());
        match menus.get(&store) {
            Some((at, menu)) if *at == sequence => Some(menu.clone()),
            _ => None,
        }
    }
}

#[async_trait]
impl StoreCatalog for EventStoreCatalog {
    async fn menu(&self, store: StoreId) -> Result<Option<StoreMenu>, CatalogError> {
        let id = store.to_string();
        let latest = self
            .latest_sequence(&id)
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        if let Some(menu) = self.cached(store, latest) {
            return Ok(menu);
        }
        let context = self
            .stores
            .load_aggregate(&id)
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        let menu = context.aggregate.menu();
        let mut menus = self.menus.lock().unwrap_or_else(|e| e.into_inner());
        if menus.len() >= MENU_CACHE_STORES && !menus.contains_key(&store) {
            menus.clear();
        }
        // A concurrent load may have seen a later sequence: keep the newer menu.
        let keep = menus
            .get(&store)
            .is_some_and(|(at, _)| *at > context.current_sequence);
        if !keep {
            menus.insert(store, (context.current_sequence, menu.clone()));
        }
        Ok(menu)
    }
}
