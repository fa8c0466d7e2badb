-- A replica claims the due deadlines it fires (`claimed_by`) until `lease_until`, so
-- several process-manager replicas fire each deadline once, and a dead replica's claims
-- are taken over once the lease runs out.
ALTER TABLE deadlines ADD COLUMN claimed_by text;
ALTER TABLE deadlines ADD COLUMN lease_until text;
