//! The Order aggregate: the lifecycle every other part of eats follows.
//!
//! ```text
//! AwaitingPayment -> Paid -> Accepted -> Cooking -> ReadyForPickup -> InDelivery -> Delivered
//!        |            |  \-> Rejected (refund owed)
//!        +-> Cancelled +-> Cancelled (refund owed)   Accepted -> Cancelled (refund owed)
//! ```
//! Totals are priced from the store's menu through [`StoreCatalog`], never from the client.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::Versioned;
use crate::geo::{GeoError, GeoPoint};
use crate::ids::{CustomerId, MenuItemId, OrderId, PaymentId, RiderId, StoreId, UserId};
use crate::metadata::Actor;
use crate::money::Won;
use crate::store::StoreMenu;
use crate::text::{bounded, TextError};

/// Most distinct menu items in one order.
pub const MAX_LINES: usize = 30;
/// Most of one item in one order.
pub const MAX_QUANTITY: u32 = 50;
/// Longest delivery address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Longest cancel or reject reason, in characters.
pub const MAX_REASON_CHARS: usize = 300;

/// Where an order stands. Serialized in snake_case for read models and the API.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet (an aggregate with no events).
    #[default]
    NotPlaced,
    /// Placed, waiting for the customer to pay.
    AwaitingPayment,
    /// Paid; the store sees it now.
    Paid,
    /// The store will cook it.
    Accepted,
    /// The store refused it; the payment is refunded.
    Rejected,
    /// The kitchen is on it; the customer can no longer cancel.
    Cooking,
    /// Cooked; a delivery job is open for riders.
    ReadyForPickup,
    /// A rider has it.
    InDelivery,
    /// The customer confirmed receipt.
    Delivered,
    /// Cancelled before cooking; refunded if it was paid.
    Cancelled,
}

/// What the client asks for: an item and how many. Prices come from the menu.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineRequest {
    /// The menu item.
    pub item_id: MenuItemId,
    /// How many, 1 to [`MAX_QUANTITY`].
    pub quantity: u32,
}

/// A priced line of a placed order, frozen at the menu price of the moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The menu item.
    pub item_id: MenuItemId,
    /// Its name when ordered.
    pub name: String,
    /// Its price when ordered.
    pub unit_price: Won,
    /// How many.
    pub quantity: u32,
    /// `unit_price * quantity`.
    pub line_total: Won,
}

/// Where the order goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryAddress {
    /// Street address and door, as the rider reads it.
    pub address: String,
    /// The drop-off point.
    pub location: GeoPoint,
}

/// Reads a store's menu when an order is placed.
///
/// The real one loads the Store aggregate from the event store, so placing an order needs
/// nothing but the event store; tests give a fixed menu.
#[async_trait]
pub trait StoreCatalog: Send + Sync {
    /// The store's current menu, or `None` if there is no such store.
    async fn menu(&self, store: StoreId) -> Result<Option<StoreMenu>, CatalogError>;
}

/// The catalogue could not be read (e.g. the database is unreachable).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("store catalogue unavailable: {0}")]
pub struct CatalogError(pub String);

/// What the Order aggregate reaches outside itself for.
#[derive(Clone)]
pub struct OrderServices {
    /// Prices orders.
    pub catalog: Arc<dyn StoreCatalog>,
}

/// An order as its events have built it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    status: OrderStatus,
    placed: Option<Placement>,
    payment: Option<PaymentId>,
    rider: Option<RiderId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Placement {
    customer: CustomerId,
    store: StoreId,
    store_owner: UserId,
    total: Won,
}

impl Order {
    /// Where the order stands.
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// What the customer pays, once placed.
    pub fn total(&self) -> Option<Won> {
        self.placed.as_ref().map(|p| p.total)
    }

    /// Whether a payment was recorded (the store has seen it), even if later refunded.
    pub fn was_paid(&self) -> bool {
        self.payment.is_some()
    }

    /// Which store it was placed with.
    pub fn store(&self) -> Option<StoreId> {
        self.placed.as_ref().map(|p| p.store)
    }

    /// Who ordered it, once placed.
    pub fn customer(&self) -> Option<CustomerId> {
        self.placed.as_ref().map(|p| p.customer)
    }
}

