-- The notifier's records: one row per event, recipient and channel, written before anything is
-- sent, so a redelivered event, a restart or a second replica never sends twice. Times are
-- milliseconds since the epoch (the same in SQLite). state: queued, sending (claimed until
-- claimed_until), sent, failed, shed, skipped; reason says why for all but sent. delivery is the
-- provider's later verdict (delivered / undelivered) once known.
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
    UNIQUE (event_key, recipient, channel)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_by_order ON notifications (order_id, recipient, channel, occurred_at);

-- Each customer's choice: channels on or off, and quiet hours (whole hours, Asia/Seoul, from
-- quiet_start up to quiet_end, wrapping midnight). Critical messages ignore both.
CREATE TABLE notification_preferences (
    customer_id text PRIMARY KEY,
    kakao integer NOT NULL,
    sms integer NOT NULL,
    quiet_start integer,
    quiet_end integer,
    updated_at integer NOT NULL
);
