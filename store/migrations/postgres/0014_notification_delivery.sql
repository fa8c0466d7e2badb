-- Provider acceptance is not delivery: the notifier asks the provider for each sent message's
-- result until it has a verdict or gives up. recipient_seq is NHN's per-recipient sequence
-- (needed with request_id to query one result); delivery is delivered / undelivered,
-- delivery_reason the provider's code for it, delivered_at when the verdict was recorded, and
-- delivery_check_at when to ask next (also a lease, so replicas do not ask twice at once).
-- sms_fallback false: the customer turned SMS off, so the AlimTalk goes without NHN's SMS resend.
ALTER TABLE notifications
    ADD COLUMN recipient_seq bigint,
    ADD COLUMN sms_fallback boolean NOT NULL DEFAULT true,
    ADD COLUMN delivery_reason text,
    ADD COLUMN delivered_at bigint,
    ADD COLUMN delivery_check_at bigint;
CREATE INDEX notifications_listed ON notifications (created_at, id);
CREATE INDEX notifications_awaiting_delivery ON notifications (delivery_check_at)
    WHERE state = 'sent' AND delivery IS NULL;
