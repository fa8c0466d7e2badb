-- Idempotency keys carry the seed of the ids their request creates (so a retry after a crash
-- reaches the same aggregate), the content type of the recorded answer (replayed exactly),
-- and when the current attempt claimed the key (stale claims are taken over). created_at is
-- when the key was first used: keys expire from it and are purged by it.
ALTER TABLE idempotency_keys
    ADD COLUMN seed text,
    ADD COLUMN content_type text,
    ADD COLUMN claimed_at timestamptz;
UPDATE idempotency_keys SET claimed_at = created_at;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
