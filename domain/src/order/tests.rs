//! Given/when/then tests of the order lifecycle: every command in every status.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::test::TestFramework;
use cqrs_es::DomainEvent;

use super::*;
use crate::store::MenuItem;

type OrderTester = TestFramework<Order>;

fn customer() -> CustomerId {
    CustomerId(uuid::Uuid::from_u128(0xc1))
}
fn owner() -> UserId {
    UserId(uuid::Uuid::from_u128(0x0a))
}
fn rider() -> RiderId {
    RiderId(uuid::Uuid::from_u128(0x7d))
}
fn order_id() -> OrderId {
    OrderId(uuid::Uuid::from_u128(0x01))
}
fn payment_id() -> PaymentId {
    PaymentId::for_order(order_id())
}
fn store_id() -> StoreId {
    StoreId(uuid::Uuid::from_u128(0x5a))
}
fn kimbap() -> MenuItemId {
    MenuItemId(uuid::Uuid::from_u128(0x1001))
}
fn ramen() -> MenuItemId {
    MenuItemId(uuid::Uuid::from_u128(0x1002))
}
fn sold_out() -> MenuItemId {
    MenuItemId(uuid::Uuid::from_u128(0x1003))
}
fn store_location() -> GeoPoint {
    GeoPoint::new(37.5665, 126.9780).expect("valid")
}
fn home() -> DeliveryAddress {
    DeliveryAddress {
        address: "서울 중구 을지로 12, 301호".into(),
        location: GeoPoint::new(37.5660, 126.9910).expect("valid"),
    }
}

/// A catalogue with one fixed store, open or closed.
struct FixedCatalog {
    menu: StoreMenu,
}

#[async_trait]
impl StoreCatalog for FixedCatalog {
    async fn menu(&self, store: StoreId) -> Result<Option<StoreMenu>, CatalogError> {
        Ok((store == store_id()).then(|| self.menu.clone()))
    }
}

/// A catalogue whose database is down.
struct DownCatalog;

#[async_trait]
impl StoreCatalog for DownCatalog {
    async fn menu(&self, _: StoreId) -> Result<Option<StoreMenu>, CatalogError> {
        Err(CatalogError("connection refused".into()))
    }
}

fn menu(open: bool) -> StoreMenu {
    let item = |name: &str, price, available| MenuItem {
        name: name.into(),
        price: Won(price),
        available,
    };
    StoreMenu {
        owner: owner(),
        open,
        location: store_location(),
        items: BTreeMap::from([
            (kimbap(), item("참치김밥", 4_500, true)),
            (ramen(), item("라면", 5_000, true)),
            (sold_out(), item("떡볶이", 6_000, false)),
        ]),
    }
}

fn services() -> OrderServices {
    OrderServices {
        catalog: Arc::new(FixedCatalog { menu: menu(true) }),
    }
}

fn place(lines: Vec<(MenuItemId, u32)>) -> OrderCommand {
    OrderCommand::PlaceOrder {
        order_id: order_id(),
        customer: customer(),
        store_id: store_id(),
        lines: lines
            .into_iter()
            .map(|(item_id, quantity)| LineRequest { item_id, quantity })
            .collect(),
        deliver_to: home(),
    }
}

fn placed() -> OrderEvent {
    OrderPlaced {
        order_id: order_id(),
        customer_id: customer(),
        store_id: store_id(),
        store_owner: owner(),
        lines: vec![
            OrderLine {
                item_id: kimbap(),
                name: "참치김밥".into(),
                unit_price: Won(4_500),
                quantity: 2,
                line_total: Won(9_000),
            },
            OrderLine {
                item_id: ramen(),
                name: "라면".into(),
                unit_price: Won(5_000),
                quantity: 1,
                line_total: Won(5_000),
            },
        ],
        total: Won(14_000),
        pickup: store_location(),
        deliver_to: home(),
    }
    .into()
}
fn paid() -> OrderEvent {
    OrderPaid {
        payment_id: payment_id(),
        amount: Won(14_000),
    }
    .into()
}
fn accepted() -> OrderEvent {
    OrderAccepted { by: owner() }.into()
}
fn rejected() -> OrderEvent {
    OrderRejected {
        by: Actor::StoreOwner(owner()),
        reason: "재료 소진".into(),
        payment_id: payment_id(),
        refund_owed: Won(14_000),
    }
    .into()
}
fn cooking_started() -> OrderEvent {
    CookingStarted {}.into()
}
fn cooking_finished() -> OrderEvent {
    CookingFinished {}.into()
}
fn picked_up() -> OrderEvent {
    OrderPickedUp { rider_id: rider() }.into()
}
fn delivered() -> OrderEvent {
    OrderDelivered {
        customer_id: customer(),
        rider_id: rider(),
    }
    .into()
}
fn cancelled_unpaid() -> OrderEvent {
    OrderCancelled {
        by: Actor::Customer(customer()),
        reason: "changed my mind".into(),
        payment_id: None,
        refund_owed: Won::ZERO,
    }
    .into()
}

