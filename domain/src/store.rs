//! The Store aggregate: a store, its owner, its menu and whether it takes orders.
//!
//! Orders are priced from this menu (see [`StoreMenu`]), never from what a client sends.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventUpcaster;
use cqrs_es::Aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::{typed_upcaster, EventSchema, Versioned};
use crate::geo::{GeoError, GeoPoint};
use crate::ids::{MenuItemId, StoreId, UserId};
use crate::money::Won;
use crate::text::{bounded, TextError};

/// Longest store or menu item name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Most items one menu may hold; keeps the aggregate (and its snapshot) small.
pub const MAX_MENU_ITEMS: usize = 300;
/// Highest price of one menu item: ₩10,000,000 catches a typo of extra zeros.
pub const MAX_PRICE: Won = Won(10_000_000);

/// A store as its events have built it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Store {
    registered: Option<Registration>,
    open: bool,
    menu: BTreeMap<MenuItemId, MenuItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Registration {
    id: StoreId,
    owner: UserId,
    name: String,
    location: GeoPoint,
}

/// One item on the menu, as stored in the aggregate and quoted to orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MenuItem {
    /// What the customer sees.
    pub name: String,
    /// Price of one.
    pub price: Won,
    /// Sold out items stay on the menu but cannot be ordered.
    pub available: bool,
}

/// What an order needs to know about a store at the moment it is placed.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreMenu {
    /// Only this user may act on the store's orders.
    pub owner: UserId,
    /// Closed stores take no orders.
    pub open: bool,
    /// Where riders pick orders up.
    pub location: GeoPoint,
    /// The priced menu.
    pub items: BTreeMap<MenuItemId, MenuItem>,
}

impl Store {
    /// The quote orders are priced from, or `None` if the store was never registered.
    pub fn menu(&self) -> Option<StoreMenu> {
        self.registered.as_ref().map(|r| StoreMenu {
            owner: r.owner,
            open: self.open,
            location: r.location,
            items: self.menu.clone(),
        })
    }
}

/// What store owners ask of their store.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreCommand {
    /// Registers a new store, closed and with an empty menu.
    RegisterStore {
        /// The new store's id.
        store_id: StoreId,
        /// The registering user, who becomes its owner.
        owner: UserId,
        /// Display name.
        name: String,
        /// Pickup point.
        location: GeoPoint,
        /// Street address.
        address: String,
    },
    /// Adds an item to the menu.
    AddMenuItem {
        /// Acting user.
        by: UserId,
        /// New item id.
        item_id: MenuItemId,
        /// Display name.
        name: String,
        /// Price of one.
        price: Won,
    },
    /// Changes an item's name, price or availability.
    ChangeMenuItem {
        /// Acting user.
        by: UserId,
        /// The item.
        item_id: MenuItemId,
        /// New name.
        name: String,
        /// New price.
        price: Won,
        /// Whether it can be ordered.
        available: bool,
    },
    /// Takes an item off the menu.
    RemoveMenuItem {
        /// Acting user.
        by: UserId,
        /// The item.
        item_id: MenuItemId,
    },
    /// Starts taking orders.
    OpenStore {
        /// Acting user.
        by: UserId,
    },
    /// Stops taking orders; orders already placed continue.
    CloseStore {
        /// Acting user.
        by: UserId,
    },
}

