-- Ingestion state. Written in the same transaction as the rows it describes.

-- Hashes of landed blocks (blocks with logs, and the last block of every landed range):
-- compared with the chain to detect reorgs.
CREATE TABLE chain_blocks (
    chain_id        integer NOT NULL,
    block_number    bigint  NOT NULL,
    block_hash      text    NOT NULL,
    block_timestamp timestamptz,
    PRIMARY KEY (chain_id, block_number)
);

-- The head follower's cursor: every block below next_block is landed.
CREATE TABLE ingest_cursor (
    chain_id     integer PRIMARY KEY,
    next_block   bigint  NOT NULL,
    head_block   bigint,           -- chain head seen at the last landing
    final_block  bigint,           -- head - CONFIRMATIONS: rows at or below count as final
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Every landed block range (head following and backfill partitions): coverage and gap checks.
CREATE TABLE ingest_ranges (
    id           bigserial PRIMARY KEY,
    chain_id     integer NOT NULL,
    from_block   bigint  NOT NULL,
    to_block     bigint  NOT NULL,
    mode         text    NOT NULL,   -- 'follow' | 'backfill' | 'reorg'
    logs         integer NOT NULL,
    fills        integer NOT NULL,
    quarantined  integer NOT NULL,
    landed_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (to_block >= from_block)
);
CREATE INDEX ingest_ranges_blocks ON ingest_ranges (chain_id, from_block, to_block);

-- Every reorg seen and repaired.
CREATE TABLE chain_reorgs (
    id            bigserial PRIMARY KEY,
    chain_id      integer NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    fork_block    bigint  NOT NULL,  -- last block both chains share
    depth         integer NOT NULL,  -- landed blocks replaced
    old_hash      text,              -- our hash of the first replaced block we had recorded
    new_hash      text,
    rows_deleted  integer NOT NULL
);

-- The chain the landed rows came from, by genesis hash: a restarted local simulated chain
-- has a new genesis, and its old rows are then cleared rather than mistaken for a reorg.
CREATE TABLE chain_identity (
    chain_id     integer PRIMARY KEY,
    genesis_hash text    NOT NULL,
    simulated    boolean NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now()
);
