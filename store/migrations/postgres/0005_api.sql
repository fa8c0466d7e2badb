-- Stores and their menus as customers browse them (a read model of the Store aggregate).
CREATE TABLE store_directory
(
    store_id   text PRIMARY KEY,
    owner_id   text NOT NULL,
    name       text NOT NULL,
    address    text NOT NULL,
    lat        double precision NOT NULL,
    lng        double precision NOT NULL,
    open       bigint NOT NULL DEFAULT 0,
    updated_at timestamptz
);

CREATE TABLE menu_items
(
    store_id  text NOT NULL,
    item_id   text NOT NULL,
    name      text NOT NULL,
    price     bigint NOT NULL,
    available bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (store_id, item_id)
);

-- The first response to each Idempotency-Key, per user, so a retried POST gets it again.
CREATE TABLE idempotency_keys
(
    principal    text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       bigint,
    body         text,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

-- Where riders last said they were: telemetry, overwritten on every report, not events.
CREATE TABLE rider_locations
(
    rider_id   text PRIMARY KEY,
    lat        double precision NOT NULL,
    lng        double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
