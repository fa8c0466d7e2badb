//! What store owners do: register stores, keep menus, open and close, work the order queue.

use cqrs_es::EventStore;
use eats_domain::order::{Order, OrderCommand, OrderStatus};
use eats_domain::store::{StoreCommand, StoreError};
use eats_domain::{Actor, GeoPoint, MenuItemId, StoreId, UserId, Won};
use eats_projections::live::Topic;
use eats_projections::store_queue::QueueFilter;
use eats_projections::{store_directory, store_queue};
use futures::stream::BoxStream;
use poem::web::sse::Event;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::{Role, User};
use crate::customers::{Created, Done};
use crate::idempotency;
use crate::live;
use crate::paging;
use crate::problem::{invalid, not_found, ApiError};
use crate::state::ApiState;
use crate::types::*;
use crate::ApiTags;

/// Store owner endpoints.
pub struct StoreApi;

/// Most orders one queue snapshot carries: a kitchen with more is already overwhelmed.
const SNAPSHOT_LIMIT: i64 = 200;

fn summary(s: store_directory::StoreEntry) -> StoreSummary {
    StoreSummary {
        store_id: s.store_id,
        name: s.name,
        address: s.address,
        location: Location {
            lat: s.lat,
            lng: s.lng,
        },
        open: s.open,
    }
}

/// A queue row as the API shows it; its lines are JSON the projection wrote, so a row that
/// does not read is an error, never an order without lines.
fn queued(q: store_queue::QueuedOrder) -> Result<QueuedOrder, sqlx::Error> {
    Ok(QueuedOrder {
        lines: serde_json::from_value(q.lines).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        order_id: q.order_id,
        status: q.status,
        total: q.total,
        placed_at: q.placed_at,
    })
}

/// A removal was accepted.
#[derive(ApiResponse)]
pub enum Removed {
    /// Removed.
    #[oai(status = 204)]
    NoContent,
}

const STATUSES: [&str; 8] = [
    "paid",
    "accepted",
    "rejected",
    "cooking",
    "ready_for_pickup",
    "in_delivery",
    "delivered",
    "cancelled",
];

impl StoreApi {
    async fn command(
        state: &ApiState,
        request: &Request,
        owner: Uuid,
        store: Uuid,
        command: StoreCommand,
    ) -> Result<(), ApiError> {
        state
            .aggregates
            .stores
            .execute_with_metadata(
                &store.to_string(),
                command,
                ApiState::metadata(request, store, Actor::StoreOwner(UserId(owner))),
            )
            .await
            .map_err(ApiError::from)
    }

    /// Runs a command that creates something (the store, a menu item) whose id came from
    /// [`idempotency::new_id`]: a retry that meets its own first attempt's effect succeeds.
    async fn create(
        state: &ApiState,
        request: &Request,
        owner: Uuid,
        store: Uuid,
        command: StoreCommand,
        already_done: impl FnOnce(&StoreError) -> bool,
    ) -> Result<(), ApiError> {
        let result = state
            .aggregates
            .stores
            .execute_with_metadata(
                &store.to_string(),
                command,
                ApiState::metadata(request, store, Actor::StoreOwner(UserId(owner))),
            )
            .await;
        idempotency::settle(request, result, already_done).map_err(ApiError::from)
    }

    /// Whether the order belongs to `store`; 404 otherwise (the aggregate checks the owner).
    /// The store of an order never changes, so an order this process remembers answers
    /// without a load.
    async fn store_order(state: &ApiState, store: Uuid, order: Uuid) -> Result<(), ApiError> {
        if let Some(remembered) = state.aggregates.orders.remembered(&order.to_string()) {
            if remembered.store().is_some_and(|s| s.0 == store) {
                return Ok(());
            }
        }
        let loaded = state
            .db
            .event_store::<Order>()
            .load_aggregate(&order.to_string())
            .await
            .map_err(ApiError::from)?
            .aggregate;
        match loaded.store() {
            Some(s) if s.0 == store => Ok(()),
            _ => Err(not_found("order")),
        }
    }

