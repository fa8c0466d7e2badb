-- Stores and their menus as customers browse them (a read model of the Store aggregate).
CREATE TABLE store_directory
(
    store_id   text PRIMARY KEY,
    owner_id   text NOT NULL,
    name       text NOT NULL,
    address    text NOT NULL,
    lat        real NOT NULL,
    lng        real NOT NULL,
    open       integer NOT NULL DEFAULT 0,
    updated_at text
) STRICT;

CREATE TABLE menu_items
(
    store_id  text NOT NULL,
    item_id   text NOT NULL,
    name      text NOT NULL,
    price     integer NOT NULL,
    available integer NOT NULL DEFAULT 1,
    PRIMARY KEY (store_id, item_id)
) STRICT;

-- The first response to each Idempotency-Key, per user, so a retried POST gets it again.
CREATE TABLE idempotency_keys
(
    principal    text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    body         text,
    created_at   text NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT;

-- Where riders last said they were: telemetry, overwritten on every report, not events.
CREATE TABLE rider_locations
(
    rider_id   text PRIMARY KEY,
    lat        real NOT NULL,
    lng        real NOT NULL,
    updated_at text NOT NULL
) STRICT;