/// What customers, store owners and process managers ask of an order.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderCommand {
    /// A customer orders from a store's menu.
    PlaceOrder {
        /// The new order's id.
        order_id: OrderId,
        /// The ordering customer.
        customer: CustomerId,
        /// The store.
        store_id: StoreId,
        /// Items and quantities; priced from the menu.
        lines: Vec<LineRequest>,
        /// Where to deliver.
        deliver_to: DeliveryAddress,
    },
    /// The payment was approved (issued by the payment process manager).
    RecordPayment {
        /// The approved payment.
        payment_id: PaymentId,
        /// The amount charged; must equal the total.
        amount: Won,
    },
    /// The store owner takes the order.
    AcceptOrder {
        /// Acting user.
        by: UserId,
    },
    /// The store owner, or the no-action deadline, refuses the order.
    RejectOrder {
        /// The store owner, or `System` for the deadline.
        by: Actor,
        /// Told to the customer.
        reason: String,
    },
    /// The kitchen starts; from here the customer cannot cancel.
    StartCooking {
        /// Acting user.
        by: UserId,
    },
    /// The food is ready for a rider.
    FinishCooking {
        /// Acting user.
        by: UserId,
    },
    /// The assigned rider picked the food up (issued by the delivery process manager).
    RecordPickup {
        /// The rider.
        rider: RiderId,
    },
    /// The ordering customer confirms receipt.
    ConfirmDelivery {
        /// Acting customer.
        by: CustomerId,
    },
    /// The customer (or the unpaid deadline, or an admin) cancels before cooking starts.
    CancelOrder {
        /// Who cancels.
        by: Actor,
        /// Told to the customer and the store.
        reason: String,
    },
}

/// Why an order command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OrderError {
    /// The id is taken.
    #[error("order is already placed")]
    AlreadyPlaced,
    /// Only placement works on an order that does not exist.
    #[error("order does not exist")]
    NotPlaced,
    /// An order needs at least one line.
    #[error("an order needs at least one item")]
    EmptyOrder,
    /// More than [`MAX_LINES`] lines.
    #[error("an order may have at most {max} different items", max = MAX_LINES)]
    TooManyLines,
    /// A quantity outside 1..=[`MAX_QUANTITY`].
    #[error("quantity {quantity} of item {item} must be between 1 and {max}", max = MAX_QUANTITY)]
    InvalidQuantity {
        /// The line's item.
        item: MenuItemId,
        /// The refused quantity.
        quantity: u32,
    },
    /// The same item on two lines.
    #[error("item {0} appears on more than one line")]
    DuplicateLine(MenuItemId),
    /// No such store.
    #[error("store {0} does not exist")]
    StoreNotFound(StoreId),
    /// The store is not taking orders.
    #[error("store {0} is closed")]
    StoreClosed(StoreId),
    /// The item is not on the store's menu.
    #[error("item {0} is not on the store's menu")]
    UnknownMenuItem(MenuItemId),
    /// The item is sold out.
    #[error("item {0} is sold out")]
    MenuItemUnavailable(MenuItemId),
    /// The total does not fit in an `i64` of won.
    #[error("the order total is too large")]
    TotalTooLarge,
    /// The delivery address or a reason is unusable.
    #[error(transparent)]
    InvalidText(#[from] TextError),
    /// The drop-off point is not on earth.
    #[error(transparent)]
    InvalidLocation(#[from] GeoError),
    /// The menu could not be read; the order was not placed and may be retried.
    #[error(transparent)]
    CatalogUnavailable(#[from] CatalogError),
    /// The acting customer (or role) is not this order's customer.
    #[error("this is not your order")]
    NotYourOrder,
    /// The acting user does not own the order's store.
    #[error("only the store's owner may do this")]
    NotStoreOwner,
    /// The approved amount differs from the total.
    #[error("payment of {paid} does not match the order total {expected}")]
    PaymentAmountMismatch {
        /// The order total.
        expected: Won,
        /// What was charged.
        paid: Won,
    },
    /// Paid already.
    #[error("order is already paid")]
    AlreadyPaid,
    /// Cancelling after the kitchen started.
    #[error("cooking has already started; the order can no longer be cancelled")]
    CookingAlreadyStarted,
    /// Cancelled already.
    #[error("order is already cancelled")]
    AlreadyCancelled,
    /// Rejected already.
    #[error("order was rejected by the store")]
    AlreadyRejected,
    /// Delivered already.
    #[error("order is already delivered")]
    AlreadyDelivered,
    /// The command needs the order in another status.
    #[error("order is {actual}; this needs it {required}")]
    WrongStatus {
        /// The status the command needs.
        required: OrderStatus,
        /// The status it is in.
        actual: OrderStatus,
    },
}

/// A customer placed an order; priced from the menu of that moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: OrderId,
    /// Who ordered.
    pub customer_id: CustomerId,
    /// From which store.
    pub store_id: StoreId,
    /// Who may act on it for the store.
    pub store_owner: UserId,
    /// Priced lines.
    pub lines: Vec<OrderLine>,
    /// Sum of the lines.
    pub total: Won,
    /// The store's location: where riders pick it up.
    pub pickup: GeoPoint,
    /// Where it goes.
    pub deliver_to: DeliveryAddress,
}

/// The order's payment was approved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPaid {
    /// The payment.
    pub payment_id: PaymentId,
    /// Amount charged.
    pub amount: Won,
}

