//! What riders do: report where they are, find jobs nearby, claim and pick up.

use chrono::Utc;
use eats_domain::delivery::{DeliveryCommand, MAX_RADIUS_M};
use eats_domain::{Actor, GeoPoint, RiderId};
use eats_projections::delivery_board;
use eats_projections::live::Topic;
use eats_store::on_pool;
use futures::stream::BoxStream;
use poem::web::sse::Event;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::OpenApi;
use uuid::Uuid;

use crate::auth::{Role, User};
use crate::customers::Done;
use crate::live;
use crate::problem::{invalid, ApiError};
use crate::state::ApiState;
use crate::types::*;
use crate::ApiTags;

/// Most jobs one snapshot of the jobs stream carries.
const SNAPSHOT_LIMIT: i64 = 200;

fn open_job(j: delivery_board::OpenJob) -> OpenJob {
    OpenJob {
        delivery_id: j.delivery_id,
        order_id: j.order_id,
        store_id: j.store_id,
        pickup: Location {
            lat: j.pickup.lat,
            lng: j.pickup.lng,
        },
        dropoff: Location {
            lat: j.dropoff.lat,
            lng: j.dropoff.lng,
        },
        distance_m: j.distance_m,
    }
}

/// A reported location older than this cannot be claimed from.
const LOCATION_MAX_AGE_SECS: i64 = 300;

/// Rider endpoints.
pub struct RiderApi;

fn checked(lat: f64, lng: f64) -> Result<GeoPoint, ApiError> {
    GeoPoint::new(lat, lng).map_err(|e| {
        let field = if (-90.0..=90.0).contains(&lat) {
            "lng"
        } else {
            "lat"
        };
        invalid(field, e.to_string())
    })
}

impl RiderApi {
    async fn location(state: &ApiState, rider: Uuid) -> Result<GeoPoint, ApiError> {
        let row: Option<(f64, f64, chrono::DateTime<Utc>)> = on_pool!(state.db, |pool| {
            sqlx::query_as("SELECT lat, lng, updated_at FROM rider_locations WHERE rider_id = $1")
                .bind(rider.to_string())
                .fetch_optional(pool)
                .await
        })?;
        let fresh = Utc::now() - chrono::Duration::seconds(LOCATION_MAX_AGE_SECS);
        row.filter(|(_, _, at)| *at >= fresh)
            .map(|(lat, lng, _)| GeoPoint { lat, lng })
            .ok_or_else(|| {
                invalid(
                    "location",
                    "report your current location (PUT /riders/me/location) before claiming",
                )
            })
    }

    async fn delivery_command(
        state: &ApiState,
        request: &Request,
        rider: Uuid,
        delivery: Uuid,
        command: DeliveryCommand,
        status: &str,
    ) -> Result<Done, ApiError> {
        let order = state
            .db
            .first_event("Delivery", &delivery.to_string())
            .await
            .map_err(|e| ApiError::from(sqlx::Error::Protocol(e.to_string())))?
            .and_then(|e| {
                e.payload
                    .get("DeliveryRequested")?
                    .get("order_id")?
                    .as_str()?
                    .parse::<Uuid>()
                    .ok()
            })
            .unwrap_or(delivery);
        state
            .aggregates
            .deliveries
            .execute_with_metadata(
                &delivery.to_string(),
                command,
                ApiState::metadata(request, order, Actor::Rider(RiderId(rider))),
            )
            .await?;
        Ok(Done::Ok(Json(Accepted {
            id: delivery.to_string(),
            status: status.into(),
        })))
    }
}