    async fn order_command(
        state: &ApiState,
        request: &Request,
        owner: Uuid,
        store: Uuid,
        order: Uuid,
        command: OrderCommand,
        status: OrderStatus,
    ) -> Result<Done, ApiError> {
        Self::store_order(state, store, order).await?;
        state
            .aggregates
            .orders
            .execute_with_metadata(
                &order.to_string(),
                command,
                ApiState::metadata(request, order, Actor::StoreOwner(UserId(owner))),
            )
            .await?;
        Ok(Done::Ok(Json(Accepted {
            id: order.to_string(),
            status: status.to_string(),
        })))
    }
}

#[OpenApi(tag = "ApiTags::Store")]
impl StoreApi {
    /// Stores: open ones first, then by name, then by id. Page with `limit` and the `next`
    /// cursor of the previous page.
    #[oai(
        path = "/stores",
        method = "get",
        operation_id = "listStores",
        tag = "ApiTags::Customer"
    )]
    async fn stores(
        &self,
        state: poem::web::Data<&ApiState>,
        _user: User,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<StoreSummaryPage>, ApiError> {
        const SCOPE: &str = "stores";
        let limit = paging::limit(limit.0, 50, 200)?;
        let after = paging::after(SCOPE, cursor.0.as_deref())?;
        let page = store_directory::page(&state.db, after.as_ref(), limit).await?;
        Ok(Json(StoreSummaryPage {
            next: paging::next(SCOPE, page.next.as_ref())?,
            items: page.items.into_iter().map(summary).collect(),
        }))
    }

    /// Your stores (the token's owner), by name: at most 200, as one array (an owner with
    /// more is not a person at a counter). So the app finds them from any device.
    #[oai(path = "/stores/mine", method = "get", operation_id = "listMyStores")]
    async fn mine(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
    ) -> Result<Json<Vec<StoreSummary>>, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let stores = store_directory::owned_by(&state.db, &owner.to_string(), 200).await?;
        Ok(Json(stores.into_iter().map(summary).collect()))
    }

    /// Register a store; you become its owner. It starts closed with an empty menu.
    #[oai(path = "/stores", method = "post", operation_id = "registerStore")]
    async fn register(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        body: Json<RegisterStore>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Created, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let store = StoreId(idempotency::new_id(request, "store"));
        Self::create(
            &state,
            request,
            owner,
            store.0,
            StoreCommand::RegisterStore {
                store_id: store,
                owner: UserId(owner),
                name: body.0.name,
                location: GeoPoint {
                    lat: body.0.location.lat,
                    lng: body.0.location.lng,
                },
                address: body.0.address,
            },
            |e| matches!(e, StoreError::AlreadyRegistered),
        )
        .await?;
        Ok(Created::Created(Json(Accepted {
            id: store.to_string(),
            status: "closed".into(),
        })))
    }

    /// Start taking orders (needs at least one menu item).
    #[oai(
        path = "/stores/:store_id/open",
        method = "post",
        operation_id = "openStore"
    )]
    async fn open(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::command(
            &state,
            request,
            owner,
            store_id.0,
            StoreCommand::OpenStore { by: UserId(owner) },
        )
        .await?;
        Ok(Done::Ok(Json(Accepted {
            id: store_id.0.to_string(),
            status: "open".into(),
        })))
    }

    /// Stop taking orders; orders already placed go on.
    #[oai(
        path = "/stores/:store_id/close",
        method = "post",
        operation_id = "closeStore"
    )]
    async fn close(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::command(
            &state,
            request,
            owner,
            store_id.0,
            StoreCommand::CloseStore { by: UserId(owner) },
        )
        .await?;
        Ok(Done::Ok(Json(Accepted {
            id: store_id.0.to_string(),
            status: "closed".into(),
        })))
    }

    /// Add an item to your menu.
    #[oai(
        path = "/stores/:store_id/menu/items",
        method = "post",
        operation_id = "addMenuItem"
    )]
    async fn add_item(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        body: Json<NewMenuItem>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Created, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let item = MenuItemId(idempotency::new_id(request, "menu-item"));
        Self::create(
            &state,
            request,
            owner,
            store_id.0,
            StoreCommand::AddMenuItem {
                by: UserId(owner),
                item_id: item,
                name: body.0.name,
                price: Won(body.0.price),
            },
            |e| matches!(e, StoreError::MenuItemAlreadyExists(id) if *id == item),
        )
        .await?;
        Ok(Created::Created(Json(Accepted {
            id: item.to_string(),
            status: "available".into(),
        })))
    }

    /// Change an item's name, price or availability.
    #[oai(
        path = "/stores/:store_id/menu/items/:item_id",
        method = "put",
        operation_id = "changeMenuItem"
    )]
    async fn change_item(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        item_id: Path<Uuid>,
        body: Json<MenuItemChange>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let available = body.0.available;
        Self::command(
            &state,
            request,
            owner,
            store_id.0,
            StoreCommand::ChangeMenuItem {
                by: UserId(owner),
                item_id: MenuItemId(item_id.0),
                name: body.0.name,
                price: Won(body.0.price),
                available,
            },
        )
        .await?;
        Ok(Done::Ok(Json(Accepted {
            id: item_id.0.to_string(),
            status: if available { "available" } else { "sold_out" }.into(),
        })))
    }

    /// Take an item off your menu.
    #[oai(
        path = "/stores/:store_id/menu/items/:item_id",
        method = "delete",
        operation_id = "removeMenuItem"
    )]
    async fn remove_item(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        item_id: Path<Uuid>,
    ) -> Result<Removed, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::command(
            &state,
            request,
            owner,
            store_id.0,
            StoreCommand::RemoveMenuItem {
                by: UserId(owner),
                item_id: MenuItemId(item_id.0),
            },
        )
        .await?;
        Ok(Removed::NoContent)
    }

    /// Your store's paid orders. By default what the kitchen must act on (`paid`,
    /// `accepted`, `cooking`, `ready_for_pickup`); `status=all` for every paid order, or one
    /// status (e.g. `delivered`) for history. Order: active first, then newest placed, then
    /// by order id. Page with `limit` and the `next` cursor of the previous page (same
    /// `status`).
    #[oai(
        path = "/stores/:store_id/orders",
        method = "get",
        operation_id = "listStoreOrders"
    )]
    async fn orders(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        store_id: Path<Uuid>,
        /// `all`, or one status (`paid`, `accepted`, `cooking`, `ready_for_pickup`,
        /// `in_delivery`, `delivered`, `rejected`, `cancelled`); default: the kitchen's four.
        status: Query<Option<String>>,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<QueuedOrderPage>, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let store = store_directory::fetch(&state.db, &store_id.0.to_string())
            .await?
            .filter(|s| s.owner_id == owner.to_string())
            .ok_or_else(|| not_found("store"))?;
        let filter = match status.0.as_deref() {
            None => QueueFilter::Kitchen,
            Some("all") => QueueFilter::All,
            Some(s) if STATUSES.contains(&s) => QueueFilter::Status(s.to_string()),
            Some(_) => {
                return Err(invalid(
                    "status",
                    format!("status must be `all` or one of {STATUSES:?}"),
                ))
            }
        };
        let limit = paging::limit(limit.0, 50, 200)?;
        let scope = format!(
            "store-queue:{}:{}",
            store.store_id,
            status.0.as_deref().unwrap_or("kitchen")
        );
        let after = paging::after(&scope, cursor.0.as_deref())?;
        let page =
            store_queue::page(&state.db, &store.store_id, &filter, after.as_ref(), limit).await?;
        Ok(Json(QueuedOrderPage {
            next: paging::next(&scope, page.next.as_ref())?,
            items: page
                .items
                .into_iter()
                .map(queued)
                .collect::<Result<_, _>>()?,
        }))
    }

    /// Server-sent events: your store's kitchen queue (`paid`, `accepted`, `cooking`,
    /// `ready_for_pickup`, as `GET /stores/{id}/orders` lists it), the whole queue at once
    /// and again after each change, pushed as the queue projection takes it in (never
    /// polled). Each event's id is the snapshot's `version`: resume with it as
    /// `Last-Event-ID` and the stream sends the queue only once it differs. A comment line is
    /// sent as a heartbeat while nothing changes; the per-user stream cap applies (429).
    #[oai(
        path = "/stores/:store_id/orders/stream",
        method = "get",
        operation_id = "streamStoreQueue"
    )]
    async fn queue_stream(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        store_id: Path<Uuid>,
        #[oai(name = "Last-Event-ID", validator(max_length = 64))] last_event_id: Header<
            Option<String>,
        >,
    ) -> Result<EventStream<BoxStream<'static, crate::live::Sent<QueueSnapshot>>>, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let store = store_directory::fetch(&state.db, &store_id.0.to_string())
            .await?
            .filter(|s| s.owner_id == owner.to_string())
            .ok_or_else(|| not_found("store"))?;
        let slot = state.live.open(owner)?;
        // Follow before the first read, so a change committed in between still wakes us.
        let follow = state.live.hub.follow(Topic::store(&store.store_id));
        let (db, store) = (state.db.clone(), store.store_id);
        let snapshots = live::snapshots(&state.live, follow, slot, last_event_id.0, move || {
            let (db, store) = (db.clone(), store.clone());
            async move {
                let page =
                    store_queue::page(&db, &store, &QueueFilter::Kitchen, None, SNAPSHOT_LIMIT)
                        .await?;
                let version = live::version_of(&serde_json::json!(page.items));
                let items = page
                    .items
                    .into_iter()
                    .map(queued)
                    .collect::<Result<_, _>>()?;
                Ok(Some((version.clone(), QueueSnapshot { version, items })))
            }
        });
        Ok(EventStream::new(snapshots)
            .keep_alive(state.live.heartbeat)
            .to_event(|sent| {
                sent.into_event(|snapshot| {
                    let id = snapshot.version.clone();
                    Event::message(snapshot.to_json_string())
                        .id(id)
                        .event_type("queue")
                })
            }))
    }

    /// Accept a paid order.
    #[oai(
        path = "/stores/:store_id/orders/:order_id/accept",
        method = "post",
        operation_id = "acceptOrder"
    )]
    async fn accept(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        order_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::order_command(
            &state,
            request,
            owner,
            store_id.0,
            order_id.0,
            OrderCommand::AcceptOrder { by: UserId(owner) },
            OrderStatus::Accepted,
        )
        .await
    }

    /// Reject a paid order; the customer is refunded.
    #[oai(
        path = "/stores/:store_id/orders/:order_id/reject",
        method = "post",
        operation_id = "rejectOrder"
    )]
    async fn reject(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        order_id: Path<Uuid>,
        body: OptionalJson<Reason>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        let reason = body
            .0
            .and_then(|b| b.reason)
            .unwrap_or_else(|| "rejected by the store".into());
        Self::order_command(
            &state,
            request,
            owner,
            store_id.0,
            order_id.0,
            OrderCommand::RejectOrder {
                by: Actor::StoreOwner(UserId(owner)),
                reason,
            },
            OrderStatus::Rejected,
        )
        .await
    }

    /// Start cooking an accepted order; the customer can no longer cancel.
    #[oai(
        path = "/stores/:store_id/orders/:order_id/start-cooking",
        method = "post",
        operation_id = "startCooking"
    )]
    async fn start(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        order_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::order_command(
            &state,
            request,
            owner,
            store_id.0,
            order_id.0,
            OrderCommand::StartCooking { by: UserId(owner) },
            OrderStatus::Cooking,
        )
        .await
    }

    /// The food is ready; riders near the store see the job.
    #[oai(
        path = "/stores/:store_id/orders/:order_id/finish-cooking",
        method = "post",
        operation_id = "finishCooking"
    )]
    async fn finish(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        store_id: Path<Uuid>,
        order_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let owner = user.require(Role::StoreOwner)?;
        Self::order_command(
            &state,
            request,
            owner,
            store_id.0,
            order_id.0,
            OrderCommand::FinishCooking { by: UserId(owner) },
            OrderStatus::ReadyForPickup,
        )
        .await
    }
}
