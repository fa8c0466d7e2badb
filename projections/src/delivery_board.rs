//! The riders' job board: open delivery jobs, found by distance without a full scan.
//!
//! Each job is indexed by the H3 cell (resolution 7, cells about 1.4 km across) of its pickup
//! point. "Jobs within R metres of (lat, lng)" reads only the cells of a grid disk that is
//! sure to cover the circle, then keeps the jobs whose exact (haversine) distance is within
//! both R and the job's own search radius.

use chrono::{DateTime, Utc};
use eats_domain::delivery::{Delivery, DeliveryEvent, MAX_RADIUS_M};
use eats_domain::GeoPoint;
use eats_feed::{DecodeError, FeedEvent};
use eats_store::Database;
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::page::Page;
use crate::row;
use crate::runner::Projection;
use crate::sql::{Arg, Write};
use eats_store::on_pool;

/// The open jobs a delivery event changed, as the topic of the cell the job is picked up in
/// ([`crate::live::Topic::jobs_in`]). A request names its pickup point; a claim, a cancel or
/// a wider radius is looked up in the board the event was just applied to. Pick-ups and
/// completions come after the claim took the job off the open list, so they change nothing a
/// rider looking for jobs sees.
pub struct BoardTopics(pub Database);

#[async_trait::async_trait]
impl crate::live::Topics for BoardTopics {
    async fn topic(&self, event: &FeedEvent) -> Result<Option<crate::live::Topic>, sqlx::Error> {
        Ok(self.topics(std::slice::from_ref(event)).await?.pop())
    }

    async fn topics(&self, events: &[FeedEvent]) -> Result<Vec<crate::live::Topic>, sqlx::Error> {
        let mut topics = Vec::new();
        let mut looked_up = Vec::new();
        for event in events {
            match event.event_type.as_str() {
                "DeliveryRequested" => match event.decode::<Delivery>() {
                    Ok(DeliveryEvent::DeliveryRequested(e)) => {
                        topics.extend(cell_of(e.pickup).map(crate::live::Topic::jobs_in));
                    }
                    Ok(_) => {}
                    Err(error) => return Err(sqlx::Error::Decode(Box::new(error))),
                },
                "DeliveryPickedUp" | "DeliveryCompleted" => {}
                _ => looked_up.push(event.aggregate_id.as_str()),
            }
        }
        let cells = crate::live::look_up(
            &self.0,
            "delivery_board",
            "delivery_id",
            "pickup_cell",
            &looked_up,
        )
        .await?;
        for cell in cells {
            let cell: i64 = cell.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            topics.push(crate::live::Topic::jobs_in(cell));
        }
        let mut unique = Vec::with_capacity(topics.len());
        for topic in topics {
            if !unique.contains(&topic) {
                unique.push(topic);
            }
        }
        Ok(unique)
    }
}

/// The index resolution.
pub const RESOLUTION: Resolution = Resolution::Seven;

/// The delivery board projection.
pub struct DeliveryBoardProjection;

const REQUESTED: &str = "INSERT INTO delivery_board (delivery_id, order_id, store_id, status, \
     pickup_lat, pickup_lng, pickup_cell, dropoff_lat, dropoff_lng, radius_m, requested_at, updated_at) \
     VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $10) \
     ON CONFLICT (delivery_id) DO NOTHING";
const ASSIGNED: &str =
    "UPDATE delivery_board SET status = 'assigned', rider_id = $2, updated_at = $3 \
     WHERE delivery_id = $1";
const STATUS: &str =
    "UPDATE delivery_board SET status = $2, updated_at = $3 WHERE delivery_id = $1";
const WIDENED: &str =
    "UPDATE delivery_board SET radius_m = $2, updated_at = $3 WHERE delivery_id = $1";

