//! The store directory: stores and their menus as customers browse them.

use eats_domain::store::{Store, StoreEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::{on_pool, Database};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::row;
use crate::runner::Projection;
use crate::sql::{Arg, Write};

/// The store directory projection.
pub struct StoreDirectoryProjection;

const REGISTERED: &str =
    "INSERT INTO store_directory (store_id, owner_id, name, address, lat, lng, open, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (store_id) DO NOTHING";
const OPEN: &str = "UPDATE store_directory SET open = $2, updated_at = $3 WHERE store_id = $1";
const ITEM: &str = "INSERT INTO menu_items (store_id, item_id, name, price, available) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (store_id, item_id) DO UPDATE SET name = excluded.name, price = excluded.price, \
     available = excluded.available";
const REMOVED: &str = "DELETE FROM menu_items WHERE store_id = $1 AND item_id = $2";

impl Projection for StoreDirectoryProjection {
    const NAME: &'static str = "store_directory";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Store"];
    const TABLES: &'static [&'static str] = &["store_directory", "menu_items"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        let id = || Arg::from(event.aggregate_id.as_str());
        let at = || Arg::from(event.occurred_at());
        Ok(vec![match event.decode::<Store>()? {
            StoreEvent::StoreRegistered(e) => Write::new(
                REGISTERED,
                vec![
                    id(),
                    e.owner.to_string().into(),
                    e.name.into(),
                    e.address.into(),
                    e.location.lat.into(),
                    e.location.lng.into(),
                    at(),
                ],
            ),
            StoreEvent::StoreOpened(_) => Write::new(OPEN, vec![id(), 1i64.into(), at()]),
            StoreEvent::StoreClosed(_) => Write::new(OPEN, vec![id(), 0i64.into(), at()]),
            StoreEvent::MenuItemAdded(e) => Write::new(
                ITEM,
                vec![
                    id(),
                    e.item_id.to_string().into(),
                    e.name.into(),
                    e.price.0.into(),
                    1i64.into(),
                ],
            ),
            StoreEvent::MenuItemChanged(e) => Write::new(
                ITEM,
                vec![
                    id(),
                    e.item_id.to_string().into(),
                    e.name.into(),
                    e.price.0.into(),
                    i64::from(e.available).into(),
                ],
            ),
            StoreEvent::MenuItemRemoved(e) => {
                Write::new(REMOVED, vec![id(), e.item_id.to_string().into()])
            }
        }])
    }
}

/// A store in the directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreEntry {
    /// The store.
    pub store_id: String,
    /// Its owner.
    pub owner_id: String,
    /// Display name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Taking orders.
    pub open: bool,
}

/// One menu item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MenuEntry {
    /// The item.
    pub item_id: String,
    /// Display name.
    pub name: String,
    /// Price in KRW.
    pub price: i64,
    /// Orderable now.
    pub available: bool,
}

row! {
    fn decode_store(row) -> StoreEntry {
        StoreEntry {
            store_id: row.try_get("store_id")?,
            owner_id: row.try_get("owner_id")?,
            name: row.try_get("name")?,
            address: row.try_get("address")?,
            lat: row.try_get("lat")?,
            lng: row.try_get("lng")?,
            open: row.try_get::<i64, _>("open")? != 0,
        }
    }
}

row! {
    fn decode_item(row) -> MenuEntry {
        MenuEntry {
            item_id: row.try_get("item_id")?,
            name: row.try_get("name")?,
            price: row.try_get("price")?,
            available: row.try_get::<i64, _>("available")? != 0,
        }
    }
}

const STORE_COLUMNS: &str = "store_id, owner_id, name, address, lat, lng, open";

/// A position in the store directory: open stores first, then by name, then by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreKey {
    /// 0 for an open store, 1 for a closed one.
    pub closed: i64,
    /// Its name.
    pub name: String,
    /// The store.
    pub store_id: String,
}

/// One page of the directory in [`StoreKey`] order, starting after `after`. `closed` is
/// generated from `open` (migration 0007) so the order has an index.
pub async fn page(
    db: &Database,
    after: Option<&StoreKey>,
    limit: i64,
) -> Result<Page<StoreEntry, StoreKey>, sqlx::Error> {
    let after_clause = match after {
        Some(_) => "WHERE (closed, name, store_id) > ($2, $3, $4)",
        None => "",
    };
    let sql = format!(
        "SELECT {STORE_COLUMNS} FROM store_directory {after_clause} \
         ORDER BY closed, name, store_id LIMIT $1"
    );
    let rows = on_pool!(db, |pool| {
        let mut query = sqlx::query(&sql).bind(limit + 1);
        if let Some(key) = after {
            query = query
                .bind(key.closed)
                .bind(key.name.as_str())
                .bind(key.store_id.as_str());
        }
        query
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode_store)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Page::from_rows(rows, limit, |s| StoreKey {
        closed: i64::from(!s.open),
        name: s.name.clone(),
        store_id: s.store_id.clone(),
    }))
}

/// The stores `owner` owns, by name then id, at most `limit`.
pub async fn owned_by(
    db: &Database,
    owner: &str,
    limit: i64,
) -> Result<Vec<StoreEntry>, sqlx::Error> {
    let sql = format!(
        "SELECT {STORE_COLUMNS} FROM store_directory WHERE owner_id = $1 \
         ORDER BY name, store_id LIMIT $2"
    );
    on_pool!(db, |pool| {
        sqlx::query(&sql)
            .bind(owner)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode_store)
            .collect::<Result<Vec<_>, _>>()
    })
}

/// One store.
pub async fn fetch(db: &Database, store_id: &str) -> Result<Option<StoreEntry>, sqlx::Error> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM store_directory WHERE store_id = $1");
    on_pool!(db, |pool| {
        match sqlx::query(&sql)
            .bind(store_id)
            .fetch_optional(pool)
            .await?
        {
            Some(row) => Ok(Some(decode_store(&row)?)),
            None => Ok(None),
        }
    })
}

/// A store's menu, by name.
pub async fn menu(db: &Database, store_id: &str) -> Result<Vec<MenuEntry>, sqlx::Error> {
    const SQL: &str =
        "SELECT item_id, name, price, available FROM menu_items WHERE store_id = $1 ORDER BY name";
    on_pool!(db, |pool| {
        sqlx::query(SQL)
            .bind(store_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode_item)
            .collect()
    })
}
