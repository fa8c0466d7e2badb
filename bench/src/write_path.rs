//! eats's own write path on the workload of the baselines ([`crate::baseline`]): clients in
//! a closed loop place an order, record its payment and accept it, three commands on the
//! Order aggregate of one event each, through eats's command handlers ([`Aggregates`]) on a
//! database with eats's migrations. So it pays for everything eats adds to a bare
//! postgres-es command: the metadata, the outbox row the trigger writes, the wake-up of the
//! relay, pricing from the store's menu, and (in embedded mode) SQLite writers taking turns.
//! It runs in-process, not through HTTP, so its ratio over bare postgres-es is the cost of
//! the write path alone. The loop, the clock and the report are the baselines' own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eats_domain::metadata::{Actor, EventMetadata};
use eats_domain::order::OrderCommand;
use eats_domain::{CustomerId, OrderId, PaymentId, Won};
use eats_store::testing::scenario::{self, OpenStore};
use eats_store::{Aggregates, Database};
use uuid::Uuid;

use crate::baseline::{closed_loop, BaselineReport, OrderCtx, Step, Workload};

/// eats's command handlers, with one open store per client (opened on its first order, in
/// the warm-up).
struct Eats {
    aggregates: Aggregates,
    stores: tokio::sync::Mutex<HashMap<Uuid, OpenStore>>,
}

impl Eats {
    async fn store(&self, key: Uuid) -> OpenStore {
        let mut stores = self.stores.lock().await;
        if let Some(store) = stores.get(&key) {
            return *store;
        }
        let store = scenario::open_store(&self.aggregates).await;
        stores.insert(key, store);
        store
    }
}

impl Workload for Eats {
    async fn command(&self, step: Step, order: &OrderCtx) -> anyhow::Result<()> {
        let store = self.store(order.store).await;
        let (id, customer) = (OrderId(order.id), CustomerId(order.customer));
        let (command, actor) = match step {
            Step::Place => (
                scenario::place_order(id, store, customer, 1),
                Actor::Customer(customer),
            ),
            Step::Pay => (
                OrderCommand::RecordPayment {
                    payment_id: PaymentId::for_order(id),
                    amount: Won(4_500),
                },
                Actor::System,
            ),
            Step::Accept => (
                OrderCommand::AcceptOrder { by: store.owner },
                Actor::StoreOwner(store.owner),
            ),
        };
        let metadata = EventMetadata::for_command(order.id, actor, chrono::Utc::now()).to_map();
        self.aggregates
            .orders
            .execute_with_metadata(&order.aggregate_id, command, metadata)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Runs the place -> pay -> accept loop with `clients` clients on `db` (fresh, migrated):
/// `warmup` unmeasured, then `measured`.
pub async fn eats_write_path(
    db: &Database,
    name: &'static str,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    let workload = Arc::new(Eats {
        aggregates: scenario::aggregates(db),
        stores: tokio::sync::Mutex::new(HashMap::new()),
    });
    closed_loop(name, workload, clients, warmup, measured).await
}
