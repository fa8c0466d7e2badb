//! A fresh, isolated event store per test, on real Postgres or a real SQLite file.
//!
//! Postgres tests create their own database (`eats_test_<unix time>_<random>`) on the server
//! named by `EATS_TEST_DATABASE_URL` (default: the local server's `postgres` database) and
//! drop it afterwards; databases of runs that died are dropped by the next run after an hour.
//! A missing server fails the test with a message saying so: these tests never skip.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Row};

use crate::database::Database;

/// The server that test databases are created on, unless `EATS_TEST_DATABASE_URL` says
/// otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const PREFIX: &str = "eats_test_";
const STALE_AFTER_SECS: u64 = 3_600;

/// Which backend a test database runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A fresh Postgres database.
    Postgres,
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
}

/// A migrated event store that exists only for one test.
pub struct TestDatabase {
    /// The store under test.
    pub db: Database,
    /// For Postgres: the database's URL, so a test can start another process on it.
    pub url: Option<String>,
    /// For SQLite: the data folder.
    pub data_dir: Option<PathBuf>,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin: PgPool, name: String },
    Sqlite { dir: PathBuf },
}

fn admin_url() -> String {
    std::env::var("EATS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl TestDatabase {
    /// A fresh store of `kind`.
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Postgres => Self::postgres().await,
            Kind::Sqlite => Self::sqlite().await,
        }
    }

    /// A fresh Postgres database, migrated. Panics, naming the server, if it is unreachable.
    pub async fn postgres() -> Self {
        let url = admin_url();
        let admin = PgPool::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "these tests need PostgreSQL at {url} (set EATS_TEST_DATABASE_URL, or start it: \
                 `docker compose up -d postgres`): {e}"
            )
        });
        drop_stale(&admin).await;
        let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("creating the test database");
        let options: PgConnectOptions = url.parse().expect("a valid Postgres URL");
        let options = options.database(&name);
        let db_url = options.to_url_lossy().to_string();
        let db = Database::connect_postgres(&db_url, 16)
            .await
            .expect("connecting to and migrating the test database");
        Self {
            db,
            url: Some(db_url),
            data_dir: None,
            cleanup: Cleanup::Postgres { admin, name },
        }
    }

    /// A fresh SQLite file in its own temporary folder, migrated.
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let db = Database::open_sqlite(&dir)
            .await
            .expect("opening the SQLite test store");
        Self {
            db,
            url: None,
            data_dir: Some(dir.clone()),
            cleanup: Cleanup::Sqlite { dir },
        }
    }

    /// Closes the pool and deletes the database or folder.
    pub async fn cleanup(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::Postgres { admin, name } => {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
            Cleanup::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Drops test databases left behind by runs that died more than an hour ago.
async fn drop_stale(admin: &PgPool) {
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'eats_test_%'")
        .fetch_all(admin)
        .await
    else {
        return;
    };
    let cutoff = now_secs().saturating_sub(STALE_AFTER_SECS);
    for row in rows {
        let name: String = row.get("datname");
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|t| t < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin)
                .await;
        }
    }
}

/// The turns SQLite's writer `by` has taken, read from a rendering of `/metrics`
/// ([`crate::WRITER_HELD_METRIC`]'s count; 0 before the first).
pub fn writer_turns(rendered_metrics: &str, by: &str) -> u64 {
    let series = format!("{}_count{{by=\"{by}\"}} ", crate::WRITER_HELD_METRIC);
    rendered_metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Runs each async test function `name(&Database)` against a fresh Postgres database
/// (module `postgres`) and a fresh SQLite file (module `sqlite`), each cleaned up after: one
/// body for both backends, which must behave alike.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = $crate::testing::TestDatabase::postgres().await;
                    super::$name(&test.db).await;
                    test.cleanup().await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = $crate::testing::TestDatabase::sqlite().await;
                    super::$name(&test.db).await;
                    test.cleanup().await;
                }
            )+
        }
    };
}

/// Scripted journeys through the domain, so feed, projection and API tests start from
/// realistic event histories.
pub mod scenario {
    use std::sync::Arc;

    use async_trait::async_trait;
    use eats_domain::customer::{CustomerCommand, GradePolicy};
    use eats_domain::delivery::DeliveryCommand;
    use eats_domain::order::{DeliveryAddress, LineRequest, OrderCommand};
    use eats_domain::payment::{
        CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, PaymentCommand, PaymentGateway,
    };
    use eats_domain::store::StoreCommand;
    use eats_domain::{
        Actor, CustomerId, DeliveryId, EventMetadata, GeoPoint, MenuItemId, OrderId, PaymentId,
        RiderId, StoreId, UserId, Won,
    };

