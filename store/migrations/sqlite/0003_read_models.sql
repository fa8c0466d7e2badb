-- Where each consumer of the embedded feed has got to in the event log (its rowid).
CREATE TABLE feed_checkpoints
(
    consumer   text   PRIMARY KEY,
    position   integer   NOT NULL
) STRICT;

-- How far each projection has applied each aggregate: the guard that makes redelivery
-- harmless and keeps every aggregate's events in order.
CREATE TABLE projection_positions
(
    projection     text   NOT NULL,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       integer   NOT NULL,
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
) STRICT;

-- What a customer polls and streams. Columns are nullable because payment and delivery
-- events may be applied before the order's own (they come from other aggregates).
CREATE TABLE order_view
(
    order_id           text PRIMARY KEY,
    customer_id        text,
    store_id           text,
    status             text,
    lines              text,
    total              integer,
    pickup_lat         real,
    pickup_lng         real,
    deliver_to         text,
    dropoff_lat        real,
    dropoff_lng        real,
    payment_status     text,
    payment_attempts   integer,
    refund_owed        integer,
    refunded           integer,
    rider_id           text,
    reason             text,
    placed_at          text,
    paid_at            text,
    accepted_at        text,
    rejected_at        text,
    cooking_started_at text,
    ready_at           text,
    picked_up_at       text,
    delivered_at       text,
    cancelled_at       text,
    refunded_at        text,
    updated_at         text
) STRICT;
CREATE INDEX order_view_by_customer ON order_view (customer_id, placed_at);

-- A store's orders by status; an order appears once it is paid.
CREATE TABLE store_queue
(
    order_id    text PRIMARY KEY,
    store_id    text,
    status      text,
    total       integer,
    lines       text,
    visible     integer NOT NULL DEFAULT 0,
    placed_at   text,
    updated_at  text
) STRICT;
CREATE INDEX store_queue_by_store ON store_queue (store_id, visible, status, placed_at);

-- Open delivery jobs, indexed by the H3 cell (resolution 7) of the pickup point so "within
-- R metres of (lat, lng)" reads a handful of cells instead of every job.
CREATE TABLE delivery_board
(
    delivery_id  text PRIMARY KEY,
    order_id     text,
    store_id     text,
    status       text,
    pickup_lat   real,
    pickup_lng   real,
    pickup_cell  integer,
    dropoff_lat  real,
    dropoff_lng  real,
    radius_m     integer,
    rider_id     text,
    requested_at text,
    updated_at   text
) STRICT;
CREATE INDEX delivery_board_open_by_cell ON delivery_board (status, pickup_cell);

-- A customer's profile, contact for notifications, and grade.
CREATE TABLE customer_profile
(
    customer_id      text PRIMARY KEY,
    name             text,
    phone            text,
    address          text,
    lat              real,
    lng              real,
    completed_orders integer NOT NULL DEFAULT 0,
    grade            text NOT NULL DEFAULT 'basic',
    registered_at    text,
    updated_at       text
) STRICT;

-- Everything that happened because of one order, across aggregates, in commit order per
-- aggregate.
CREATE TABLE audit_timeline
(
    correlation_id text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    sequence       integer NOT NULL,
    event_type     text NOT NULL,
    event_version  text NOT NULL,
    actor          text,
    occurred_at    text,
    payload        text NOT NULL,
    PRIMARY KEY (correlation_id, aggregate_type, aggregate_id, sequence)
) STRICT;
