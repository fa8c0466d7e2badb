-- The event log shared by all aggregates, in the shape sqlite-es 0.5 reads and writes.
-- The implicit rowid increases in commit order (SQLite serialises writers and events are
-- never deleted), which the embedded feed tails.
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 1) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE INDEX events_by_correlation ON events (json_extract(metadata, '$.correlation_id'));

-- One snapshot per aggregate (see the Postgres migration for why the key omits the sequence).
CREATE TABLE snapshots
(
    aggregate_type   text                                  NOT NULL,
    aggregate_id     text                                  NOT NULL,
    last_sequence    integer CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
    payload          text                                  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;