    use crate::{Aggregates, Database, DomainServices};

    /// A gateway that approves every charge and refund.
    pub struct ApprovingGateway;

    #[async_trait]
    impl PaymentGateway for ApprovingGateway {
        async fn confirm(&self, _: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
            Ok(GatewayVerdict::Approved)
        }
        async fn cancel(&self, _: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
            Ok(GatewayVerdict::Approved)
        }
    }

    /// Aggregates over `db` with an approving gateway and grades at 1 / 2 / 3 orders.
    pub fn aggregates(db: &Database) -> Aggregates {
        Aggregates::new(
            db,
            DomainServices {
                gateway: Arc::new(ApprovingGateway),
                grades: GradePolicy::new(1, 2, 3).expect("valid thresholds"),
            },
        )
    }

    /// Seoul City Hall, where the test stores are.
    pub fn city_hall() -> GeoPoint {
        GeoPoint {
            lat: 37.5665,
            lng: 126.978,
        }
    }

    /// Runs `command` on `cqrs`, retrying lost concurrency races as a client would.
    async fn execute<A>(
        cqrs: &crate::Cqrs<A>,
        id: &str,
        command: A::Command,
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<(), cqrs_es::AggregateError<A::Error>>
    where
        A: eats_domain::Versioned,
        A::Command: Clone,
    {
        loop {
            match cqrs
                .execute_with_metadata(id, command.clone(), metadata.clone())
                .await
            {
                Err(cqrs_es::AggregateError::AggregateConflict) => tokio::task::yield_now().await,
                other => return other,
            }
        }
    }

    fn meta(correlation: uuid::Uuid, actor: Actor) -> std::collections::HashMap<String, String> {
        EventMetadata::for_command(correlation, actor, chrono::Utc::now()).to_map()
    }

    /// A registered, open store with one item.
    #[derive(Clone, Copy, Debug)]
    pub struct OpenStore {
        /// The store.
        pub id: StoreId,
        /// Its owner.
        pub owner: UserId,
        /// Its one item (₩4,500).
        pub item: MenuItemId,
    }

    /// Registers and opens a store with one ₩4,500 item.
    pub async fn open_store(aggregates: &Aggregates) -> OpenStore {
        let store = OpenStore {
            id: StoreId::new(),
            owner: UserId::new(),
            item: MenuItemId::new(),
        };
        for command in [
            StoreCommand::RegisterStore {
                store_id: store.id,
                owner: store.owner,
                name: "김밥천국 시청점".into(),
                location: city_hall(),
                address: "서울 중구 세종대로 110".into(),
            },
            StoreCommand::AddMenuItem {
                by: store.owner,
                item_id: store.item,
                name: "참치김밥".into(),
                price: Won(4_500),
            },
            StoreCommand::OpenStore { by: store.owner },
        ] {
            execute(
                &aggregates.stores,
                &store.id.to_string(),
                command,
                meta(store.id.0, Actor::StoreOwner(store.owner)),
            )
            .await
            .expect("store command");
        }
        store
    }

    /// Registers a customer near the store.
    pub async fn register_customer(aggregates: &Aggregates) -> CustomerId {
        let customer = CustomerId::new();
        execute(
            &aggregates.customers,
            &customer.to_string(),
            CustomerCommand::RegisterCustomer {
                customer_id: customer,
                name: "김민지".into(),
                phone: "010-1234-5678".into(),
                address: "서울 중구 을지로 12".into(),
                location: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
            },
            meta(customer.0, Actor::Customer(customer)),
        )
        .await
        .expect("register customer");
        customer
    }

    /// The command that places `order`: `quantity` of `store`'s item, delivered near it.
    pub fn place_order(
        order: OrderId,
        store: OpenStore,
        customer: CustomerId,
        quantity: u32,
    ) -> OrderCommand {
        OrderCommand::PlaceOrder {
            order_id: order,
            customer,
            store_id: store.id,
            lines: vec![LineRequest {
                item_id: store.item,
                quantity,
            }],
            deliver_to: DeliveryAddress {
                address: "서울 중구 을지로 12".into(),
                location: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
            },
        }
    }

    /// A typical history for fan-out and read-model tests: one open store and `orders`
    /// customers, each with one order of 1 to 3 items left at the next [`Stage`] in turn.
    pub async fn history(db: &Database, orders: usize) {
        let aggregates = aggregates(db);
        let store = open_store(&aggregates).await;
        let stages = [
            Stage::Placed,
            Stage::Paid,
            Stage::Cancelled,
            Stage::Ready,
            Stage::Delivered,
        ];
        for i in 0..orders {
            let customer = register_customer(&aggregates).await;
            drive_order(
                &aggregates,
                store,
                customer,
                1 + i as u32 % 3,
                stages[i % stages.len()],
            )
            .await;
        }
    }

    /// How far [`drive_order`] takes an order.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Stage {
        /// Placed, unpaid.
        Placed,
        /// Paid.
        Paid,
        /// Paid, then cancelled by the customer and refunded.
        Cancelled,
        /// Cooking finished; a delivery job is open.
        Ready,
        /// Delivered, delivery completed, counted for the grade.
        Delivered,
    }

