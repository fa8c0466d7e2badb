//! Customer profiles: contact for notifications and the loyalty grade.

use chrono::{DateTime, Utc};
use eats_domain::customer::{Customer, CustomerEvent};
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use serde::Serialize;

use crate::row;
use crate::runner::Projection;
use crate::sql::{Arg, Write};
use eats_store::on_pool;

/// The customer profile projection.
pub struct CustomerProfileProjection;

const REGISTERED: &str =
    "INSERT INTO customer_profile (customer_id, name, phone, address, lat, lng, \
     completed_orders, grade, registered_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 0, 'basic', $7, $7) ON CONFLICT (customer_id) DO NOTHING";
const COMPLETED: &str =
    "UPDATE customer_profile SET completed_orders = $2, updated_at = $3 WHERE customer_id = $1";
const GRADE: &str =
    "UPDATE customer_profile SET grade = $2, updated_at = $3 WHERE customer_id = $1";

impl Projection for CustomerProfileProjection {
    const NAME: &'static str = "customer_profile";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Customer"];
    const TABLES: &'static [&'static str] = &["customer_profile"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        let id = || Arg::from(event.aggregate_id.as_str());
        let at = || Arg::from(event.occurred_at());
        Ok(vec![match event.decode::<Customer>()? {
            CustomerEvent::CustomerRegistered(e) => Write::new(
                REGISTERED,
                vec![
                    id(),
                    e.name.into(),
                    e.phone.as_str().into(),
                    e.address.into(),
                    e.location.lat.into(),
                    e.location.lng.into(),
                    at(),
                ],
            ),
            CustomerEvent::CompletedOrderRecorded(e) => {
                Write::new(COMPLETED, vec![id(), e.completed_orders.into(), at()])
            }
            CustomerEvent::GradeUpgraded(e) => {
                Write::new(GRADE, vec![id(), e.to.to_string().into(), at()])
            }
        }])
    }
}

/// A customer as they see themselves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerProfile {
    /// The customer.
    pub customer_id: String,
    /// Display name.
    pub name: String,
    /// E.164 mobile number.
    pub phone: String,
    /// Default delivery address.
    pub address: String,
    /// Its latitude.
    pub lat: f64,
    /// Its longitude.
    pub lng: f64,
    /// Delivered orders.
    pub completed_orders: i64,
    /// `basic`, `silver`, `gold` or `vip`.
    pub grade: String,
    /// Registration time.
    pub registered_at: Option<DateTime<Utc>>,
}

row! {
    fn decode(row) -> CustomerProfile {
        CustomerProfile {
            customer_id: row.try_get("customer_id")?,
            name: row.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
            phone: row.try_get::<Option<String>, _>("phone")?.unwrap_or_default(),
            address: row.try_get::<Option<String>, _>("address")?.unwrap_or_default(),
            lat: row.try_get::<Option<f64>, _>("lat")?.unwrap_or_default(),
            lng: row.try_get::<Option<f64>, _>("lng")?.unwrap_or_default(),
            completed_orders: row.try_get("completed_orders")?,
            grade: row.try_get("grade")?,
            registered_at: row.try_get("registered_at")?,
        }
    }
}

/// One customer's profile.
pub async fn fetch(
    db: &Database,
    customer_id: &str,
) -> Result<Option<CustomerProfile>, sqlx::Error> {
    const SQL: &str =
        "SELECT customer_id, name, phone, address, lat, lng, completed_orders, grade, \
         registered_at FROM customer_profile WHERE customer_id = $1";
    on_pool!(db, |pool| {
        match sqlx::query(SQL)
            .bind(customer_id)
            .fetch_optional(pool)
            .await?
        {
            Some(row) => Ok(Some(decode(&row)?)),
            None => Ok(None),
        }
    })
}
