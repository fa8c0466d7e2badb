-- Messages a process manager gave up on after its retries: kept with the error until an
-- operator replays them (`eats dead-letters replay`).
CREATE TABLE dead_letters
(
    id          integer PRIMARY KEY AUTOINCREMENT,
    consumer    text NOT NULL,
    event_key   text NOT NULL,
    event       text NOT NULL,
    error       text NOT NULL,
    attempts    integer NOT NULL,
    failed_at   text  NOT NULL,
    replayed_at text
) STRICT;
CREATE INDEX dead_letters_open ON dead_letters (replayed_at, failed_at);

-- Durable deadlines: what must happen if nothing else does by then.
CREATE TABLE deadlines
(
    kind         text NOT NULL,
    aggregate_id text NOT NULL,
    due_at       text  NOT NULL,
    payload      text NOT NULL,
    PRIMARY KEY (kind, aggregate_id)
) STRICT;
CREATE INDEX deadlines_due ON deadlines (due_at);