    /// Places an order of `quantity` items and drives it (and the payment, delivery and
    /// customer aggregates, as the process managers would) to `stage`.
    pub async fn drive_order(
        aggregates: &Aggregates,
        store: OpenStore,
        customer: CustomerId,
        quantity: u32,
        stage: Stage,
    ) -> OrderId {
        let order = OrderId::new();
        let id = order.to_string();
        let as_customer = || meta(order.0, Actor::Customer(customer));
        let as_owner = || meta(order.0, Actor::StoreOwner(store.owner));
        let as_system = || meta(order.0, Actor::System);
        let total = Won(4_500 * i64::from(quantity));
        execute(
            &aggregates.orders,
            &id,
            place_order(order, store, customer, quantity),
            as_customer(),
        )
        .await
        .expect("place order");
        if stage == Stage::Placed {
            return order;
        }
        let payment = PaymentId::for_order(order);
        execute(
            &aggregates.payments,
            &payment.to_string(),
            PaymentCommand::PayForOrder {
                payment_id: payment,
                order_id: order,
                customer,
                amount: total,
                payment_key: format!("tgen_{}", order.0.simple()),
            },
            as_customer(),
        )
        .await
        .expect("pay");
        execute(
            &aggregates.orders,
            &id,
            OrderCommand::RecordPayment {
                payment_id: payment,
                amount: total,
            },
            as_system(),
        )
        .await
        .expect("record payment");
        match stage {
            Stage::Paid => return order,
            Stage::Cancelled => {
                execute(
                    &aggregates.orders,
                    &id,
                    OrderCommand::CancelOrder {
                        by: Actor::Customer(customer),
                        reason: "changed my mind".into(),
                    },
                    as_customer(),
                )
                .await
                .expect("cancel");
                execute(
                    &aggregates.payments,
                    &payment.to_string(),
                    PaymentCommand::RefundPayment {
                        reason: "order cancelled".into(),
                    },
                    as_system(),
                )
                .await
                .expect("refund");
                return order;
            }
            _ => {}
        }
        for command in [
            OrderCommand::AcceptOrder { by: store.owner },
            OrderCommand::StartCooking { by: store.owner },
            OrderCommand::FinishCooking { by: store.owner },
        ] {
            execute(&aggregates.orders, &id, command, as_owner())
                .await
                .expect("store step");
        }
        let delivery = DeliveryId::for_order(order);
        execute(
            &aggregates.deliveries,
            &delivery.to_string(),
            DeliveryCommand::RequestDelivery {
                delivery_id: delivery,
                order_id: order,
                store_id: store.id,
                customer_id: customer,
                pickup: city_hall(),
                dropoff: GeoPoint {
                    lat: 37.566,
                    lng: 126.991,
                },
                radius_m: 3_000,
            },
            as_system(),
        )
        .await
        .expect("request delivery");
        if stage == Stage::Ready {
            return order;
        }
        let rider = RiderId::new();
        let as_rider = || meta(order.0, Actor::Rider(rider));
        for command in [
            DeliveryCommand::ClaimDelivery {
                rider,
                rider_at: city_hall(),
            },
            DeliveryCommand::PickUpDelivery { rider },
        ] {
            execute(
                &aggregates.deliveries,
                &delivery.to_string(),
                command,
                as_rider(),
            )
            .await
            .expect("rider step");
        }
        execute(
            &aggregates.orders,
            &id,
            OrderCommand::RecordPickup { rider },
            as_system(),
        )
        .await
        .expect("record pickup");
        execute(
            &aggregates.orders,
            &id,
            OrderCommand::ConfirmDelivery { by: customer },
            as_customer(),
        )
        .await
        .expect("confirm");
        execute(
            &aggregates.deliveries,
            &delivery.to_string(),
            DeliveryCommand::CompleteDelivery,
            as_system(),
        )
        .await
        .expect("complete delivery");
        execute(
            &aggregates.customers,
            &customer.to_string(),
            CustomerCommand::RecordCompletedOrder { order_id: order },
            as_system(),
        )
        .await
        .expect("record completed order");
        order
    }
}
