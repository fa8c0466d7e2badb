//! What was sent about an order, and the operators' view of every notification record.

use chrono::{DateTime, TimeZone, Utc};
use eats_notify::records::{self, Record};
use eats_notify::template::Template;
use eats_projections::page::Page;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use crate::auth::{Role, User};
use crate::customers::check_own_order;
use crate::paging;
use crate::problem::{not_found, ApiError, Problem, ProblemKind};
use crate::state::ApiState;
use crate::ApiTags;

/// Notification endpoints.
pub struct NotificationApi;

/// Where a message is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting to be sent.
    Queued,
    /// Being sent.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The provider refused it, or it kept failing.
    Failed,
    /// Dropped under load (superseded by a newer status, stale, provider down).
    Shed,
    /// Never to be sent (no phone number for this provider).
    Skipped,
}

impl NotificationState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => records::state::QUEUED,
            Self::Sending => records::state::SENDING,
            Self::Sent => records::state::SENT,
            Self::Failed => records::state::FAILED,
            Self::Shed => records::state::SHED,
            Self::Skipped => records::state::SKIPPED,
        }
    }
}

/// One recorded message.
#[derive(Object, Debug)]
pub struct Notification {
    /// The record's id (also the idempotency key given to the provider).
    pub id: String,
    /// The order it is about.
    #[oai(skip_serializing_if_is_none)]
    pub order_id: Option<String>,
    /// `customer:<id>` or `store_owner:<id>`.
    pub recipient: String,
    /// `alimtalk`, `sms`, `kakao`, `webhook`, `log` (or `none` when skipped).
    pub channel: String,
    /// The AlimTalk template code.
    pub template: String,
    /// The text as the recipient reads it.
    pub text: String,
    /// `queued`, `sending`, `sent`, `failed`, `shed` or `skipped`.
    pub state: String,
    /// Why it is in that state.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// The provider that took it.
    #[oai(skip_serializing_if_is_none)]
    pub provider: Option<String>,
    /// The provider's request id.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// Calls made to the provider.
    pub attempts: i64,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// When the provider accepted it.
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
    /// What the provider says became of a sent message: `delivered` or `undelivered`
    /// (also when the provider gave no verdict in time); absent until then, and for messages
    /// never sent.
    #[oai(skip_serializing_if_is_none)]
    pub delivery: Option<String>,
    /// The provider's reason for an undelivered message (e.g. `MRC02: ...`, `no_result: ...`),
    /// or `sms_fallback` for one that reached the customer by SMS instead of KakaoTalk.
    #[oai(skip_serializing_if_is_none)]
    pub delivery_reason: Option<String>,
    /// When the delivery verdict was recorded.
    #[oai(skip_serializing_if_is_none)]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A page of notification records.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationPage {
    /// This page's records, newest first.
    pub items: Vec<Notification>,
    /// Opaque cursor of the next page (pass it as `cursor`); absent on the last page.
    pub next: Option<String>,
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl From<Record> for Notification {
    fn from(r: Record) -> Self {
        let text = match r.outgoing() {
            Ok(message) => message.text(),
            Err(error) => {
                tracing::warn!(%error, "notification record does not render");
                Template::by_code(&r.template).map_or_else(String::new, |t| t.text.to_string())
            }
        };
        Self {
            id: r.id,
            order_id: r.order_id,
            recipient: r.recipient,
            channel: r.channel,
            template: r.template,
            text,
            state: r.state,
            reason: r.reason,
            provider: r.provider,
            request_id: r.request_id,
            attempts: r.attempts,
            occurred_at: at(r.occurred_at),
            sent_at: r.sent_at.map(at),
            delivery: r.delivery,
            delivery_reason: r.delivery_reason,
            delivered_at: r.delivered_at.map(at),
        }
    }
}

/// Quiet hours: no non-critical messages from `start` up to `end` (whole hours, Asia/Seoul;
/// `22` to `8` spans the night).
#[derive(Object, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(deny_unknown_fields)]
pub struct QuietHours {
    /// First quiet hour, 0-23.
    #[oai(validator(minimum(value = "0"), maximum(value = "23")))]
    pub start: u8,
    /// First hour that is no longer quiet, 0-23.
    #[oai(validator(minimum(value = "0"), maximum(value = "23")))]
    pub end: u8,
}

/// Which messages you get. Critical ones (a cancellation, a rejection, a refund) come
/// regardless.
#[derive(Object, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(deny_unknown_fields)]
pub struct NotificationPreferences {
    /// KakaoTalk (AlimTalk) messages.
    pub kakao: bool,
    /// SMS: the KakaoTalk fallback, or instead of KakaoTalk when that is off (where the
    /// provider can send plain SMS).
    pub sms: bool,
    /// When not to send; absent for never (`null` is refused: leave it out).
    #[oai(skip_serializing_if_is_none)]
    pub quiet_hours: MaybeUndefined<QuietHours>,
}

impl From<eats_notify::preferences::Preferences> for NotificationPreferences {
    fn from(p: eats_notify::preferences::Preferences) -> Self {
        Self {
            kakao: p.kakao,
            sms: p.sms,
            quiet_hours: match p.quiet {
                Some(q) => MaybeUndefined::Value(QuietHours {
                    start: q.start,
                    end: q.end,
                }),
                None => MaybeUndefined::Undefined,
            },
        }
    }
}

/// Outcomes of a resend.
#[derive(ApiResponse)]
pub enum Resent {
    /// Queued again; the notifier sends it shortly.
    #[oai(status = 202)]
    Queued(Json<Notification>),
}

#[OpenApi(tag = "ApiTags::Customer")]
impl NotificationApi {
    /// Your notification settings (everything on, no quiet hours, until you choose).
    #[oai(
        path = "/customers/me/notifications",
        method = "get",
        operation_id = "getNotificationPreferences"
    )]
    async fn preferences(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
    ) -> Result<Json<NotificationPreferences>, ApiError> {
        let customer = user.require(Role::Customer)?;
        let current = eats_notify::preferences::get(&state.db, &customer.to_string()).await?;
        Ok(Json(current.into()))
    }

    /// Chooses channels and quiet hours; applies to messages recorded from now on.
    #[oai(
        path = "/customers/me/notifications",
        method = "put",
        operation_id = "setNotificationPreferences"
    )]
    async fn set_preferences(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        body: Json<NotificationPreferences>,
    ) -> Result<Json<NotificationPreferences>, ApiError> {
        let customer = user.require(Role::Customer)?;
        if body.0.quiet_hours.is_null() {
            return Err(crate::problem::invalid(
                "quiet_hours",
                "quiet_hours is an object or absent, not null",
            ));
        }
        let chosen = eats_notify::preferences::Preferences {
            kakao: body.0.kakao,
            sms: body.0.sms,
            quiet: body
                .0
                .quiet_hours
                .value()
                .map(|q| eats_notify::preferences::QuietHours {
                    start: q.start,
                    end: q.end,
                }),
        };
        eats_notify::preferences::put(&state.db, &customer.to_string(), chosen).await?;
        Ok(Json(chosen.into()))
    }

    /// What was sent to you about one of your orders, oldest first, with each message's
    /// state. At most one message per status change, so the list is short and not paged.
    #[oai(
        path = "/orders/:order_id/notifications",
        method = "get",
        operation_id = "getOrderNotifications"
    )]
    async fn for_order(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        order_id: Path<Uuid>,
    ) -> Result<Json<Vec<Notification>>, ApiError> {
        let customer = user.require(Role::Customer)?;
        check_own_order(&state, order_id.0, customer).await?;
        let me = format!("customer:{customer}");
        let rows = records::for_order(&state.db, &order_id.0.to_string()).await?;
        Ok(Json(
            rows.into_iter()
                .filter(|r| r.recipient == me)
                .map(Notification::from)
                .collect(),
        ))
    }

    /// Notification records, newest first (by when they were recorded, then by id),
    /// optionally one state or one order. Page with `limit` and the `next` cursor of the
    /// previous page (a cursor belongs to its filters).
    #[oai(
        path = "/admin/notifications",
        method = "get",
        operation_id = "listNotifications",
        tag = "ApiTags::Admin"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        #[oai(name = "state")] wanted: Query<Option<NotificationState>>,
        order_id: Query<Option<Uuid>>,
        /// At most this many, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<NotificationPage>, ApiError> {
        user.require(Role::Admin)?;
        let limit = paging::limit(limit.0, 50, 200)?;
        let wanted = wanted.0.map(NotificationState::as_str);
        let order = order_id.0.map(|id| id.to_string());
        let scope = format!(
            "notifications:{}:{}",
            wanted.unwrap_or(""),
            order.as_deref().unwrap_or("")
        );
        let after: Option<records::ListKey> = paging::after(&scope, cursor.0.as_deref())?;
        let rows = records::list(
            &state.db,
            wanted,
            order.as_deref(),
            after.as_ref(),
            limit + 1,
        )
        .await?;
        let page = Page::from_rows(rows, limit, |r| (r.created_at, r.id.clone()));
        Ok(Json(NotificationPage {
            next: paging::next(&scope, page.next.as_ref())?,
            items: page.items.into_iter().map(Notification::from).collect(),
        }))
    }

    /// Sends a failed, shed or skipped message again (counted from now for freshness). A
    /// message that is queued, being sent or already sent is refused with 409.
    #[oai(
        path = "/admin/notifications/:notification_id/resend",
        method = "post",
        operation_id = "resendNotification",
        tag = "ApiTags::Admin"
    )]
    async fn resend(
        &self,
        state: poem::web::Data<&ApiState>,
        user: User,
        notification_id: Path<String>,
    ) -> Result<Resent, ApiError> {
        user.require(Role::Admin)?;
        let id = notification_id.0;
        let current = records::get(&state.db, &id)
            .await?
            .ok_or_else(|| not_found("notification"))?;
        if !records::resend(&state.db, &id, records::now_ms()).await? {
            return Err(Problem::new(
                ProblemKind {
                    status: 409,
                    slug: "notification-not-resendable",
                    title: "Notification is not failed, shed or skipped",
                    field: None,
                },
                format!("the notification is {}", current.state),
            )
            .into());
        }
        let row = records::get(&state.db, &id)
            .await?
            .ok_or_else(|| not_found("notification"))?;
        Ok(Resent::Queued(Json(row.into())))
    }
}
