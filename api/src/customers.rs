//! What customers do: register, browse, order, pay, cancel, confirm, follow.

use cqrs_es::{Aggregate, EventStore};
use eats_domain::customer::{CustomerCommand, CustomerError};
use eats_domain::metadata::keys;
use eats_domain::order::{
    DeliveryAddress, LineRequest, Order, OrderCommand, OrderError, OrderStatus, MAX_QUANTITY,
};
use eats_domain::payment::{Payment, PaymentCommand};
use eats_domain::{Actor, CustomerId, GeoPoint, OrderId, PaymentId, StoreId};
use eats_feed::FeedEvent;
use std::collections::VecDeque;

use eats_projections::live::{Follow, Topic};
use eats_projections::{customer_profile, order_view, store_directory};
use eats_store::on_pool;
use futures::stream::BoxStream;
use futures::StreamExt;
use poem::web::sse::Event;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::{Role, User};
use crate::idempotency;
use crate::live::{Sent, StreamSlot};
use crate::problem::{invalid, not_found, ApiError, Problem, ProblemKind};
use crate::state::ApiState;
use crate::types::*;
use crate::ApiTags;

/// Customer endpoints.
pub struct CustomerApi;

/// A write was accepted.
#[derive(ApiResponse)]
pub enum Created {
    /// Created; the body names it and its status.
    #[oai(status = 201)]
    Created(Json<Accepted>),
}

/// A state change was accepted.
#[derive(ApiResponse)]
pub enum Done {
    /// Done; the body gives the new status.
    #[oai(status = 200)]
    Ok(Json<Accepted>),
}

/// The payment's outcome.
#[derive(ApiResponse)]
pub enum Paid {
    /// The gateway answered: approved (the order becomes paid) or declined (pay again).
    #[oai(status = 200)]
    Ok(Json<PaymentOutcome>),
}

fn location(l: &Location) -> GeoPoint {
    GeoPoint {
        lat: l.lat,
        lng: l.lng,
    }
}

/// Whether `customer` placed order `order_id` (404 otherwise). Who placed an order never
/// changes, so an order this process remembers answers without a load.
pub(crate) async fn check_own_order(
    state: &ApiState,
    order_id: Uuid,
    customer: Uuid,
) -> Result<(), ApiError> {
    if let Some(order) = state.aggregates.orders.remembered(&order_id.to_string()) {
        if order.customer().is_some_and(|c| c.0 == customer) {
            return Ok(());
        }
    }
    own_order(state, order_id, customer).await.map(drop)
}

/// The order, if it exists and `customer` placed it; 404 otherwise.
pub(crate) async fn own_order(
    state: &ApiState,
    order_id: Uuid,
    customer: Uuid,
) -> Result<Order, ApiError> {
    let order = state
        .db
        .event_store::<Order>()
        .load_aggregate(&order_id.to_string())
        .await
        .map_err(ApiError::from)?
        .aggregate;
    match order.customer() {
        Some(c) if c.0 == customer => Ok(order),
        _ => Err(not_found("order")),
    }
}

/// The address a customer registered with, read from their events (not the lagging profile
/// view), so ordering right after registering works.
async fn registered_address(
    state: &ApiState,
    customer: Uuid,
) -> Result<Option<DeliveryAddress>, ApiError> {
    let first = state
        .db
        .first_event("Customer", &customer.to_string())
        .await
        .map_err(|e| ApiError::from(sqlx::Error::Protocol(e.to_string())))?;
    Ok(first.and_then(|stored| {
        let event = eats_feed::FeedEvent::from_serialized(stored).ok()?;
        match event.decode::<eats_domain::customer::Customer>().ok()? {
            eats_domain::customer::CustomerEvent::CustomerRegistered(r) => Some(DeliveryAddress {
                address: r.address,
                location: r.location,
            }),
            _ => None,
        }
    }))
}

