-- The queued, non-critical messages of one order, recipient and channel: what recording a
-- newer message sheds as superseded (`eats_notify::records::insert`), as on Postgres
-- (migration 0019 there).
CREATE INDEX notifications_queued_by_order ON notifications (order_id, recipient, channel)
    WHERE state = 'queued' AND NOT critical;