/// The cell a point falls in, as stored (H3 indexes fit in 63 bits, so the cast is lossless).
pub fn cell_of(point: GeoPoint) -> Option<i64> {
    let cell = LatLng::new(point.lat, point.lng).ok()?.to_cell(RESOLUTION);
    i64::try_from(u64::from(cell)).ok()
}

/// The cells whose points may lie within `radius_m` of `center`: a grid disk sized with
/// margins for H3's uneven cell sizes (the smallest resolution-7 cells are about 0.7 of
/// the average edge, the largest about 1.4).
pub fn covering_cells(center: GeoPoint, radius_m: u32) -> Vec<i64> {
    let Ok(center) = LatLng::new(center.lat, center.lng) else {
        return Vec::new();
    };
    let edge = RESOLUTION.edge_length_m();
    let (edge_min, edge_max) = (0.7 * edge, 1.4 * edge);
    let reach = f64::from(radius_m) + 2.0 * edge_max;
    let k = (reach / (3f64.sqrt() * edge_min)).ceil() as u32;
    center
        .to_cell(RESOLUTION)
        .grid_disk::<Vec<CellIndex>>(k)
        .into_iter()
        .filter_map(|c| i64::try_from(u64::from(c)).ok())
        .collect()
}

impl Projection for DeliveryBoardProjection {
    const NAME: &'static str = "delivery_board";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Delivery"];
    const TABLES: &'static [&'static str] = &["delivery_board"];

    fn writes(&self, event: &FeedEvent) -> Result<Vec<Write>, DecodeError> {
        let id = || Arg::from(event.aggregate_id.as_str());
        let at = || Arg::from(event.occurred_at());
        let status = |s: &str| Write::new(STATUS, vec![id(), s.into(), at()]);
        Ok(vec![match event.decode::<Delivery>()? {
            DeliveryEvent::DeliveryRequested(e) => Write::new(
                REQUESTED,
                vec![
                    id(),
                    e.order_id.to_string().into(),
                    e.store_id.to_string().into(),
                    e.pickup.lat.into(),
                    e.pickup.lng.into(),
                    Arg::Int(cell_of(e.pickup)),
                    e.dropoff.lat.into(),
                    e.dropoff.lng.into(),
                    e.radius_m.into(),
                    at(),
                ],
            ),
            DeliveryEvent::RiderAssigned(e) => {
                Write::new(ASSIGNED, vec![id(), e.rider_id.to_string().into(), at()])
            }
            DeliveryEvent::DeliveryPickedUp(_) => status("picked_up"),
            DeliveryEvent::DeliveryCompleted(_) => status("completed"),
            DeliveryEvent::DeliveryCancelled(_) => status("cancelled"),
            DeliveryEvent::SearchRadiusWidened(e) => {
                Write::new(WIDENED, vec![id(), e.radius_m.into(), at()])
            }
        }])
    }
}

/// An open job as a rider sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenJob {
    /// The delivery job (claim it with this id).
    pub delivery_id: String,
    /// The order.
    pub order_id: String,
    /// The store.
    pub store_id: String,
    /// Pickup point.
    pub pickup: GeoPoint,
    /// Drop-off point.
    pub dropoff: GeoPoint,
    /// The job's search radius around the pickup.
    pub radius_m: i64,
    /// The rider's distance to the pickup.
    pub distance_m: u32,
    /// When the job opened.
    pub requested_at: Option<DateTime<Utc>>,
}

row! {
    fn decode(row) -> (String, String, String, f64, f64, f64, f64, i64, Option<DateTime<Utc>>) {
        (
            row.try_get("delivery_id")?,
            row.try_get::<Option<String>, _>("order_id")?.unwrap_or_default(),
            row.try_get::<Option<String>, _>("store_id")?.unwrap_or_default(),
            row.try_get::<Option<f64>, _>("pickup_lat")?.unwrap_or_default(),
            row.try_get::<Option<f64>, _>("pickup_lng")?.unwrap_or_default(),
            row.try_get::<Option<f64>, _>("dropoff_lat")?.unwrap_or_default(),
            row.try_get::<Option<f64>, _>("dropoff_lng")?.unwrap_or_default(),
            row.try_get::<Option<i64>, _>("radius_m")?.unwrap_or_default(),
            row.try_get("requested_at")?,
        )
    }
}

