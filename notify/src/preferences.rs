//! The customer's choice: which channels, and quiet hours in Asia/Seoul. Applied when a
//! message is recorded; critical messages (a cancellation, a rejection, a refund) ignore it.

use chrono::{DateTime, Timelike, Utc};
use eats_store::{on_pool, Backend, Database};

/// Seoul is UTC+9 all year (no daylight saving).
const SEOUL_OFFSET_HOURS: u32 = 9;

/// Quiet hours: from `start` up to `end` (whole hours 0-23, Asia/Seoul), wrapping midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// First quiet hour.
    pub start: u8,
    /// First hour that is no longer quiet.
    pub end: u8,
}

impl QuietHours {
    /// Whether `at` falls in them; `start == end` means none.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let hour = ((at.hour() + SEOUL_OFFSET_HOURS) % 24) as u8;
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => (self.start..self.end).contains(&hour),
            std::cmp::Ordering::Greater => hour >= self.start || hour < self.end,
        }
    }
}

/// One customer's settings; everything on and no quiet hours until they choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preferences {
    /// KakaoTalk (AlimTalk) messages.
    pub kakao: bool,
    /// SMS (direct, or as the KakaoTalk fallback).
    pub sms: bool,
    /// When not to send non-critical messages.
    pub quiet: Option<QuietHours>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            kakao: true,
            sms: true,
            quiet: None,
        }
    }
}

/// The settings of `customer_id`.
pub async fn get(db: &Database, customer_id: &str) -> Result<Preferences, sqlx::Error> {
    let db = &db.for_notifications();
    let sql = "SELECT kakao, sms, CAST(quiet_start AS BIGINT), CAST(quiet_end AS BIGINT) \
        FROM notification_preferences \
        WHERE customer_id = $1";
    let row: Option<(bool, bool, Option<i64>, Option<i64>)> =
        on_pool!(db, |pool| sqlx::query_as(sql)
            .bind(customer_id)
            .fetch_optional(pool)
            .await)?;
    Ok(
        row.map_or_else(Preferences::default, |(kakao, sms, start, end)| {
            chosen(kakao, sms, start, end)
        }),
    )
}

/// A customer's stored choice: id, KakaoTalk, SMS, quiet hours' start and end.
type ChoiceRow = (String, bool, bool, Option<i64>, Option<i64>);

/// The settings of those of `customer_ids` who chose any (the others have the defaults),
/// in one statement on Postgres.
pub async fn get_many(
    db: &Database,
    customer_ids: &[String],
) -> Result<std::collections::HashMap<String, Preferences>, sqlx::Error> {
    let db = &db.for_notifications();
    let rows: Vec<ChoiceRow> = match db.backend() {
        // One index probe per customer whatever the statistics (see eats_nats::recovery).
        Backend::Postgres(pool) => {
            sqlx::query_as(
                "SELECT p.customer_id, p.kakao, p.sms, CAST(p.quiet_start AS BIGINT), \
                 CAST(p.quiet_end AS BIGINT) \
                 FROM unnest($1::text[]) AS c(id) CROSS JOIN LATERAL \
                 (SELECT * FROM notification_preferences n WHERE n.customer_id = c.id LIMIT 1) AS p",
            )
            .bind(customer_ids)
            .fetch_all(pool)
            .await?
        }
        // In process: one lookup per customer costs no round trip.
        Backend::Sqlite(pool) => {
            let mut rows = Vec::new();
            for id in customer_ids {
                rows.extend(
                    sqlx::query_as(
                        "SELECT customer_id, kakao, sms, CAST(quiet_start AS BIGINT), \
                         CAST(quiet_end AS BIGINT) \
                         FROM notification_preferences WHERE customer_id = $1",
                    )
                    .bind(id)
                    .fetch_optional(pool)
                    .await?,
                );
            }
            rows
        }
    };
    Ok(rows
        .into_iter()
        .map(|(id, kakao, sms, start, end)| (id, chosen(kakao, sms, start, end)))
        .collect())
}

fn chosen(kakao: bool, sms: bool, start: Option<i64>, end: Option<i64>) -> Preferences {
    Preferences {
        kakao,
        sms,
        quiet: match (start, end) {
            (Some(start), Some(end)) => Some(QuietHours {
                start: u8::try_from(start.rem_euclid(24)).unwrap_or(0),
                end: u8::try_from(end.rem_euclid(24)).unwrap_or(0),
            }),
            _ => None,
        },
    }
}

/// Stores the settings of `customer_id`.
pub async fn put(
    db: &Database,
    customer_id: &str,
    preferences: Preferences,
) -> Result<(), sqlx::Error> {
    let db = &db.for_notifications();
    let sql = "INSERT INTO notification_preferences (customer_id, kakao, sms, quiet_start, quiet_end, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET kakao = excluded.kakao, \
        sms = excluded.sms, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
        updated_at = excluded.updated_at";
    let (start, end) = match preferences.quiet {
        Some(q) => (Some(i64::from(q.start)), Some(i64::from(q.end))),
        None => (None, None),
    };
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(customer_id)
        .bind(preferences.kakao)
        .bind(preferences.sms)
        .bind(start)
        .bind(end)
        .bind(crate::records::now_ms())
        .execute(pool)
        .await
        .map(|_| ()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn seoul(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, (hour + 24 - SEOUL_OFFSET_HOURS) % 24, 30, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn quiet_hours_are_read_in_seoul_time_and_may_wrap_midnight() {
        let night = QuietHours { start: 22, end: 8 };
        assert!(night.contains(seoul(23)) && night.contains(seoul(3)));
        assert!(!night.contains(seoul(8)) && !night.contains(seoul(12)));
        let lunch = QuietHours { start: 12, end: 13 };
        assert!(lunch.contains(seoul(12)) && !lunch.contains(seoul(13)));
        assert!(!QuietHours { start: 5, end: 5 }.contains(seoul(5)));
    }
}
