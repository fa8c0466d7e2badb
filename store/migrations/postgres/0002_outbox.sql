-- Transactional outbox: a trigger copies every event into the outbox inside the very
-- transaction that appends it (postgres-es opens that transaction itself and offers no hook),
-- and wakes the relay. The relay publishes rows to JetStream and deletes what it published,
-- so a row that commits late with a lower id is still published: no id-tailing gap.
CREATE TABLE outbox
(
    id             bigserial   PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    committed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION eats_events_to_outbox() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    INSERT INTO outbox (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type, NEW.event_version,
            NEW.payload, NEW.metadata);
    PERFORM pg_notify('eats_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_to_outbox
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION eats_events_to_outbox();
