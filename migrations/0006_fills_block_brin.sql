-- raw_order_fills' block index becomes a BRIN index (block ranges per 128 pages) instead of a
-- B-tree. Fills are landed in block order, range after range, so a page's rows span a narrow
-- band of blocks and a BRIN index answers what the block index is for (a landed range's
-- rows, dbt's incremental reads of the ranges landed since its last run) with a bitmap scan.
-- The B-tree cost the landing a descent and an insert per fill: bench-ingest's COPY floor
-- 4.2-4.6 s with it, 3.7-4.0 s without; the pipeline 6.1-6.3 s against 5.6-5.8 s per million.
-- Page ranges not yet summarised match every block range. land_range summarises the complete
-- ranges it filled, in its transaction (autosummarize, queued to autovacuum, lags and drops
-- requests during a backfill), and skips its deletes for ranges with no landed block
-- (delete_range(skip_unlanded=True)) instead of scanning the last, partial range.
DROP INDEX raw_order_fills_block;
CREATE INDEX raw_order_fills_block ON raw_order_fills USING brin (chain_id, block_number) WITH (autosummarize = on);