fn status_of(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "OrderPlaced" => "awaiting_payment",
        "OrderPaid" => "paid",
        "OrderAccepted" => "accepted",
        "OrderRejected" => "rejected",
        "CookingStarted" => "cooking",
        "CookingFinished" => "ready_for_pickup",
        "OrderPickedUp" => "in_delivery",
        "OrderDelivered" => "delivered",
        "OrderCancelled" => "cancelled",
        _ => return None,
    })
}

fn terminal(status: &str) -> bool {
    matches!(status, "delivered" | "cancelled" | "rejected")
}

/// An order's status, the rider carrying it and where it goes, from its view.
async fn carried_by(
    db: &eats_store::Database,
    order: &str,
) -> Result<(String, Option<String>, GeoPoint), sqlx::Error> {
    let row: Option<(String, Option<String>, f64, f64)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT status, rider_id, dropoff_lat, dropoff_lng FROM order_view WHERE order_id = $1",
        )
        .bind(order)
        .fetch_optional(pool)
        .await
    })?;
    let (status, rider, lat, lng) = row.ok_or(sqlx::Error::RowNotFound)?;
    Ok((status, rider, GeoPoint { lat, lng }))
}

/// Why a stream could not read its order's history; the stream ends and the client resumes.
#[derive(Debug, thiserror::Error)]
enum StreamReadError {
    #[error(transparent)]
    Store(#[from] eats_store::StoreError),
    #[error(transparent)]
    Decode(#[from] eats_feed::DecodeError),
}

/// Where an order's stream is: what it follows, the last sequence sent, its slot among the
/// user's streams, and changes read but not yet sent.
struct Following {
    follow: Follow,
    after: i64,
    /// Held, not read: dropping it gives the user's slot back when the stream ends.
    _slot: StreamSlot,
    found: VecDeque<StatusChange>,
    /// Whether the events were read since the last wake-up (or since following began).
    read: bool,
}

/// The status changes of `order` after sequence `after`, in order, read from the event
/// store: it holds every change before any projector announces it, so a woken stream always
/// finds it. Only the events after `after` are read, and every change found is sent before
/// the stream waits again: one read per wake-up, not one per change plus one finding none.
async fn status_changes_after(
    db: &eats_store::Database,
    order: &str,
    after: i64,
) -> Result<VecDeque<StatusChange>, StreamReadError> {
    let history = db
        .history_after(Order::TYPE, order, u64::try_from(after).unwrap_or(0))
        .await?;
    let mut changes = VecDeque::new();
    for stored in history {
        let sequence = i64::try_from(stored.sequence).unwrap_or(i64::MAX);
        let event = FeedEvent::from_serialized(stored)?;
        if let Some(status) = status_of(&event.event_type) {
            changes.push_back(StatusChange {
                sequence,
                status: status.to_string(),
                occurred_at: event.occurred_at(),
                event_type: event.event_type,
            });
        }
    }
    Ok(changes)
}

#[OpenApi(tag = "ApiTags::Customer")]
impl CustomerApi {
    /// Register yourself (the token's user) as a customer.
    #[oai(
        path = "/customers",
        method = "post",
        operation_id = "registerCustomer"
    )]
    async fn register(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        body: Json<RegisterCustomer>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Created, ApiError> {
        let customer = user.require(Role::Customer)?;
        let result = state
            .aggregates
            .customers
            .execute_with_metadata(
                &customer.to_string(),
                CustomerCommand::RegisterCustomer {
                    customer_id: CustomerId(customer),
                    name: body.0.name,
                    phone: body.0.phone,
                    address: body.0.address,
                    location: location(&body.0.location),
                },
                ApiState::metadata(request, customer, Actor::Customer(CustomerId(customer))),
            )
            .await;
        idempotency::settle(request, result, |e| {
            matches!(e, CustomerError::AlreadyRegistered)
        })?;
        Ok(Created::Created(Json(Accepted {
            id: customer.to_string(),
            status: "registered".into(),
        })))
    }

    /// Your profile and loyalty grade.
    #[oai(path = "/customers/me", method = "get", operation_id = "getMyProfile")]
    async fn me(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
    ) -> Result<Json<CustomerProfile>, ApiError> {
        let customer = user.require(Role::Customer)?;
        let profile = customer_profile::fetch(&state.db, &customer.to_string())
            .await?
            .ok_or_else(|| not_found("customer profile"))?;
        Ok(Json(CustomerProfile {
            customer_id: profile.customer_id,
            name: profile.name,
            phone: profile.phone,
            address: profile.address,
            location: Location {
                lat: profile.lat,
                lng: profile.lng,
            },
            completed_orders: profile.completed_orders,
            grade: profile.grade,
        }))
    }

    /// A store's menu.
    #[oai(
        path = "/stores/:store_id/menu",
        method = "get",
        operation_id = "getMenu"
    )]
    async fn menu(
        &self,
        state: poem::web::Data<&ApiState>,
        _user: User,
        store_id: Path<Uuid>,
    ) -> Result<Json<Vec<MenuItem>>, ApiError> {
        let id = store_id.0.to_string();
        store_directory::fetch(&state.db, &id)
            .await?
            .ok_or_else(|| not_found("store"))?;
        let items = store_directory::menu(&state.db, &id).await?;
        Ok(Json(
            items
                .into_iter()
                .map(|i| MenuItem {
                    item_id: i.item_id,
                    name: i.name,
                    price: i.price,
                    available: i.available,
                })
                .collect(),
        ))
    }

    /// Place an order; it is priced from the store's menu.
    #[oai(path = "/orders", method = "post", operation_id = "placeOrder")]
    async fn place(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        body: Json<PlaceOrder>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Created, ApiError> {
        let customer = user.require(Role::Customer)?;
        let mut lines = Vec::with_capacity(body.0.lines.len());
        for line in &body.0.lines {
            let quantity = u32::try_from(line.quantity)
                .ok()
                .filter(|q| (1..=MAX_QUANTITY).contains(q))
                .ok_or_else(|| {
                    invalid(
                        "lines[].quantity",
                        format!(
                            "quantity {} must be between 1 and {MAX_QUANTITY}",
                            line.quantity
                        ),
                    )
                })?;
            lines.push(LineRequest {
                item_id: line.item_id.into(),
                quantity,
            });
        }
        let deliver_to = match body.0.deliver_to {
            Some(to) => DeliveryAddress {
                address: to.address,
                location: location(&to.location),
            },
            None => registered_address(&state, customer).await?.ok_or_else(|| {
                invalid(
                    "deliver_to",
                    "give deliver_to, or register first to use your address",
                )
            })?,
        };
        // Under an Idempotency-Key the id comes from the key's claim: a retry after a crash
        // meets the order its first attempt placed instead of placing a second one.
        let order = OrderId(idempotency::new_id(request, "order"));
        let result = state
            .aggregates
            .orders
            .execute_with_metadata(
                &order.to_string(),
                OrderCommand::PlaceOrder {
                    order_id: order,
                    customer: CustomerId(customer),
                    store_id: StoreId(body.0.store_id),
                    lines,
                    deliver_to,
                },
                ApiState::metadata(request, order.0, Actor::Customer(CustomerId(customer))),
            )
            .await;
        idempotency::settle(request, result, |e| matches!(e, OrderError::AlreadyPlaced))?;
        Ok(Created::Created(Json(Accepted {
            id: order.to_string(),
            status: OrderStatus::AwaitingPayment.to_string(),
        })))
    }

    /// Pay for your order. When the payment gateway is overloaded this answers at once with
    /// 503 and `Retry-After`; nothing is charged and the order stays payable.
    #[oai(
        path = "/orders/:order_id/payment",
        method = "post",
        operation_id = "payOrder"
    )]
    async fn pay(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        order_id: Path<Uuid>,
        body: Json<PayOrder>,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Paid, ApiError> {
        let customer = user.require(Role::Customer)?;
        let order = own_order(&state, order_id.0, customer).await?;
        let order_id = OrderId(order_id.0);
        let payment = PaymentId::for_order(order_id);
        let payments = state.db.event_store::<Payment>();
        // A retry that took over a crashed first attempt: if that attempt's command ran, its
        // events say so (their causation is this request's command id) and are the answer;
        // paying again would record a second attempt.
        let ours = |events: &[cqrs_es::EventEnvelope<Payment>], command: Uuid| {
            events
                .iter()
                .rev()
                .find(|e| e.metadata.get(keys::CAUSATION_ID) == Some(&command.to_string()))
                .map(|e| e.payload.clone())
        };
        let first_attempt = match idempotency::command_id(request) {
            Some(command) if idempotency::is_retry(request) => {
                let events = payments
                    .load_events(&payment.to_string())
                    .await
                    .map_err(ApiError::from)?;
                ours(&events, command)
            }
            _ => None,
        };
        if first_attempt.is_none() {
            if order.status() != OrderStatus::AwaitingPayment {
                return Err(Problem::new(
                    ProblemKind {
                        status: 409,
                        slug: "order-not-payable",
                        title: "Order is not awaiting payment",
                        field: None,
                    },
                    format!("the order is {}", order.status()),
                )
                .into());
            }
            state
                .aggregates
                .payments
                .execute_with_metadata(
                    &payment.to_string(),
                    PaymentCommand::PayForOrder {
                        payment_id: payment,
                        order_id,
                        customer: CustomerId(customer),
                        amount: order.total().unwrap_or_default(),
                        payment_key: body.0.payment_key,
                    },
                    ApiState::metadata(request, order_id.0, Actor::Customer(CustomerId(customer))),
                )
                .await?;
        }
        let last = match first_attempt {
            Some(event) => Some(event),
            None => payments
                .load_events(&payment.to_string())
                .await
                .map_err(ApiError::from)?
                .last()
                .map(|e| e.payload.clone()),
        };
        // The gateway call takes a while: the customer (or the unpaid deadline) may have
        // cancelled meanwhile. Tell the client what really became of the order, not just
        // what the gateway said.
        let order = own_order(&state, order_id.0, customer).await?;
        let lost_to_a_cancel = matches!(
            order.status(),
            OrderStatus::Cancelled | OrderStatus::Rejected
        );
        let (payment_status, message) = match last {
            Some(eats_domain::payment::PaymentEvent::PaymentDeclined(d)) => {
                (PaymentStatus::Declined, Some(d.message))
            }
            Some(eats_domain::payment::PaymentEvent::PaymentRefunded(_)) => (
                PaymentStatus::Refunded,
                Some(format!(
                    "the order was {}; the payment was refunded",
                    order.status()
                )),
            ),
            _ if lost_to_a_cancel => (
                PaymentStatus::Refunded,
                Some(format!(
                    "the payment was approved, but the order was {} first; it is being refunded",
                    order.status()
                )),
            ),
            _ => (PaymentStatus::Approved, None),
        };
        Ok(Paid::Ok(Json(PaymentOutcome {
            order_id: order_id.to_string(),
            payment_status,
            message,
            order_status: order.status().to_string(),
        })))
    }

    /// Cancel your order before cooking starts; a paid order is refunded.
    #[oai(
        path = "/orders/:order_id/cancel",
        method = "post",
        operation_id = "cancelOrder"
    )]
    async fn cancel(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        order_id: Path<Uuid>,
        body: OptionalJson<Reason>,
    ) -> Result<Done, ApiError> {
        let customer = user.require(Role::Customer)?;
        check_own_order(&state, order_id.0, customer).await?;
        state
            .aggregates
            .orders
            .execute_with_metadata(
                &order_id.0.to_string(),
                OrderCommand::CancelOrder {
                    by: Actor::Customer(CustomerId(customer)),
                    reason: body
                        .0
                        .and_then(|b| b.reason)
                        .unwrap_or_else(|| "cancelled by the customer".into()),
                },
                ApiState::metadata(request, order_id.0, Actor::Customer(CustomerId(customer))),
            )
            .await?;
        Ok(Done::Ok(Json(Accepted {
            id: order_id.0.to_string(),
            status: OrderStatus::Cancelled.to_string(),
        })))
    }

    /// Confirm the food arrived; completes the order and counts toward your grade.
    #[oai(
        path = "/orders/:order_id/confirm-delivery",
        method = "post",
        operation_id = "confirmDelivery"
    )]
    async fn confirm(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        order_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let customer = user.require(Role::Customer)?;
        check_own_order(&state, order_id.0, customer).await?;
        state
            .aggregates
            .orders
            .execute_with_metadata(
                &order_id.0.to_string(),
                OrderCommand::ConfirmDelivery {
                    by: CustomerId(customer),
                },
                ApiState::metadata(request, order_id.0, Actor::Customer(CustomerId(customer))),
            )
            .await?;
        Ok(Done::Ok(Json(Accepted {
            id: order_id.0.to_string(),
            status: OrderStatus::Delivered.to_string(),
        })))
    }

    /// One of your orders.
    #[oai(path = "/orders/:order_id", method = "get", operation_id = "getOrder")]
    async fn get(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<Uuid>,
    ) -> Result<Json<OrderView>, ApiError> {
        let customer = user.require(Role::Customer)?;
        let view = order_view::fetch(&state.db, &order_id.0.to_string())
            .await?
            .filter(|v| v.customer_id == customer.to_string())
            .ok_or_else(|| not_found("order"))?;
        Ok(Json(view.into()))
    }

    /// Your orders: active first (not yet delivered, rejected or cancelled), then newest
    /// placed, then by order id. Page with `limit` and the `next` cursor of the previous page.
    #[oai(path = "/orders", method = "get", operation_id = "listMyOrders")]
    async fn mine(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<OrderViewPage>, ApiError> {
        let customer = user.require(Role::Customer)?;
        let limit = crate::paging::limit(limit.0, 50, 200)?;
        let scope = format!("my-orders:{customer}");
        let after = crate::paging::after(&scope, cursor.0.as_deref())?;
        let page =
            order_view::page_for_customer(&state.db, &customer.to_string(), after.as_ref(), limit)
                .await?;
        Ok(Json(OrderViewPage {
            next: crate::paging::next(&scope, page.next.as_ref())?,
            items: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Server-sent events: where the rider bringing your order is and how far from your
    /// address, once it is picked up (`in_delivery`; before, 409 `not-in-delivery`), pushed
    /// each time the rider reports (never polled) and only to you. Each event's id is the
    /// position's `version`: resume with it as `Last-Event-ID` and the stream waits for the
    /// next report. It ends when the order is delivered; heartbeats and the per-user cap as
    /// for the order's stream.
    #[oai(
        path = "/orders/:order_id/rider/stream",
        method = "get",
        operation_id = "streamOrderRider"
    )]
    async fn rider_stream(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<Uuid>,
        #[oai(name = "Last-Event-ID", validator(max_length = 64))] last_event_id: Header<
            Option<String>,
        >,
    ) -> Result<EventStream<BoxStream<'static, crate::live::Sent<RiderPosition>>>, ApiError> {
        let customer = user.require(Role::Customer)?;
        check_own_order(&state, order_id.0, customer).await?;
        let order = order_id.0.to_string();
        let (status, rider, dropoff) = carried_by(&state.db, &order).await?;
        let rider = match (status.as_str(), rider) {
            ("in_delivery", Some(rider)) => rider,
            _ => {
                return Err(Problem::new(
                    ProblemKind {
                        status: 409,
                        slug: "not-in-delivery",
                        title: "Not on its way",
                        field: None,
                    },
                    format!("the order is {status}; the rider is shown once it is picked up"),
                )
                .into())
            }
        };
        let slot = state.live.open(customer)?;
        // Follow before the first read, so a report in between still wakes us.
        let follow = state.live.hub.follow(Topic::rider(&rider));
        let db = state.db.clone();
        let positions = crate::live::snapshots(
            &state.live,
            follow,
            slot,
            last_event_id.0,
            move || {
                let (db, rider, order) = (db.clone(), rider.clone(), order.clone());
                async move {
                    let (status, _, _) = carried_by(&db, &order).await?;
                    if status != "in_delivery" {
                        return Ok(None);
                    }
                    let at: Option<(f64, f64, chrono::DateTime<chrono::Utc>)> = on_pool!(
                        db,
                        |pool| {
                            sqlx::query_as("SELECT lat, lng, updated_at FROM rider_locations WHERE rider_id = $1")
                        .bind(&rider)
                        .fetch_optional(pool)
                        .await
                        }
                    )?;
                    Ok(at.map(|(lat, lng, updated_at)| {
                        let distance_m = GeoPoint { lat, lng }.distance_m(&dropoff).round() as u32;
                        let version =
                            crate::live::version_of(&serde_json::json!([lat, lng, updated_at]));
                        (
                            version.clone(),
                            RiderPosition {
                                version,
                                lat,
                                lng,
                                distance_m,
                                updated_at,
                            },
                        )
                    }))
                }
            },
        );
        Ok(EventStream::new(positions)
            .keep_alive(state.live.heartbeat)
            .to_event(|sent| {
                sent.into_event(|position| {
                    let id = position.version.clone();
                    Event::message(position.to_json_string())
                        .id(id)
                        .event_type("rider")
                })
            }))
    }

    /// Server-sent events, one per status change of your order, ending after the last one.
    /// Resume with `Last-Event-ID` (the last `sequence` you saw). Changes are pushed as the
    /// order view takes them in; a comment line is sent as a heartbeat while nothing changes.
    /// Each user may hold a limited number of streams open: beyond it, 429 with `Retry-After`.
    #[oai(
        path = "/orders/:order_id/stream",
        method = "get",
        operation_id = "streamOrder"
    )]
    async fn stream(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<Uuid>,
        #[oai(name = "Last-Event-ID", validator(minimum(value = "0")))] last_event_id: Header<
            Option<i64>,
        >,
    ) -> Result<EventStream<BoxStream<'static, Sent<StatusChange>>>, ApiError> {
        let customer = user.require(Role::Customer)?;
        check_own_order(&state, order_id.0, customer).await?;
        let slot = state.live.open(customer)?;
        let order = order_id.0.to_string();
        // Follow before the first read, so a change committed in between still wakes us.
        let follow = state.live.hub.follow(Topic::order(&order));
        let (db, live) = (state.db.clone(), state.live.clone());
        let start = last_event_id.0.unwrap_or(0).max(0);
        let following = Following {
            follow,
            after: start,
            _slot: slot,
            found: VecDeque::new(),
            read: false,
        };
        let changes = futures::stream::unfold(Some(following), move |following| {
            let (db, order, closed) = (db.clone(), order.clone(), live.closed());
            async move {
                let mut following = following?;
                tokio::pin!(closed);
                loop {
                    if let Some(change) = following.found.pop_front() {
                        following.after = change.sequence;
                        let next = (!terminal(&change.status)).then_some(following);
                        return Some((Sent::Item(change), next));
                    }
                    // Read once per wake-up: a change committed after this read is announced
                    // after it, and that announcement ends the wait below.
                    if !following.read {
                        following.read = true;
                        match status_changes_after(&db, &order, following.after).await {
                            Ok(found) => following.found = found,
                            Err(error) => {
                                // Ending the stream lets the client resume with Last-Event-ID.
                                tracing::warn!(%error, %order, "reading an order's history for its stream failed");
                                return None;
                            }
                        }
                        continue;
                    }
                    // Shutting down: say when to reconnect and end here; the client resumes
                    // elsewhere.
                    tokio::select! {
                        () = following.follow.changed() => following.read = false,
                        () = &mut closed => return Some((Sent::reconnect(), None)),
                    }
                }
            }
        });
        Ok(EventStream::new(changes.boxed())
            .keep_alive(state.live.heartbeat)
            .to_event(|sent| {
                sent.into_event(|change| {
                    Event::message(
                        serde_json::json!({
                            "sequence": change.sequence,
                            "status": change.status,
                            "event_type": change.event_type,
                            "occurred_at": change.occurred_at,
                        })
                        .to_string(),
                    )
                    .id(change.sequence.to_string())
                    .event_type("status")
                })
            }))
    }
}
