-- Riders' "open jobs within R metres" reads only open jobs, in the covering cells, inside the
-- box around the rider that holds every point within reach (delivery_board::near_query).
-- A partial index on open jobs by cell, then latitude, then longitude serves it as one range
-- per cell bounded by latitude, the longitude checked in the index, without visiting the
-- rest of each cell or any closed job. It replaces (status, pickup_cell), which indexed every
-- job ever requested and left the box to be checked on each row.
CREATE INDEX delivery_board_open_near ON delivery_board (pickup_cell, pickup_lat, pickup_lng)
    WHERE status = 'open';
DROP INDEX delivery_board_open_by_cell;