/// The store took the order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderAccepted {
    /// The store owner who accepted.
    pub by: UserId,
}

/// The store (or its deadline) refused the order; the payment is owed back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRejected {
    /// The store owner, or `System` for the deadline.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// The payment to refund.
    pub payment_id: PaymentId,
    /// How much to refund.
    pub refund_owed: Won,
}

/// The kitchen started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CookingStarted {}

/// The food is ready for pickup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CookingFinished {}

/// A rider has the food.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPickedUp {
    /// The rider.
    pub rider_id: RiderId,
}

/// The customer confirmed receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderDelivered {
    /// The customer, whose completed-order count goes up.
    pub customer_id: CustomerId,
    /// The rider who delivered.
    pub rider_id: RiderId,
}

/// The order was cancelled before cooking; a refund is owed if it was paid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// Who cancelled.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// The payment to refund, if it was paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
    /// How much to refund; zero when it was never paid.
    pub refund_owed: Won,
}

domain_events! {
    /// Everything that happens to an order.
    pub enum OrderEvent {
        OrderPlaced(OrderPlaced) = "1.0.0",
        OrderPaid(OrderPaid) = "1.0.0",
        OrderAccepted(OrderAccepted) = "1.0.0",
        OrderRejected(OrderRejected) = "1.0.0",
        CookingStarted(CookingStarted) = "1.0.0",
        CookingFinished(CookingFinished) = "1.0.0",
        OrderPickedUp(OrderPickedUp) = "1.0.0",
        OrderDelivered(OrderDelivered) = "1.0.0",
        OrderCancelled(OrderCancelled) = "1.0.0",
    }
}

impl Order {
    fn placement(&self) -> Result<&Placement, OrderError> {
        self.placed.as_ref().ok_or(OrderError::NotPlaced)
    }

    fn require(&self, required: OrderStatus) -> Result<(), OrderError> {
        if self.status == required {
            Ok(())
        } else {
            Err(OrderError::WrongStatus {
                required,
                actual: self.status,
            })
        }
    }

    fn as_store_owner(&self, by: UserId) -> Result<(), OrderError> {
        if self.placement()?.store_owner == by {
            Ok(())
        } else {
            Err(OrderError::NotStoreOwner)
        }
    }

    fn as_customer(&self, by: CustomerId) -> Result<(), OrderError> {
        if self.placement()?.customer == by {
            Ok(())
        } else {
            Err(OrderError::NotYourOrder)
        }
    }

