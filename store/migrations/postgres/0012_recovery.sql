-- Recovering what a NATS crash drops (nats/src/recovery.rs). JetStream acknowledges a publish
-- before it fsyncs it, and the relay deletes an outbox row once acknowledged: a crash can
-- lose such a message, and the event store is then the only place it is.
--
-- `relayed`: which events the relay published and when, kept for EATS_RECOVERY_WINDOW_SECS,
-- so the reconciler compares the newest events with each consumer's progress without scanning
-- the whole log (the events table has no commit time).
CREATE TABLE relayed
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    relayed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX relayed_by_time ON relayed (relayed_at);

-- How far each JetStream consumer has handled each aggregate, without a gap: a later event
-- that arrives first has the missing ones read from the event store and handled before it.
CREATE TABLE consumer_positions
(
    consumer       text   NOT NULL,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL,
    PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);