/// Why a store command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The id is taken.
    #[error("store is already registered")]
    AlreadyRegistered,
    /// Commands other than registration need a registered store.
    #[error("store is not registered")]
    NotRegistered,
    /// Only the store's owner acts on it.
    #[error("only the store's owner may do this")]
    NotStoreOwner,
    /// A name or address is unusable.
    #[error(transparent)]
    InvalidText(#[from] TextError),
    /// The location is not on earth.
    #[error(transparent)]
    InvalidLocation(#[from] GeoError),
    /// Prices are positive and at most [`MAX_PRICE`].
    #[error("price {0} must be between ₩1 and {max}", max = MAX_PRICE)]
    InvalidPrice(Won),
    /// The item id is already on the menu.
    #[error("menu item {0} already exists")]
    MenuItemAlreadyExists(MenuItemId),
    /// The item id is not on the menu.
    #[error("menu item {0} is not on the menu")]
    UnknownMenuItem(MenuItemId),
    /// The menu holds [`MAX_MENU_ITEMS`] items.
    #[error("the menu already has {max} items", max = MAX_MENU_ITEMS)]
    MenuFull,
    /// A change that changes nothing is refused rather than recorded.
    #[error("menu item {0} already has these values")]
    MenuItemUnchanged(MenuItemId),
    /// Opening a store with nothing to order is refused.
    #[error("a store with an empty menu cannot open")]
    EmptyMenu,
    /// Already taking orders.
    #[error("store is already open")]
    AlreadyOpen,
    /// Already not taking orders.
    #[error("store is already closed")]
    AlreadyClosed,
}

/// The store registered (version 2: the location is one `GeoPoint`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreRegistered {
    /// The store.
    pub store_id: StoreId,
    /// Its owner.
    pub owner: UserId,
    /// Display name.
    pub name: String,
    /// Pickup point.
    pub location: GeoPoint,
    /// Street address.
    pub address: String,
}

/// The store registered, as version 1 stored it: coordinates as two loose fields. Still
/// readable; upcast to [`StoreRegistered`] on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreRegisteredV1 {
    /// The store.
    pub store_id: StoreId,
    /// Its owner.
    pub owner: UserId,
    /// Display name.
    pub name: String,
    /// Latitude of the pickup point.
    pub lat: f64,
    /// Longitude of the pickup point.
    pub lng: f64,
    /// Street address.
    pub address: String,
}

impl From<StoreRegisteredV1> for StoreRegistered {
    fn from(v1: StoreRegisteredV1) -> Self {
        Self {
            store_id: v1.store_id,
            owner: v1.owner,
            name: v1.name,
            location: GeoPoint {
                lat: v1.lat,
                lng: v1.lng,
            },
            address: v1.address,
        }
    }
}

/// An item was added to the menu.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuItemAdded {
    /// The item.
    pub item_id: MenuItemId,
    /// Display name.
    pub name: String,
    /// Price of one.
    pub price: Won,
}

/// An item's name, price or availability changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuItemChanged {
    /// The item.
    pub item_id: MenuItemId,
    /// New name.
    pub name: String,
    /// New price.
    pub price: Won,
    /// Whether it can be ordered.
    pub available: bool,
}

/// An item was taken off the menu.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MenuItemRemoved {
    /// The item.
    pub item_id: MenuItemId,
}

/// The store started taking orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreOpened {}

/// The store stopped taking orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreClosed {}

domain_events! {
    /// Everything that happens to a store.
    pub enum StoreEvent {
        StoreRegistered(StoreRegistered) = "2.0.0",
        MenuItemAdded(MenuItemAdded) = "1.0.0",
        MenuItemChanged(MenuItemChanged) = "1.0.0",
        MenuItemRemoved(MenuItemRemoved) = "1.0.0",
        StoreOpened(StoreOpened) = "1.0.0",
        StoreClosed(StoreClosed) = "1.0.0",
    }
}

fn checked_price(price: Won) -> Result<Won, StoreError> {
    if price.is_positive() && price <= MAX_PRICE {
        Ok(price)
    } else {
        Err(StoreError::InvalidPrice(price))
    }
}

impl Store {
    fn owned_by(&self, user: UserId) -> Result<&Registration, StoreError> {
        let registration = self.registered.as_ref().ok_or(StoreError::NotRegistered)?;
        if registration.owner != user {
            return Err(StoreError::NotStoreOwner);
        }
        Ok(registration)
    }
}

impl Aggregate for Store {
    const TYPE: &'static str = "Store";
    type Command = StoreCommand;
    type Event = StoreEvent;
    type Error = StoreError;
    type Services = ();

