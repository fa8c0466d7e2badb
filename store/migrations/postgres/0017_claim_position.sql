-- A projector's claim of an event's position as one function call, so a whole batch (the
-- claims and the writes) can go to the server as one message instead of two round trips per
-- event: see `eats_projections::runner` (the script path). It claims exactly what the
-- statement-by-statement path claims (the first event inserts the row, a later one moves it
-- from the sequence before) and raises SQLSTATE EAT01 when the claim fails, which rolls the
-- batch back; the projector then applies that batch statement by statement, where an event
-- applied before is skipped and a gap is filled from the event store.
CREATE FUNCTION eats_claim_position(p text, t text, i text, s bigint) RETURNS void
    LANGUAGE plpgsql AS
$$
BEGIN
    IF s = 1 THEN
        INSERT INTO projection_positions (projection, aggregate_type, aggregate_id, sequence)
        VALUES (p, t, i, 1)
        ON CONFLICT (projection, aggregate_type, aggregate_id) DO NOTHING;
    ELSE
        UPDATE projection_positions SET sequence = s
        WHERE projection = p AND aggregate_type = t AND aggregate_id = i AND sequence = s - 1;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'position of % % under % is not %', t, i, p, s - 1
            USING ERRCODE = 'EAT01';
    END IF;
END;
$$;
