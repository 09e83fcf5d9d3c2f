-- Outcome tokens of every prepared condition, computed from the chain alone (CTF id math in
-- chain/ctf_ids.py): one row per outcome. Landed with the ConditionPreparation it derives from,
-- so it is replaced with its block range like the other raw tables.
CREATE TABLE raw_condition_tokens (
    chain_id         integer  NOT NULL,
    block_number     bigint   NOT NULL,
    block_hash       text     NOT NULL,
    block_timestamp  timestamptz,
    tx_hash          text     NOT NULL,
    log_index        integer  NOT NULL,   -- of the ConditionPreparation log
    contract_address text     NOT NULL,
    generation       smallint NOT NULL,
    condition_id     text     NOT NULL,
    outcome_index    smallint NOT NULL,   -- index set 1 << outcome_index
    token_id         numeric(78,0) NOT NULL,
    collateral       text     NOT NULL,   -- USDC.e, or WrappedCollateral for neg-risk markets
    neg_risk         boolean  NOT NULL,   -- prepared by the NegRiskAdapter
    PRIMARY KEY (chain_id, tx_hash, log_index, outcome_index)
);
CREATE INDEX raw_condition_tokens_block ON raw_condition_tokens (chain_id, block_number);
CREATE INDEX raw_condition_tokens_token ON raw_condition_tokens (token_id);

-- Optional enrichment from Polymarket's Gamma API (/markets), one row per condition id.
-- The pipeline works without it (titles fall back to the condition id).
CREATE TABLE raw_market_metadata (
    condition_id          text PRIMARY KEY,
    question              text,
    slug                  text,
    outcomes              text[],
    clob_token_ids        numeric(78,0)[],
    end_date              timestamptz,
    closed                boolean,
    neg_risk              boolean,
    uma_resolution_status text,
    version               text,
    payload               jsonb NOT NULL,   -- the whole Gamma row, for fields not yet modelled
    fetched_at            timestamptz NOT NULL DEFAULT now()
);
