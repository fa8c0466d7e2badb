-- What an operator did with a dead letter: retried it (replayed_at, already there), or
-- discarded it with a note. retrying_until (ms since the epoch) is the lease of a retry in
-- progress, so two operators retrying at once run it once; a retry that died releases it
-- when the lease runs out.
ALTER TABLE dead_letters ADD COLUMN discarded_at text;
ALTER TABLE dead_letters ADD COLUMN note text;
ALTER TABLE dead_letters ADD COLUMN retrying_until integer;