/// The events that bring an order into `status`.
fn history(status: OrderStatus) -> Vec<OrderEvent> {
    use OrderStatus::*;
    let happy = [
        placed(),
        paid(),
        accepted(),
        cooking_started(),
        cooking_finished(),
        picked_up(),
        delivered(),
    ];
    let take = |n: usize| happy[..n].to_vec();
    match status {
        NotPlaced => vec![],
        AwaitingPayment => take(1),
        Paid => take(2),
        Accepted => take(3),
        Cooking => take(4),
        ReadyForPickup => take(5),
        InDelivery => take(6),
        Delivered => take(7),
        Rejected => vec![placed(), paid(), rejected()],
        Cancelled => vec![placed(), cancelled_unpaid()],
    }
}

const STATUSES: [OrderStatus; 10] = [
    OrderStatus::NotPlaced,
    OrderStatus::AwaitingPayment,
    OrderStatus::Paid,
    OrderStatus::Accepted,
    OrderStatus::Rejected,
    OrderStatus::Cooking,
    OrderStatus::ReadyForPickup,
    OrderStatus::InDelivery,
    OrderStatus::Delivered,
    OrderStatus::Cancelled,
];

/// What a command must do in one status: emit this event type, or fail with this error.
#[derive(Debug)]
enum Outcome {
    Emits(&'static str),
    Fails(OrderError),
}
use Outcome::{Emits, Fails};

fn wrong(required: OrderStatus, actual: OrderStatus) -> Outcome {
    Fails(OrderError::WrongStatus { required, actual })
}

/// The lifecycle as a table: each command (issued by the right actor) against every status,
/// in the order of [`STATUSES`].
fn lifecycle_table() -> Vec<(&'static str, OrderCommand, [Outcome; 10])> {
    use OrderStatus::*;
    let not_placed = || Fails(OrderError::NotPlaced);
    let already_paid = || Fails(OrderError::AlreadyPaid);
    let cooking_started = || Fails(OrderError::CookingAlreadyStarted);
    vec![
        (
            "record payment",
            OrderCommand::RecordPayment {
                payment_id: payment_id(),
                amount: Won(14_000),
            },
            [
                not_placed(),
                Emits("OrderPaid"),
                already_paid(),
                already_paid(),
                wrong(AwaitingPayment, Rejected),
                already_paid(),
                already_paid(),
                already_paid(),
                already_paid(),
                wrong(AwaitingPayment, Cancelled),
            ],
        ),
        (
            "accept",
            OrderCommand::AcceptOrder { by: owner() },
            [
                not_placed(),
                wrong(Paid, AwaitingPayment),
                Emits("OrderAccepted"),
                wrong(Paid, Accepted),
                wrong(Paid, Rejected),
                wrong(Paid, Cooking),
                wrong(Paid, ReadyForPickup),
                wrong(Paid, InDelivery),
                wrong(Paid, Delivered),
                wrong(Paid, Cancelled),
            ],
        ),
        (
            "reject",
            OrderCommand::RejectOrder {
                by: Actor::StoreOwner(owner()),
                reason: "재료 소진".into(),
            },
            [
                not_placed(),
                wrong(Paid, AwaitingPayment),
                Emits("OrderRejected"),
                wrong(Paid, Accepted),
                wrong(Paid, Rejected),
                wrong(Paid, Cooking),
                wrong(Paid, ReadyForPickup),
                wrong(Paid, InDelivery),
                wrong(Paid, Delivered),
                wrong(Paid, Cancelled),
            ],
        ),
        (
            "start cooking",
            OrderCommand::StartCooking { by: owner() },
            [
                not_placed(),
                wrong(Accepted, AwaitingPayment),
                wrong(Accepted, Paid),
                Emits("CookingStarted"),
                wrong(Accepted, Rejected),
                wrong(Accepted, Cooking),
                wrong(Accepted, ReadyForPickup),
                wrong(Accepted, InDelivery),
                wrong(Accepted, Delivered),
                wrong(Accepted, Cancelled),
            ],
        ),
        (
            "finish cooking",
            OrderCommand::FinishCooking { by: owner() },
            [
                not_placed(),
                wrong(Cooking, AwaitingPayment),
                wrong(Cooking, Paid),
                wrong(Cooking, Accepted),
                wrong(Cooking, Rejected),
                Emits("CookingFinished"),
                wrong(Cooking, ReadyForPickup),
                wrong(Cooking, InDelivery),
                wrong(Cooking, Delivered),
                wrong(Cooking, Cancelled),
            ],
        ),
        (
            "record pickup",
            OrderCommand::RecordPickup { rider: rider() },
            [
                not_placed(),
                wrong(ReadyForPickup, AwaitingPayment),
                wrong(ReadyForPickup, Paid),
                wrong(ReadyForPickup, Accepted),
                wrong(ReadyForPickup, Rejected),
                wrong(ReadyForPickup, Cooking),
                Emits("OrderPickedUp"),
                wrong(ReadyForPickup, InDelivery),
                wrong(ReadyForPickup, Delivered),
                wrong(ReadyForPickup, Cancelled),
            ],
        ),
        (
            "confirm delivery",
            OrderCommand::ConfirmDelivery { by: customer() },
            [
                not_placed(),
                wrong(InDelivery, AwaitingPayment),
                wrong(InDelivery, Paid),
                wrong(InDelivery, Accepted),
                wrong(InDelivery, Rejected),
                wrong(InDelivery, Cooking),
                wrong(InDelivery, ReadyForPickup),
                Emits("OrderDelivered"),
                Fails(OrderError::AlreadyDelivered),
                wrong(InDelivery, Cancelled),
            ],
        ),
        (
            "cancel by customer",
            OrderCommand::CancelOrder {
                by: Actor::Customer(customer()),
                reason: "changed my mind".into(),
            },
            [
                not_placed(),
                Emits("OrderCancelled"),
                Emits("OrderCancelled"),
                Emits("OrderCancelled"),
                Fails(OrderError::AlreadyRejected),
                cooking_started(),
                cooking_started(),
                cooking_started(),
                Fails(OrderError::AlreadyDelivered),
                Fails(OrderError::AlreadyCancelled),
            ],
        ),
    ]
}

#[tokio::test]
async fn every_command_in_every_status_does_what_the_lifecycle_says() {
    let mut checked = 0;
    for (name, command, outcomes) in lifecycle_table() {
        for (status, outcome) in STATUSES.into_iter().zip(outcomes) {
            let result = OrderTester::with(services())
                .given(history(status))
                .when_async(command.clone())
                .await
                .inspect_result();
            match (outcome, result) {
                (Emits(expected), Ok(events)) => {
                    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
                    assert_eq!(types, vec![expected.to_string()], "{name} in {status}");
                }
                (Fails(expected), Err(actual)) => {
                    assert_eq!(actual, expected, "{name} in {status}")
                }
                (expected, actual) => {
                    panic!("{name} in {status}: expected {expected:?}, got {actual:?}")
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 80);
}

#[tokio::test]
async fn history_brings_the_order_into_each_status() {
    for status in STATUSES {
        let mut order = Order::default();
        for event in history(status) {
            order.apply(event);
        }
        assert_eq!(order.status(), status);
    }
}

#[tokio::test]
async fn placing_an_order_prices_it_from_the_menu() {
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(place(vec![(kimbap(), 2), (ramen(), 1)]))
        .await
        .then_expect_events(vec![placed()]);
}

#[tokio::test]
async fn placing_twice_is_refused() {
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(place(vec![(kimbap(), 1)]))
        .await
        .then_expect_error(OrderError::AlreadyPlaced);
}

#[tokio::test]
async fn empty_orders_and_bad_quantities_are_refused() {
    let cases = [
        (vec![], OrderError::EmptyOrder),
        (
            vec![(kimbap(), 0)],
            OrderError::InvalidQuantity {
                item: kimbap(),
                quantity: 0,
            },
        ),
        (
            vec![(kimbap(), MAX_QUANTITY + 1)],
            OrderError::InvalidQuantity {
                item: kimbap(),
                quantity: MAX_QUANTITY + 1,
            },
        ),
        (
            vec![(kimbap(), 1), (kimbap(), 2)],
            OrderError::DuplicateLine(kimbap()),
        ),
        (
            (0..=MAX_LINES as u128)
                .map(|i| (MenuItemId(uuid::Uuid::from_u128(i)), 1))
                .collect(),
            OrderError::TooManyLines,
        ),
    ];
    for (lines, error) in cases {
        OrderTester::with(services())
            .given_no_previous_events()
            .when_async(place(lines))
            .await
            .then_expect_error(error);
    }
}

#[tokio::test]
async fn unknown_and_sold_out_items_are_refused() {
    let ghost = MenuItemId::new();
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(place(vec![(kimbap(), 1), (ghost, 1)]))
        .await
        .then_expect_error(OrderError::UnknownMenuItem(ghost));
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(place(vec![(sold_out(), 1)]))
        .await
        .then_expect_error(OrderError::MenuItemUnavailable(sold_out()));
}

#[tokio::test]
async fn ordering_from_a_closed_or_missing_store_is_refused() {
    OrderTester::with(OrderServices {
        catalog: Arc::new(FixedCatalog { menu: menu(false) }),
    })
    .given_no_previous_events()
    .when_async(place(vec![(kimbap(), 1)]))
    .await
    .then_expect_error(OrderError::StoreClosed(store_id()));
    let elsewhere = StoreId::new();
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(OrderCommand::PlaceOrder {
            order_id: order_id(),
            customer: customer(),
            store_id: elsewhere,
            lines: vec![LineRequest {
                item_id: kimbap(),
                quantity: 1,
            }],
            deliver_to: home(),
        })
        .await
        .then_expect_error(OrderError::StoreNotFound(elsewhere));
}

#[tokio::test]
async fn an_unreadable_catalogue_refuses_the_order_without_events() {
    OrderTester::with(OrderServices {
        catalog: Arc::new(DownCatalog),
    })
    .given_no_previous_events()
    .when_async(place(vec![(kimbap(), 1)]))
    .await
    .then_expect_error(OrderError::CatalogUnavailable(CatalogError(
        "connection refused".into(),
    )));
}

#[tokio::test]
async fn a_total_that_overflows_is_refused() {
    let mut huge = menu(true);
    huge.items.insert(
        kimbap(),
        MenuItem {
            name: "gold".into(),
            price: Won(i64::MAX / 2),
            available: true,
        },
    );
    OrderTester::with(OrderServices {
        catalog: Arc::new(FixedCatalog { menu: huge }),
    })
    .given_no_previous_events()
    .when_async(place(vec![(kimbap(), 3)]))
    .await
    .then_expect_error(OrderError::TotalTooLarge);
}

#[tokio::test]
async fn a_blank_address_or_off_planet_drop_off_is_refused() {
    let mut command = place(vec![(kimbap(), 1)]);
    if let OrderCommand::PlaceOrder { deliver_to, .. } = &mut command {
        deliver_to.address = "  ".into();
    }
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(OrderError::InvalidText(TextError::Empty {
            field: "deliver_to.address",
        }));
    let mut command = place(vec![(kimbap(), 1)]);
    if let OrderCommand::PlaceOrder { deliver_to, .. } = &mut command {
        deliver_to.location.lng = 200.0;
    }
    OrderTester::with(services())
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(OrderError::InvalidLocation(GeoError::LongitudeOutOfRange(
            200.0,
        )));
}

#[tokio::test]
async fn a_payment_that_does_not_match_the_total_is_refused() {
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(OrderCommand::RecordPayment {
            payment_id: payment_id(),
            amount: Won(13_999),
        })
        .await
        .then_expect_error(OrderError::PaymentAmountMismatch {
            expected: Won(14_000),
            paid: Won(13_999),
        });
}

#[tokio::test]
async fn cancel_after_cooking_started_is_refused() {
    OrderTester::with(services())
        .given(vec![placed(), paid(), accepted(), cooking_started()])
        .when_async(OrderCommand::CancelOrder {
            by: Actor::Customer(customer()),
            reason: "too slow".into(),
        })
        .await
        .then_expect_error(OrderError::CookingAlreadyStarted);
}

#[tokio::test]
async fn cancelling_an_unpaid_order_owes_nothing() {
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(OrderCommand::CancelOrder {
            by: Actor::Customer(customer()),
            reason: "changed my mind".into(),
        })
        .await
        .then_expect_events(vec![cancelled_unpaid()]);
}

#[tokio::test]
async fn cancelling_a_paid_or_accepted_order_owes_a_full_refund() {
    for given in [vec![placed(), paid()], vec![placed(), paid(), accepted()]] {
        OrderTester::with(services())
            .given(given)
            .when_async(OrderCommand::CancelOrder {
                by: Actor::Customer(customer()),
                reason: "changed my mind".into(),
            })
            .await
            .then_expect_events(vec![OrderCancelled {
                by: Actor::Customer(customer()),
                reason: "changed my mind".into(),
                payment_id: Some(payment_id()),
                refund_owed: Won(14_000),
            }
            .into()]);
    }
}

#[tokio::test]
async fn a_rejected_order_owes_a_full_refund() {
    OrderTester::with(services())
        .given(vec![placed(), paid()])
        .when_async(OrderCommand::RejectOrder {
            by: Actor::StoreOwner(owner()),
            reason: "재료 소진".into(),
        })
        .await
        .then_expect_events(vec![rejected()]);
}

#[tokio::test]
async fn the_unpaid_deadline_cancels_and_the_no_action_deadline_rejects() {
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(OrderCommand::CancelOrder {
            by: Actor::System,
            reason: "not paid in time".into(),
        })
        .await
        .then_expect_events(vec![OrderCancelled {
            by: Actor::System,
            reason: "not paid in time".into(),
            payment_id: None,
            refund_owed: Won::ZERO,
        }
        .into()]);
    OrderTester::with(services())
        .given(vec![placed(), paid()])
        .when_async(OrderCommand::RejectOrder {
            by: Actor::System,
            reason: "store did not respond".into(),
        })
        .await
        .then_expect_events(vec![OrderRejected {
            by: Actor::System,
            reason: "store did not respond".into(),
            payment_id: payment_id(),
            refund_owed: Won(14_000),
        }
        .into()]);
}

#[tokio::test]
async fn another_customer_cannot_cancel_or_confirm() {
    let stranger = CustomerId::new();
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(OrderCommand::CancelOrder {
            by: Actor::Customer(stranger),
            reason: "mine now".into(),
        })
        .await
        .then_expect_error(OrderError::NotYourOrder);
    OrderTester::with(services())
        .given(history(OrderStatus::InDelivery))
        .when_async(OrderCommand::ConfirmDelivery { by: stranger })
        .await
        .then_expect_error(OrderError::NotYourOrder);
}

#[tokio::test]
async fn a_store_owner_or_rider_cannot_cancel_the_customers_order() {
    for by in [Actor::StoreOwner(owner()), Actor::Rider(rider())] {
        OrderTester::with(services())
            .given(vec![placed(), paid()])
            .when_async(OrderCommand::CancelOrder {
                by,
                reason: "no".into(),
            })
            .await
            .then_expect_error(OrderError::NotYourOrder);
    }
}

#[tokio::test]
async fn only_that_stores_owner_acts_on_the_order() {
    let other_owner = UserId::new();
    let commands = [
        (
            history(OrderStatus::Paid),
            OrderCommand::AcceptOrder { by: other_owner },
        ),
        (
            history(OrderStatus::Paid),
            OrderCommand::RejectOrder {
                by: Actor::StoreOwner(other_owner),
                reason: "no".into(),
            },
        ),
        (
            history(OrderStatus::Paid),
            OrderCommand::RejectOrder {
                by: Actor::Customer(customer()),
                reason: "no".into(),
            },
        ),
        (
            history(OrderStatus::Accepted),
            OrderCommand::StartCooking { by: other_owner },
        ),
        (
            history(OrderStatus::Cooking),
            OrderCommand::FinishCooking { by: other_owner },
        ),
    ];
    for (given, command) in commands {
        OrderTester::with(services())
            .given(given)
            .when_async(command)
            .await
            .then_expect_error(OrderError::NotStoreOwner);
    }
}

#[tokio::test]
async fn a_blank_cancel_reason_is_refused() {
    OrderTester::with(services())
        .given(vec![placed()])
        .when_async(OrderCommand::CancelOrder {
            by: Actor::Customer(customer()),
            reason: " ".into(),
        })
        .await
        .then_expect_error(OrderError::InvalidText(TextError::Empty {
            field: "reason",
        }));
}

#[tokio::test]
async fn confirming_delivery_names_the_customer_and_rider() {
    OrderTester::with(services())
        .given(history(OrderStatus::InDelivery))
        .when_async(OrderCommand::ConfirmDelivery { by: customer() })
        .await
        .then_expect_events(vec![delivered()]);
}

#[tokio::test]
async fn a_late_payment_deadline_never_cancels_a_paid_order() {
    for status in [OrderStatus::Paid, OrderStatus::Accepted] {
        OrderTester::with(services())
            .given(history(status))
            .when_async(OrderCommand::CancelOrder {
                by: Actor::System,
                reason: "not paid in time".into(),
            })
            .await
            .then_expect_error(OrderError::WrongStatus {
                required: OrderStatus::AwaitingPayment,
                actual: status,
            });
    }
}