    async fn price(
        services: &OrderServices,
        store_id: StoreId,
        lines: &[LineRequest],
    ) -> Result<(Vec<OrderLine>, Won, StoreMenu), OrderError> {
        if lines.is_empty() {
            return Err(OrderError::EmptyOrder);
        }
        if lines.len() > MAX_LINES {
            return Err(OrderError::TooManyLines);
        }
        let mut seen = BTreeSet::new();
        for line in lines {
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(OrderError::InvalidQuantity {
                    item: line.item_id,
                    quantity: line.quantity,
                });
            }
            if !seen.insert(line.item_id) {
                return Err(OrderError::DuplicateLine(line.item_id));
            }
        }
        let menu = services
            .catalog
            .menu(store_id)
            .await?
            .ok_or(OrderError::StoreNotFound(store_id))?;
        if !menu.open {
            return Err(OrderError::StoreClosed(store_id));
        }
        let mut priced = Vec::with_capacity(lines.len());
        let mut total = Won::ZERO;
        for line in lines {
            let item = menu
                .items
                .get(&line.item_id)
                .ok_or(OrderError::UnknownMenuItem(line.item_id))?;
            if !item.available {
                return Err(OrderError::MenuItemUnavailable(line.item_id));
            }
            let line_total = item
                .price
                .checked_mul(line.quantity)
                .ok_or(OrderError::TotalTooLarge)?;
            total = total
                .checked_add(line_total)
                .ok_or(OrderError::TotalTooLarge)?;
            priced.push(OrderLine {
                item_id: line.item_id,
                name: item.name.clone(),
                unit_price: item.price,
                quantity: line.quantity,
                line_total,
            });
        }
        Ok((priced, total, menu))
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = "Order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = OrderServices;

