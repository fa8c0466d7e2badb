-- Where each consumer of the embedded feed has got to in the event log (its rowid).
CREATE TABLE feed_checkpoints
(
    consumer   text   PRIMARY KEY,
    position   bigint   NOT NULL
);

-- How far each projection has applied each aggregate: the guard that makes redelivery
-- harmless and keeps every aggregate's events in order.
CREATE TABLE projection_positions
(
    projection     text   NOT NULL,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint   NOT NULL,
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);

-- What a customer polls and streams. Columns are nullable because payment and delivery
-- events may be applied before the order's own (they come from other aggregates).
CREATE TABLE order_view
(
    order_id           text PRIMARY KEY,
    customer_id        text,
    store_id           text,
    status             text,
    lines              text,
    total              bigint,
    pickup_lat         double precision,
    pickup_lng         double precision,
    deliver_to         text,
    dropoff_lat        double precision,
    dropoff_lng        double precision,
    payment_status     text,
    payment_attempts   bigint,
    refund_owed        bigint,
    refunded           bigint,
    rider_id           text,
    reason             text,
    placed_at          timestamptz,
    paid_at            timestamptz,
    accepted_at        timestamptz,
    rejected_at        timestamptz,
    cooking_started_at timestamptz,
    ready_at           timestamptz,
    picked_up_at       timestamptz,
    delivered_at       timestamptz,
    cancelled_at       timestamptz,
    refunded_at        timestamptz,
    updated_at         timestamptz
);
CREATE INDEX order_view_by_customer ON order_view (customer_id, placed_at);

-- A store's orders by status; an order appears once it is paid.
CREATE TABLE store_queue
(
    order_id    text PRIMARY KEY,
    store_id    text,
    status      text,
    total       bigint,
    lines       text,
    visible     bigint NOT NULL DEFAULT 0,
    placed_at   timestamptz,
    updated_at  timestamptz
);
CREATE INDEX store_queue_by_store ON store_queue (store_id, visible, status, placed_at);

-- Open delivery jobs, indexed by the H3 cell (resolution 7) of the pickup point so "within
-- R metres of (lat, lng)" reads a handful of cells instead of every job.
CREATE TABLE delivery_board
(
    delivery_id  text PRIMARY KEY,
    order_id     text,
    store_id     text,
    status       text,
    pickup_lat   double precision,
    pickup_lng   double precision,
    pickup_cell  bigint,
    dropoff_lat  double precision,
    dropoff_lng  double precision,
    radius_m     bigint,
    rider_id     text,
    requested_at timestamptz,
    updated_at   timestamptz
);
CREATE INDEX delivery_board_open_by_cell ON delivery_board (status, pickup_cell);

-- A customer's profile, contact for notifications, and grade.
CREATE TABLE customer_profile
(
    customer_id      text PRIMARY KEY,
    name             text,
    phone            text,
    address          text,
    lat              double precision,
    lng              double precision,
    completed_orders bigint NOT NULL DEFAULT 0,
    grade            text NOT NULL DEFAULT 'basic',
    registered_at    timestamptz,
    updated_at       timestamptz
);

-- Everything that happened because of one order, across aggregates, in commit order per
-- aggregate.
CREATE TABLE audit_timeline
(
    correlation_id text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    sequence       bigint NOT NULL,
    event_type     text NOT NULL,
    event_version  text NOT NULL,
    actor          text,
    occurred_at    timestamptz,
    payload        text NOT NULL,
    PRIMARY KEY (correlation_id, aggregate_type, aggregate_id, sequence)
);
