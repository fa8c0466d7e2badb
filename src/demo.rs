//! The first run's demo: a newcomer who starts `eats serve` with nothing configured finds a
//! few open stores near Seoul City Hall with Korean menus, so the app and the API have
//! something to order from at once. Seeded through the aggregates like any store, so the
//! events, views and audit trail are the real thing.

use std::collections::HashMap;

use anyhow::Context;
use eats_domain::store::StoreCommand;
use eats_domain::{Actor, EventMetadata, GeoPoint, MenuItemId, StoreId, UserId, Won};
use uuid::Uuid;

/// The demo stores' owner, fixed so `eats token --role store_owner --sub <this>` acts as them.
pub const DEMO_OWNER: Uuid = Uuid::from_u128(0x0000_ea75_0000_4000_8000_0000_0000_0001);

struct DemoStore {
    name: &'static str,
    address: &'static str,
    location: (f64, f64),
    menu: &'static [(&'static str, i64)],
}

const STORES: &[DemoStore] = &[
    DemoStore {
        name: "김밥천국 시청점",
        address: "서울 중구 세종대로 110",
        location: (37.5665, 126.978),
        menu: &[("참치김밥", 4_500), ("라볶이", 6_000), ("돈까스", 8_500)],
    },
    DemoStore {
        name: "을지로 순대국",
        address: "서울 중구 을지로 12",
        location: (37.566, 126.9815),
        menu: &[("순대국밥", 9_000), ("머릿고기", 15_000)],
    },
    DemoStore {
        name: "덕수궁 떡볶이",
        address: "서울 중구 정동길 5",
        location: (37.5658, 126.9752),
        menu: &[("떡볶이", 5_000), ("튀김 모둠", 4_000), ("어묵", 3_000)],
    },
];

/// Registers, stocks and opens the demo stores; returns how many.
pub async fn seed(aggregates: &eats_store::Aggregates) -> anyhow::Result<usize> {
    let owner = UserId(DEMO_OWNER);
    for store in STORES {
        let id = StoreId::new();
        let mut commands = vec![StoreCommand::RegisterStore {
            store_id: id,
            owner,
            name: store.name.into(),
            location: GeoPoint {
                lat: store.location.0,
                lng: store.location.1,
            },
            address: store.address.into(),
        }];
        commands.extend(
            store
                .menu
                .iter()
                .map(|(name, price)| StoreCommand::AddMenuItem {
                    by: owner,
                    item_id: MenuItemId::new(),
                    name: (*name).into(),
                    price: Won(*price),
                }),
        );
        commands.push(StoreCommand::OpenStore { by: owner });
        for command in commands {
            let metadata: HashMap<String, String> =
                EventMetadata::for_command(id.0, Actor::StoreOwner(owner), chrono::Utc::now())
                    .to_map();
            aggregates
                .stores
                .execute_with_metadata(&id.to_string(), command, metadata)
                .await
                .with_context(|| format!("seeding the demo store {}", store.name))?;
        }
    }
    Ok(STORES.len())
}
