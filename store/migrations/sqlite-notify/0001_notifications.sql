-- The notifier's own SQLite file (notify.db beside eats.db), so its writes (recording,
-- claiming, finishing, delivery results) take this file's writer lock and never the event
-- store's: order commands do not queue behind notifications. The same tables as Postgres
-- migrations 0011 and 0012; see there for what each column means.
CREATE TABLE notifications (
    id text PRIMARY KEY,
    event_key text NOT NULL,
    order_id text,
    recipient text NOT NULL,
    phone text,
    channel text NOT NULL,
    template text NOT NULL,
    parameters text NOT NULL,
    critical integer NOT NULL,
    rank integer NOT NULL,
    state text NOT NULL,
    reason text,
    provider text,
    request_id text,
    attempts integer NOT NULL DEFAULT 0,
    occurred_at integer NOT NULL,
    created_at integer NOT NULL,
    next_attempt_at integer NOT NULL,
    claimed_until integer,
    sent_at integer,
    delivery text,
    recipient_seq integer,
    sms_fallback integer NOT NULL DEFAULT 1,
    delivery_reason text,
    delivered_at integer,
    delivery_check_at integer,
    UNIQUE (event_key, recipient, channel)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_by_order ON notifications (order_id, recipient, channel, occurred_at);
CREATE INDEX notifications_listed ON notifications (created_at, id);
CREATE INDEX notifications_awaiting_delivery ON notifications (delivery_check_at)
    WHERE state = 'sent' AND delivery IS NULL;

CREATE TABLE notification_preferences (
    customer_id text PRIMARY KEY,
    kakao integer NOT NULL,
    sms integer NOT NULL,
    quiet_start integer,
    quiet_end integer,
    updated_at integer NOT NULL
);
