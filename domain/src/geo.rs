//! Coordinates and distances on the earth's surface.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Mean earth radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position. Constructed through [`GeoPoint::new`] so out-of-range coordinates never
/// reach an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeoPoint {
    /// Latitude in degrees, -90 to 90.
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    pub lng: f64,
}

/// Why a coordinate pair was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// Latitude outside -90..=90 (or not a number).
    #[error("latitude {0} is outside -90..=90")]
    LatitudeOutOfRange(f64),
    /// Longitude outside -180..=180 (or not a number).
    #[error("longitude {0} is outside -180..=180")]
    LongitudeOutOfRange(f64),
}

impl GeoPoint {
    /// A checked position.
    pub fn new(lat: f64, lng: f64) -> Result<Self, GeoError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::LatitudeOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(GeoError::LongitudeOutOfRange(lng));
        }
        Ok(Self { lat, lng })
    }

    /// Re-checks a position that arrived already built (e.g. deserialized from a request).
    pub fn validated(self) -> Result<Self, GeoError> {
        Self::new(self.lat, self.lng)
    }

    /// Great-circle (haversine) distance in metres; accurate to well under a metre at city scale.
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlng = (other.lng - self.lng).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_and_nan_coordinates_are_refused() {
        assert_eq!(
            GeoPoint::new(90.1, 0.0),
            Err(GeoError::LatitudeOutOfRange(90.1))
        );
        assert_eq!(
            GeoPoint::new(0.0, -180.5),
            Err(GeoError::LongitudeOutOfRange(-180.5))
        );
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn distance_between_seoul_city_hall_and_gangnam_station_is_about_8_8_km() {
        let city_hall = GeoPoint::new(37.5663, 126.9779).expect("valid");
        let gangnam = GeoPoint::new(37.4979, 127.0276).expect("valid");
        let d = city_hall.distance_m(&gangnam);
        assert!((8_500.0..9_100.0).contains(&d), "{d}");
    }
}
