-- raw_quarantine takes every log decode refuses, whole (raw_log, below), including the ones
-- refused because their identity is missing or malformed (a null or non-hex logIndex, transactionHash, blockHash,
-- address or topics): those columns were NOT NULL and in the primary key, so such a log made
-- the COPY of its range fail, and the range's transaction with it, on every retry: ingestion
-- stalled on one bad log. The row now has a surrogate key; (chain_id, tx_hash, log_index)
-- stays unique where present (NULLs are distinct), so a rerun still lands a keyed log once.
-- A log without a block number is kept under the first block of the range it came in
-- (landing.land_range), so re-landing that range replaces it like every other row.
ALTER TABLE raw_quarantine DROP CONSTRAINT raw_quarantine_pkey;
ALTER TABLE raw_quarantine ADD COLUMN quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE raw_quarantine
    ALTER COLUMN block_hash DROP NOT NULL,
    ALTER COLUMN tx_hash DROP NOT NULL,
    ALTER COLUMN log_index DROP NOT NULL,
    ALTER COLUMN contract_address DROP NOT NULL,
    ALTER COLUMN topics DROP NOT NULL;
CREATE UNIQUE INDEX raw_quarantine_log ON raw_quarantine (chain_id, tx_hash, log_index);
-- The log as the node sent it (its fields as JSON text: the typed columns above are what could
-- be read of it, a malformed block number or log index only survives here). NULL on older rows.
ALTER TABLE raw_quarantine ADD COLUMN raw_log text;