#[OpenApi(tag = "ApiTags::Rider")]
impl RiderApi {
    /// Report where you are; claims are checked against it.
    #[oai(
        path = "/riders/me/location",
        method = "put",
        operation_id = "reportLocation"
    )]
    async fn report(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        body: Json<RiderLocation>,
    ) -> Result<Done, ApiError> {
        let rider = user.require(Role::Rider)?;
        let at = checked(body.0.lat, body.0.lng)?;
        on_pool!(state.db, |pool| {
            sqlx::query(
                "INSERT INTO rider_locations (rider_id, lat, lng, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (rider_id) DO UPDATE SET lat = excluded.lat, lng = excluded.lng, updated_at = excluded.updated_at",
            )
            .bind(rider.to_string())
            .bind(at.lat)
            .bind(at.lng)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(drop)
        })?;
        // The customer whose order this rider carries follows them (in any API process).
        eats_projections::live::announce_now(
            &state.db,
            &state.live.hub,
            &[Topic::rider(&rider.to_string())],
        )
        .await?;
        Ok(Done::Ok(Json(Accepted {
            id: rider.to_string(),
            status: "located".into(),
        })))
    }

    /// Open delivery jobs near a point whose search radius reaches it: nearest first, then
    /// by delivery id. Page with `limit` and the `next` cursor of the previous page, asked
    /// from the same point and radius (from elsewhere the order differs: start again).
    #[oai(
        path = "/deliveries/available",
        method = "get",
        operation_id = "listAvailableDeliveries"
    )]
    #[allow(clippy::too_many_arguments)] // poem-openapi takes each query parameter as one.
    async fn available(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        /// Your latitude.
        #[oai(validator(minimum(value = "-90"), maximum(value = "90")))]
        lat: Query<f64>,
        /// Your longitude.
        #[oai(validator(minimum(value = "-180"), maximum(value = "180")))]
        lng: Query<f64>,
        /// How far to look, 1 to 20,000 metres (default 3,000).
        #[oai(validator(minimum(value = "1"), maximum(value = "20000")))]
        radius_m: Query<Option<u32>>,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<OpenJobPage>, ApiError> {
        user.require(Role::Rider)?;
        let at = checked(lat.0, lng.0)?;
        let radius = radius_m.0.unwrap_or(3_000);
        if !(1..=MAX_RADIUS_M).contains(&radius) {
            return Err(invalid(
                "radius_m",
                format!("radius_m must be between 1 and {MAX_RADIUS_M}"),
            ));
        }
        let limit = crate::paging::limit(limit.0, 50, 200)?;
        let scope = format!("deliveries:{}:{}:{radius}", lat.0, lng.0);
        let after = crate::paging::after(&scope, cursor.0.as_deref())?;
        let page = delivery_board::page_near(&state.db, at, radius, after.as_ref(), limit).await?;
        Ok(Json(OpenJobPage {
            next: crate::paging::next(&scope, page.next.as_ref())?,
            items: page.items.into_iter().map(open_job).collect(),
        }))
    }

    /// Server-sent events: the open jobs near a point (as `GET /deliveries/available` lists
    /// them, nearest first), the whole list at once and again after each change, pushed as
    /// the delivery board takes in a job opening, widening or being taken (never polled).
    /// When you move, open a new stream from the new point. Each event's id is the
    /// snapshot's `version`: resume with it as `Last-Event-ID` and the stream sends the list
    /// only once it differs. A comment line is sent as a heartbeat while nothing changes; the
    /// per-user stream cap applies (429).
    #[oai(
        path = "/deliveries/available/stream",
        method = "get",
        operation_id = "streamAvailableDeliveries"
    )]
    async fn available_stream(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        /// Your latitude.
        #[oai(validator(minimum(value = "-90"), maximum(value = "90")))]
        lat: Query<f64>,
        /// Your longitude.
        #[oai(validator(minimum(value = "-180"), maximum(value = "180")))]
        lng: Query<f64>,
        /// How far to look, 1 to 20,000 metres (default 3,000).
        #[oai(validator(minimum(value = "1"), maximum(value = "20000")))]
        radius_m: Query<Option<u32>>,
        #[oai(name = "Last-Event-ID", validator(max_length = 64))] last_event_id: Header<
            Option<String>,
        >,
    ) -> Result<EventStream<BoxStream<'static, crate::live::Sent<JobsSnapshot>>>, ApiError> {
        let rider = user.require(Role::Rider)?;
        let at = checked(lat.0, lng.0)?;
        let radius = radius_m.0.unwrap_or(3_000);
        if !(1..=MAX_RADIUS_M).contains(&radius) {
            return Err(invalid(
                "radius_m",
                format!("radius_m must be between 1 and {MAX_RADIUS_M}"),
            ));
        }
        let slot = state.live.open(rider)?;
        // Follow before the first read, so a change committed in between still wakes us.
        // The cells its query reads: a job elsewhere does not wake this stream.
        let cells = delivery_board::covering_cells(at, radius);
        let follow = (state.live.hub).follow_all(cells.into_iter().map(Topic::jobs_in).collect());
        let db = state.db.clone();
        let snapshots = live::snapshots(&state.live, follow, slot, last_event_id.0, move || {
            let db = db.clone();
            async move {
                let page = delivery_board::page_near(&db, at, radius, None, SNAPSHOT_LIMIT).await?;
                let version = live::version_of(&serde_json::json!(page.items));
                let items = page.items.into_iter().map(open_job).collect();
                Ok(Some((version.clone(), JobsSnapshot { version, items })))
            }
        });
        Ok(EventStream::new(snapshots)
            .keep_alive(state.live.heartbeat)
            .to_event(|sent| {
                sent.into_event(|snapshot| {
                    let id = snapshot.version.clone();
                    Event::message(snapshot.to_json_string())
                        .id(id)
                        .event_type("jobs")
                })
            }))
    }

    /// Claim a job from where you last reported; the first claim wins.
    #[oai(
        path = "/deliveries/:delivery_id/claim",
        method = "post",
        operation_id = "claimDelivery"
    )]
    async fn claim(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        delivery_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let rider = user.require(Role::Rider)?;
        let at = Self::location(&state, rider).await?;
        Self::delivery_command(
            &state,
            request,
            rider,
            delivery_id.0,
            DeliveryCommand::ClaimDelivery {
                rider: RiderId(rider),
                rider_at: at,
            },
            "assigned",
        )
        .await
    }

    /// You have the food (only the assigned rider).
    #[oai(
        path = "/deliveries/:delivery_id/pickup",
        method = "post",
        operation_id = "pickUpDelivery"
    )]
    async fn pickup(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        request: &Request,
        delivery_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let rider = user.require(Role::Rider)?;
        Self::delivery_command(
            &state,
            request,
            rider,
            delivery_id.0,
            DeliveryCommand::PickUpDelivery {
                rider: RiderId(rider),
            },
            "picked_up",
        )
        .await
    }
}