    async fn handle(
        &mut self,
        command: StoreCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), StoreError> {
        match command {
            StoreCommand::RegisterStore {
                store_id,
                owner,
                name,
                location,
                address,
            } => {
                if self.registered.is_some() {
                    return Err(StoreError::AlreadyRegistered);
                }
                let event = StoreRegistered {
                    store_id,
                    owner,
                    name: bounded("name", &name, MAX_NAME_CHARS)?,
                    location: location.validated()?,
                    address: bounded("address", &address, MAX_ADDRESS_CHARS)?,
                };
                sink.write(event.into(), self).await;
            }
            StoreCommand::AddMenuItem {
                by,
                item_id,
                name,
                price,
            } => {
                self.owned_by(by)?;
                if self.menu.contains_key(&item_id) {
                    return Err(StoreError::MenuItemAlreadyExists(item_id));
                }
                if self.menu.len() >= MAX_MENU_ITEMS {
                    return Err(StoreError::MenuFull);
                }
                let event = MenuItemAdded {
                    item_id,
                    name: bounded("name", &name, MAX_NAME_CHARS)?,
                    price: checked_price(price)?,
                };
                sink.write(event.into(), self).await;
            }
            StoreCommand::ChangeMenuItem {
                by,
                item_id,
                name,
                price,
                available,
            } => {
                self.owned_by(by)?;
                let current = self
                    .menu
                    .get(&item_id)
                    .ok_or(StoreError::UnknownMenuItem(item_id))?;
                let changed = MenuItem {
                    name: bounded("name", &name, MAX_NAME_CHARS)?,
                    price: checked_price(price)?,
                    available,
                };
                if *current == changed {
                    return Err(StoreError::MenuItemUnchanged(item_id));
                }
                let event = MenuItemChanged {
                    item_id,
                    name: changed.name,
                    price: changed.price,
                    available,
                };
                sink.write(event.into(), self).await;
            }
            StoreCommand::RemoveMenuItem { by, item_id } => {
                self.owned_by(by)?;
                if !self.menu.contains_key(&item_id) {
                    return Err(StoreError::UnknownMenuItem(item_id));
                }
                sink.write(MenuItemRemoved { item_id }.into(), self).await;
            }
            StoreCommand::OpenStore { by } => {
                self.owned_by(by)?;
                if self.open {
                    return Err(StoreError::AlreadyOpen);
                }
                if self.menu.is_empty() {
                    return Err(StoreError::EmptyMenu);
                }
                sink.write(StoreOpened {}.into(), self).await;
            }
            StoreCommand::CloseStore { by } => {
                self.owned_by(by)?;
                if !self.open {
                    return Err(StoreError::AlreadyClosed);
                }
                sink.write(StoreClosed {}.into(), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: StoreEvent) {
        match event {
            StoreEvent::StoreRegistered(e) => {
                self.registered = Some(Registration {
                    id: e.store_id,
                    owner: e.owner,
                    name: e.name,
                    location: e.location,
                });
            }
            StoreEvent::MenuItemAdded(e) => {
                self.menu.insert(
                    e.item_id,
                    MenuItem {
                        name: e.name,
                        price: e.price,
                        available: true,
                    },
                );
            }
            StoreEvent::MenuItemChanged(e) => {
                self.menu.insert(
                    e.item_id,
                    MenuItem {
                        name: e.name,
                        price: e.price,
                        available: e.available,
                    },
                );
            }
            StoreEvent::MenuItemRemoved(e) => {
                self.menu.remove(&e.item_id);
            }
            StoreEvent::StoreOpened(_) => self.open = true,
            StoreEvent::StoreClosed(_) => self.open = false,
        }
    }
}

impl Versioned for Store {
    const SNAPSHOTS: bool = true;

    fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
        vec![typed_upcaster::<StoreRegisteredV1, StoreRegistered>(
            "StoreRegistered",
            "2.0.0",
        )]
    }

    fn legacy_schemas() -> Vec<EventSchema> {
        vec![EventSchema::of::<StoreRegisteredV1>(
            "StoreRegistered",
            "1.0.0",
        )]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cqrs_es::persist::SerializedEvent;
    use cqrs_es::test::TestFramework;
    use cqrs_es::DomainEvent;

    type StoreTester = TestFramework<Store>;

    pub(crate) fn owner() -> UserId {
        UserId(uuid::Uuid::from_u128(0x0a))
    }
    pub(crate) fn store_id() -> StoreId {
        StoreId(uuid::Uuid::from_u128(0x5a))
    }
    pub(crate) fn kimbap() -> MenuItemId {
        MenuItemId(uuid::Uuid::from_u128(0x1001))
    }
    pub(crate) fn seoul() -> GeoPoint {
        GeoPoint::new(37.5665, 126.9780).expect("valid")
    }
    pub(crate) fn registered() -> StoreEvent {
        StoreRegistered {
            store_id: store_id(),
            owner: owner(),
            name: "김밥천국 시청점".into(),
            location: seoul(),
            address: "서울 중구 세종대로 110".into(),
        }
        .into()
    }
    pub(crate) fn kimbap_added() -> StoreEvent {
        MenuItemAdded {
            item_id: kimbap(),
            name: "참치김밥".into(),
            price: Won(4_500),
        }
        .into()
    }
    fn opened() -> StoreEvent {
        StoreOpened {}.into()
    }

    fn register(name: &str, lat: f64) -> StoreCommand {
        StoreCommand::RegisterStore {
            store_id: store_id(),
            owner: owner(),
            name: name.into(),
            location: GeoPoint { lat, lng: 126.9780 },
            address: "서울 중구 세종대로 110".into(),
        }
    }

    #[tokio::test]
    async fn registering_a_store_records_it_closed_with_trimmed_name() {
        StoreTester::with(())
            .given_no_previous_events()
            .when_async(register("  김밥천국 시청점 ", 37.5665))
            .await
            .then_expect_events(vec![registered()]);
    }

    #[tokio::test]
    async fn registering_twice_is_refused() {
        StoreTester::with(())
            .given(vec![registered()])
            .when_async(register("other", 37.5))
            .await
            .then_expect_error(StoreError::AlreadyRegistered);
    }

    #[tokio::test]
    async fn registering_with_an_empty_name_or_bad_location_is_refused() {
        StoreTester::with(())
            .given_no_previous_events()
            .when_async(register("   ", 37.5))
            .await
            .then_expect_error(StoreError::InvalidText(TextError::Empty { field: "name" }));
        StoreTester::with(())
            .given_no_previous_events()
            .when_async(register("ok", 91.0))
            .await
            .then_expect_error(StoreError::InvalidLocation(GeoError::LatitudeOutOfRange(
                91.0,
            )));
    }

    #[tokio::test]
    async fn owner_adds_changes_and_removes_menu_items() {
        StoreTester::with(())
            .given(vec![registered()])
            .when_async(StoreCommand::AddMenuItem {
                by: owner(),
                item_id: kimbap(),
                name: "참치김밥".into(),
                price: Won(4_500),
            })
            .await
            .then_expect_events(vec![kimbap_added()]);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::ChangeMenuItem {
                by: owner(),
                item_id: kimbap(),
                name: "참치김밥".into(),
                price: Won(5_000),
                available: false,
            })
            .await
            .then_expect_events(vec![MenuItemChanged {
                item_id: kimbap(),
                name: "참치김밥".into(),
                price: Won(5_000),
                available: false,
            }
            .into()]);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::RemoveMenuItem {
                by: owner(),
                item_id: kimbap(),
            })
            .await
            .then_expect_events(vec![MenuItemRemoved { item_id: kimbap() }.into()]);
    }

    #[tokio::test]
    async fn someone_else_cannot_touch_the_menu() {
        StoreTester::with(())
            .given(vec![registered()])
            .when_async(StoreCommand::AddMenuItem {
                by: UserId::new(),
                item_id: kimbap(),
                name: "참치김밥".into(),
                price: Won(4_500),
            })
            .await
            .then_expect_error(StoreError::NotStoreOwner);
    }

    #[tokio::test]
    async fn menu_commands_on_an_unregistered_store_are_refused() {
        StoreTester::with(())
            .given_no_previous_events()
            .when_async(StoreCommand::OpenStore { by: owner() })
            .await
            .then_expect_error(StoreError::NotRegistered);
    }

    #[tokio::test]
    async fn zero_negative_and_absurd_prices_are_refused() {
        for price in [Won(0), Won(-100), Won(10_000_001)] {
            StoreTester::with(())
                .given(vec![registered()])
                .when_async(StoreCommand::AddMenuItem {
                    by: owner(),
                    item_id: kimbap(),
                    name: "참치김밥".into(),
                    price,
                })
                .await
                .then_expect_error(StoreError::InvalidPrice(price));
        }
    }

    #[tokio::test]
    async fn duplicate_unknown_and_unchanged_items_are_refused() {
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::AddMenuItem {
                by: owner(),
                item_id: kimbap(),
                name: "x".into(),
                price: Won(1),
            })
            .await
            .then_expect_error(StoreError::MenuItemAlreadyExists(kimbap()));
        let ghost = MenuItemId::new();
        StoreTester::with(())
            .given(vec![registered()])
            .when_async(StoreCommand::RemoveMenuItem {
                by: owner(),
                item_id: ghost,
            })
            .await
            .then_expect_error(StoreError::UnknownMenuItem(ghost));
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::ChangeMenuItem {
                by: owner(),
                item_id: kimbap(),
                name: "참치김밥".into(),
                price: Won(4_500),
                available: true,
            })
            .await
            .then_expect_error(StoreError::MenuItemUnchanged(kimbap()));
    }

    #[tokio::test]
    async fn a_store_opens_only_with_a_menu_and_toggles_once() {
        StoreTester::with(())
            .given(vec![registered()])
            .when_async(StoreCommand::OpenStore { by: owner() })
            .await
            .then_expect_error(StoreError::EmptyMenu);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::OpenStore { by: owner() })
            .await
            .then_expect_events(vec![opened()]);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added(), opened()])
            .when_async(StoreCommand::OpenStore { by: owner() })
            .await
            .then_expect_error(StoreError::AlreadyOpen);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added(), opened()])
            .when_async(StoreCommand::CloseStore { by: owner() })
            .await
            .then_expect_events(vec![StoreClosed {}.into()]);
        StoreTester::with(())
            .given(vec![registered(), kimbap_added()])
            .when_async(StoreCommand::CloseStore { by: owner() })
            .await
            .then_expect_error(StoreError::AlreadyClosed);
    }

    #[test]
    fn a_version_1_store_registration_is_read_as_version_2() {
        let v1 = serde_json::json!({"StoreRegistered": {
            "store_id": store_id(), "owner": owner(), "name": "김밥천국 시청점",
            "lat": 37.5665, "lng": 126.9780, "address": "서울 중구 세종대로 110"
        }});
        let stored = SerializedEvent::new(
            store_id().to_string(),
            1,
            Store::TYPE.into(),
            "StoreRegistered".into(),
            "1.0".into(),
            v1,
            serde_json::json!({}),
        );
        let upcaster = &Store::upcasters()[0];
        assert!(upcaster.can_upcast("StoreRegistered", "1.0"));
        assert!(!upcaster.can_upcast("StoreRegistered", "2.0"));
        let upcast = upcaster.upcast(stored);
        assert_eq!(upcast.event_version, "2.0.0");
        let event: StoreEvent = serde_json::from_value(upcast.payload).expect("current shape");
        assert_eq!(event, registered());
        assert_eq!(event.event_version(), "2.0.0");
    }
}
