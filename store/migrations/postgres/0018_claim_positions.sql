-- A projector batch's hand-over lock and all its position claims in one call, at the head of
-- the batch's script (see `eats_projections::runner`): at light load a batch holds one or two
-- events, and the lock and a claim per event were each a statement of their own, parsed,
-- planned and counted apart (a third of a lifecycle's statements). Each claim is exactly
-- `eats_claim_position`'s (migration 0017), in array order, so two events of one aggregate
-- claim one after the other; a refused claim raises EAT01 and the batch rolls back whole.
-- The lock is skipped when `lock_key` is NULL (a rebuild writing its own tables).
CREATE FUNCTION eats_claim_positions(
    lock_class integer, lock_key text, p text, t text[], i text[], s bigint[]
) RETURNS void
    LANGUAGE plpgsql AS
$$
BEGIN
    IF lock_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(lock_class, hashtext(lock_key));
    END IF;
    FOR k IN 1 .. coalesce(array_length(s, 1), 0) LOOP
        PERFORM eats_claim_position(p, t[k], i[k], s[k]);
    END LOOP;
END;
$$;
