-- Lists are keyset pages (no OFFSET): each needs an index in its exact order, so that a page
-- is one range read however long the list. Sort keys derived from other columns are
-- generated columns, so projections keep writing what they wrote and a rebuild refills them.

-- Orders sort active first: 1 unless delivered, rejected or cancelled.
ALTER TABLE store_queue ADD COLUMN active bigint GENERATED ALWAYS AS
    (CASE WHEN status IN ('delivered', 'rejected', 'cancelled') THEN 0 ELSE 1 END) STORED;
ALTER TABLE order_view ADD COLUMN active bigint GENERATED ALWAYS AS
    (CASE WHEN status IN ('delivered', 'rejected', 'cancelled') THEN 0 ELSE 1 END) STORED;

-- The store queue: active first, then newest, then id; and one status at a time.
CREATE INDEX store_queue_page ON store_queue (store_id, visible, active, placed_at, order_id);
DROP INDEX store_queue_by_store;
CREATE INDEX store_queue_by_status ON store_queue (store_id, visible, status, placed_at, order_id);

-- A customer's orders: active first, then newest, then id.
DROP INDEX order_view_by_customer;
CREATE INDEX order_view_by_customer ON order_view (customer_id, active, placed_at, order_id);

-- The store directory: open first, then name, then id.
ALTER TABLE store_directory ADD COLUMN closed bigint GENERATED ALWAYS AS (1 - open) STORED;
CREATE INDEX store_directory_page ON store_directory (closed, name, store_id);

-- Dead letters not yet replayed, newest first.
CREATE INDEX dead_letters_unreplayed ON dead_letters (replayed_at, id);