/// A position in a rider's job list: nearest first, then by delivery id. Distances depend on
/// where the rider stands, so a key only makes sense for the point it was read from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobKey {
    /// Distance to the pickup, whole metres rounded up.
    pub distance_m: u32,
    /// The job.
    pub delivery_id: String,
}

impl JobKey {
    fn of(job: &OpenJob) -> Self {
        Self {
            distance_m: job.distance_m,
            delivery_id: job.delivery_id.clone(),
        }
    }
}

/// One page of the open jobs within `radius_m` of `rider` whose own search radius reaches
/// the rider, in [`JobKey`] order, starting after `after`.
///
/// The read is bounded by the covering cells (the disk around the rider) and the box around
/// the rider that holds every job within reach (see [`near_query`]), not by the page: the
/// exact distance is computed here, not in SQL, so both backends share one query.
pub async fn page_near(
    db: &Database,
    rider: GeoPoint,
    radius_m: u32,
    after: Option<&JobKey>,
    limit: i64,
) -> Result<Page<OpenJob, JobKey>, sqlx::Error> {
    let radius_m = radius_m.min(MAX_RADIUS_M);
    let Some((sql, args)) = near_query(rider, radius_m) else {
        return Ok(Page {
            items: Vec::new(),
            next: None,
        });
    };
    let rows = on_pool!(db, |pool| {
        crate::bind_args!(sqlx::query(&sql), &args)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut jobs: Vec<OpenJob> = rows
        .into_iter()
        .filter_map(
            |(
                delivery_id,
                order_id,
                store_id,
                plat,
                plng,
                dlat,
                dlng,
                job_radius,
                requested_at,
            )| {
                let pickup = GeoPoint {
                    lat: plat,
                    lng: plng,
                };
                let distance = rider.distance_m(&pickup);
                let reach = f64::from(radius_m).min(job_radius as f64);
                (distance <= reach).then(|| OpenJob {
                    delivery_id,
                    order_id,
                    store_id,
                    pickup,
                    dropoff: GeoPoint {
                        lat: dlat,
                        lng: dlng,
                    },
                    radius_m: job_radius,
                    distance_m: distance.ceil() as u32,
                    requested_at,
                })
            },
        )
        .collect();
    jobs.retain(|j| after.is_none_or(|key| JobKey::of(j) > *key));
    jobs.sort_by_key(JobKey::of);
    jobs.truncate(usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX));
    Ok(Page::from_rows(jobs, limit, JobKey::of))
}

/// The statement [`page_near`] runs to find the candidate jobs within `radius_m` (at most
/// [`MAX_RADIUS_M`]) of `rider`, and its arguments, so that tools can show its plan; `None`
/// when the point has no cells (nothing is near it).
///
/// Besides the covering cells, it keeps only jobs inside the box around the rider that holds
/// every point within reach (`min(radius_m, the job's radius)`): a superset of what
/// [`page_near`] keeps, which the partial index on open jobs (cell, latitude, longitude, of
/// migration 0015) reads without visiting the rest of each cell.
pub fn near_query(rider: GeoPoint, radius_m: u32) -> Option<(String, Vec<Arg>)> {
    let radius_m = radius_m.min(MAX_RADIUS_M);
    let cells = covering_cells(rider, radius_m);
    if cells.is_empty() {
        return None;
    }
    let n = cells.len();
    let placeholders: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let p = |i: usize| format!("${}", n + i);
    let sql = format!(
        "SELECT delivery_id, order_id, store_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, \
         radius_m, requested_at FROM delivery_board WHERE status = 'open' AND pickup_cell IN ({}) \
         AND pickup_lat BETWEEN {} AND {} AND pickup_lng BETWEEN {} AND {} \
         AND (radius_m >= {} OR (abs(pickup_lat - {}) <= radius_m * {} \
         AND abs(pickup_lng - {}) <= radius_m * {}))",
        placeholders.join(", "),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
    );
    let reach = f64::from(radius_m.max(1));
    let (lat_per_m, lng_per_m) = degrees_per_m(rider, reach);
    let (lng_min, lng_max) = match lng_per_m {
        Some(per_m) => (rider.lng - per_m * reach, rider.lng + per_m * reach),
        None => (-180.0, 180.0),
    };
    let mut args: Vec<Arg> = cells.iter().map(|c| Arg::from(*c)).collect();
    args.extend([
        Arg::from(rider.lat - lat_per_m * reach),
        Arg::from(rider.lat + lat_per_m * reach),
        Arg::from(lng_min),
        Arg::from(lng_max),
        Arg::from(radius_m),
        Arg::from(rider.lat),
        Arg::from(lat_per_m),
        Arg::from(rider.lng),
        // No bound: every job radius (at least 1 m) times this exceeds any difference.
        Arg::from(lng_per_m.unwrap_or(360.0)),
    ]);
    Some((sql, args))
}

/// Degrees of latitude and of longitude per metre such that every point within `d <= reach_m`
/// metres of `center` (the haversine distance of [`GeoPoint::distance_m`]) differs from it by
/// at most `d` times them, with a 1% margin; no longitude bound (`None`) when the circle of
/// `reach_m` reaches a pole or crosses the antimeridian.
///
/// On a sphere of radius `r`, a point at angular distance `δ = d / r` differs by at most `δ`
/// in latitude and by at most `asin(sin δ / cos φ)` in longitude at latitude `φ`; the latter
/// grows faster than `d`, so its rate at `reach_m` bounds every shorter distance.
fn degrees_per_m(center: GeoPoint, reach_m: f64) -> (f64, Option<f64>) {
    const MARGIN: f64 = 1.01;
    // One degree of latitude in the distance's own metres, so the radius is the one it uses.
    let metres_per_degree =
        GeoPoint { lat: 0.0, lng: 0.0 }.distance_m(&GeoPoint { lat: 1.0, lng: 0.0 });
    let lat_per_m = MARGIN / metres_per_degree;
    let delta = (reach_m / metres_per_degree).to_radians();
    let cos_lat = center.lat.to_radians().cos();
    if center.lat.abs() + MARGIN * delta.to_degrees() >= 90.0 || delta.sin() >= cos_lat {
        return (lat_per_m, None);
    }
    let lng_span = (delta.sin() / cos_lat).asin().to_degrees() * MARGIN;
    if center.lng - lng_span <= -180.0 || center.lng + lng_span >= 180.0 {
        return (lat_per_m, None);
    }
    (lat_per_m, Some(lng_span / reach_m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of points within `radius` of `center`.
    fn points_around(center: GeoPoint, radius_m: f64) -> impl Iterator<Item = GeoPoint> {
        (0..36).flat_map(move |bearing| {
            [0.25, 0.5, 0.75, 0.999].into_iter().map(move |f| {
                let theta = f64::from(bearing) * 10f64.to_radians();
                let d = radius_m * f;
                let dlat = d * theta.cos() / 111_320.0;
                let dlng = d * theta.sin() / (111_320.0 * center.lat.to_radians().cos());
                GeoPoint {
                    lat: center.lat + dlat,
                    lng: center.lng + dlng,
                }
            })
        })
    }

    #[test]
    fn the_covering_disk_contains_every_point_within_the_radius() {
        for center in [
            GeoPoint::new(37.5665, 126.978).expect("valid"),
            GeoPoint::new(35.1796, 129.0756).expect("valid"),
            GeoPoint::new(-33.8688, 151.2093).expect("valid"),
        ] {
            for radius in [300, 2_000, 7_500, MAX_RADIUS_M] {
                let cells = covering_cells(center, radius);
                for p in points_around(center, f64::from(radius)) {
                    if p.distance_m(&center) <= f64::from(radius) {
                        let cell = cell_of(p).expect("cell");
                        assert!(
                            cells.contains(&cell),
                            "{p:?} within {radius} m of {center:?}"
                        );
                    }
                }
            }
        }
    }

    /// Points on the circle of `radius_m` around `center` (every half degree of bearing, on
    /// the sphere the distance uses), and just inside it.
    fn circle(center: GeoPoint, radius_m: f64) -> impl Iterator<Item = GeoPoint> {
        let metres_per_degree =
            GeoPoint { lat: 0.0, lng: 0.0 }.distance_m(&GeoPoint { lat: 1.0, lng: 0.0 });
        let (lat1, lng1) = (center.lat.to_radians(), center.lng.to_radians());
        (0..720).flat_map(move |half_degrees| {
            [1.0, 0.999_999, 0.9].into_iter().map(move |f| {
                let bearing = f64::from(half_degrees).to_radians() / 2.0;
                let delta = (radius_m * f / metres_per_degree).to_radians();
                let lat2 =
                    (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * bearing.cos()).asin();
                let lng2 = lng1
                    + (bearing.sin() * delta.sin() * lat1.cos())
                        .atan2(delta.cos() - lat1.sin() * lat2.sin());
                GeoPoint {
                    lat: lat2.to_degrees(),
                    lng: lng2.to_degrees(),
                }
            })
        })
    }

    #[test]
    fn the_box_holds_every_point_within_reach() {
        for center in [
            GeoPoint::new(37.5665, 126.978).expect("valid"),
            GeoPoint::new(0.0, 0.0).expect("valid"),
            GeoPoint::new(-33.8688, 151.2093).expect("valid"),
            GeoPoint::new(78.2232, 15.6267).expect("valid"),
            GeoPoint::new(89.95, 0.0).expect("valid"),
            GeoPoint::new(-16.5, 179.99).expect("valid"),
            GeoPoint::new(64.8, -179.95).expect("valid"),
        ] {
            for radius in [1, 300, 2_000, 7_500, MAX_RADIUS_M] {
                let (lat_per_m, lng_per_m) = degrees_per_m(center, f64::from(radius));
                // Each job radius up to the rider's is checked against the rate at the
                // rider's radius: points within a smaller reach must fit too.
                for reach in [f64::from(radius), f64::from(radius) / 2.0, 1.0] {
                    for p in circle(center, reach) {
                        let d = p.distance_m(&center);
                        if d > reach || p.lat.abs() > 90.0 {
                            continue;
                        }
                        assert!(
                            (p.lat - center.lat).abs() <= lat_per_m * reach,
                            "{p:?} {reach}"
                        );
                        if let Some(per_m) = lng_per_m {
                            assert!(
                                (p.lng - center.lng).abs() <= per_m * reach,
                                "{p:?} within {reach} m of {center:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_box_is_tight_enough_to_matter() {
        let seoul = GeoPoint::new(37.5665, 126.978).expect("valid");
        let (lat_per_m, lng_per_m) = degrees_per_m(seoul, 5_000.0);
        let lng_per_m = lng_per_m.expect("a longitude bound in Seoul");
        // A 5 km circle spans about 0.045 degrees of latitude and 0.057 of longitude each way.
        assert!((lat_per_m * 5_000.0 - 0.045).abs() < 0.001);
        assert!((lng_per_m * 5_000.0 - 0.057).abs() < 0.001);
    }

    #[test]
    fn the_disk_stays_small_enough_to_query() {
        let seoul = GeoPoint::new(37.5665, 126.978).expect("valid");
        assert!(covering_cells(seoul, 2_000).len() < 100);
        assert!(covering_cells(seoul, MAX_RADIUS_M).len() < 1_000);
    }
}
