-- The queued, non-critical messages of one order, recipient and channel: what recording a
-- newer message sheds as superseded (`eats_notify::records::insert`), one probe per new
-- message. The general index by order also holds every sent and shed message; a load test's
-- plan for this lookup walked all queued messages through the index on state instead.
CREATE INDEX notifications_queued_by_order ON notifications (order_id, recipient, channel)
    WHERE state = 'queued' AND NOT critical;
