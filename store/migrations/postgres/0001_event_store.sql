-- The event log shared by all aggregates, in the shape postgres-es 0.5 reads and writes.
-- jsonb (not json) so the audit trail can be looked up by correlation id.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 1) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        jsonb                        NOT NULL,
    metadata       jsonb                        NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_by_correlation ON events ((metadata ->> 'correlation_id'));

-- One snapshot per aggregate: the key leaves out last_sequence (unlike postgres-es's sample
-- schema), so a snapshot rebuilt after a layout change replaces the stale one instead of
-- standing beside it.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