    async fn handle(
        &mut self,
        command: OrderCommand,
        services: &OrderServices,
        sink: &EventSink<Self>,
    ) -> Result<(), OrderError> {
        match command {
            OrderCommand::PlaceOrder {
                order_id,
                customer,
                store_id,
                lines,
                deliver_to,
            } => {
                if self.placed.is_some() {
                    return Err(OrderError::AlreadyPlaced);
                }
                let deliver_to = DeliveryAddress {
                    address: bounded("deliver_to.address", &deliver_to.address, MAX_ADDRESS_CHARS)?,
                    location: deliver_to.location.validated()?,
                };
                let (lines, total, menu) = Self::price(services, store_id, &lines).await?;
                let event = OrderPlaced {
                    order_id,
                    customer_id: customer,
                    store_id,
                    store_owner: menu.owner,
                    lines,
                    total,
                    pickup: menu.location,
                    deliver_to,
                };
                sink.write(event.into(), self).await;
            }
            OrderCommand::RecordPayment { payment_id, amount } => {
                let total = self.placement()?.total;
                match self.status {
                    OrderStatus::AwaitingPayment => {}
                    OrderStatus::Paid
                    | OrderStatus::Accepted
                    | OrderStatus::Cooking
                    | OrderStatus::ReadyForPickup
                    | OrderStatus::InDelivery
                    | OrderStatus::Delivered => return Err(OrderError::AlreadyPaid),
                    _ => self.require(OrderStatus::AwaitingPayment)?,
                }
                if amount != total {
                    return Err(OrderError::PaymentAmountMismatch {
                        expected: total,
                        paid: amount,
                    });
                }
                sink.write(OrderPaid { payment_id, amount }.into(), self)
                    .await;
            }
            OrderCommand::AcceptOrder { by } => {
                self.as_store_owner(by)?;
                self.require(OrderStatus::Paid)?;
                sink.write(OrderAccepted { by }.into(), self).await;
            }
            OrderCommand::RejectOrder { by, reason } => {
                match by {
                    Actor::StoreOwner(user) => self.as_store_owner(user)?,
                    Actor::System => {
                        self.placement()?;
                    }
                    _ => return Err(OrderError::NotStoreOwner),
                }
                self.require(OrderStatus::Paid)?;
                let event = OrderRejected {
                    by,
                    reason: bounded("reason", &reason, MAX_REASON_CHARS)?,
                    payment_id: self.payment.ok_or(OrderError::WrongStatus {
                        required: OrderStatus::Paid,
                        actual: self.status,
                    })?,
                    refund_owed: self.placement()?.total,
                };
                sink.write(event.into(), self).await;
            }
            OrderCommand::StartCooking { by } => {
                self.as_store_owner(by)?;
                self.require(OrderStatus::Accepted)?;
                sink.write(CookingStarted {}.into(), self).await;
            }
            OrderCommand::FinishCooking { by } => {
                self.as_store_owner(by)?;
                self.require(OrderStatus::Cooking)?;
                sink.write(CookingFinished {}.into(), self).await;
            }
            OrderCommand::RecordPickup { rider } => {
                self.placement()?;
                self.require(OrderStatus::ReadyForPickup)?;
                sink.write(OrderPickedUp { rider_id: rider }.into(), self)
                    .await;
            }
            OrderCommand::ConfirmDelivery { by } => {
                self.as_customer(by)?;
                if self.status == OrderStatus::Delivered {
                    return Err(OrderError::AlreadyDelivered);
                }
                self.require(OrderStatus::InDelivery)?;
                let rider_id = self.rider.ok_or(OrderError::WrongStatus {
                    required: OrderStatus::InDelivery,
                    actual: self.status,
                })?;
                let event = OrderDelivered {
                    customer_id: by,
                    rider_id,
                };
                sink.write(event.into(), self).await;
            }
            OrderCommand::CancelOrder { by, reason } => {
                match by {
                    Actor::Customer(customer) => self.as_customer(customer)?,
                    Actor::System | Actor::Admin(_) => {
                        self.placement()?;
                    }
                    Actor::StoreOwner(_) | Actor::Rider(_) => return Err(OrderError::NotYourOrder),
                }
                let total = self.placement()?.total;
                // The system cancels only unpaid orders (the payment deadline); a late or
                // replayed deadline must never cancel an order that was paid meanwhile.
                if by == Actor::System && self.status != OrderStatus::AwaitingPayment {
                    return Err(OrderError::WrongStatus {
                        required: OrderStatus::AwaitingPayment,
                        actual: self.status,
                    });
                }
                let (payment_id, refund_owed) = match self.status {
                    OrderStatus::AwaitingPayment => (None, Won::ZERO),
                    OrderStatus::Paid | OrderStatus::Accepted => (self.payment, total),
                    OrderStatus::Cooking
                    | OrderStatus::ReadyForPickup
                    | OrderStatus::InDelivery => return Err(OrderError::CookingAlreadyStarted),
                    OrderStatus::Delivered => return Err(OrderError::AlreadyDelivered),
                    OrderStatus::Cancelled => return Err(OrderError::AlreadyCancelled),
                    OrderStatus::Rejected => return Err(OrderError::AlreadyRejected),
                    OrderStatus::NotPlaced => return Err(OrderError::NotPlaced),
                };
                let event = OrderCancelled {
                    by,
                    reason: bounded("reason", &reason, MAX_REASON_CHARS)?,
                    payment_id,
                    refund_owed,
                };
                sink.write(event.into(), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: OrderEvent) {
        match event {
            OrderEvent::OrderPlaced(e) => {
                self.placed = Some(Placement {
                    customer: e.customer_id,
                    store: e.store_id,
                    store_owner: e.store_owner,
                    total: e.total,
                });
                self.status = OrderStatus::AwaitingPayment;
            }
            OrderEvent::OrderPaid(e) => {
                self.payment = Some(e.payment_id);
                self.status = OrderStatus::Paid;
            }
            OrderEvent::OrderAccepted(_) => self.status = OrderStatus::Accepted,
            OrderEvent::OrderRejected(_) => self.status = OrderStatus::Rejected,
            OrderEvent::CookingStarted(_) => self.status = OrderStatus::Cooking,
            OrderEvent::CookingFinished(_) => self.status = OrderStatus::ReadyForPickup,
            OrderEvent::OrderPickedUp(e) => {
                self.rider = Some(e.rider_id);
                self.status = OrderStatus::InDelivery;
            }
            OrderEvent::OrderDelivered(_) => self.status = OrderStatus::Delivered,
            OrderEvent::OrderCancelled(_) => self.status = OrderStatus::Cancelled,
        }
    }
}

impl Versioned for Order {
    /// 2: the placement records the store.
    const SNAPSHOT_LAYOUT: u32 = 2;
}

#[cfg(test)]
mod tests;
