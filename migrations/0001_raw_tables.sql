-- Raw chain tables: one row per landed log, typed but not interpreted (dbt does that).
-- Key: (chain_id, tx_hash, log_index). Amounts and uint256 ids are exact numeric(78,0).
-- Common columns on every raw table:
--   chain_id, block_number, block_hash, block_timestamp, tx_hash, log_index,
--   contract_address, generation (exchange generation, 0 for non-exchange contracts)

CREATE TABLE raw_order_fills (
    chain_id            integer      NOT NULL,
    block_number        bigint       NOT NULL,
    block_hash          text         NOT NULL,
    block_timestamp     timestamptz,
    tx_hash             text         NOT NULL,
    log_index           integer      NOT NULL,
    contract_address    text         NOT NULL,
    generation          smallint     NOT NULL,
    neg_risk            boolean      NOT NULL,
    order_hash          text         NOT NULL,
    maker               text         NOT NULL,
    taker               text         NOT NULL,
    maker_asset_id      numeric(78,0),          -- V1 only
    taker_asset_id      numeric(78,0),          -- V1 only
    side                smallint,               -- V2 only: 0 BUY, 1 SELL
    token_id            numeric(78,0),          -- V2 only
    maker_amount_filled numeric(78,0) NOT NULL,
    taker_amount_filled numeric(78,0) NOT NULL,
    fee                 numeric(78,0) NOT NULL,
    builder             text,                   -- V2 only
    metadata            text,                   -- V2 only
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_order_fills_block ON raw_order_fills (chain_id, block_number);

CREATE TABLE raw_orders_matched (
    chain_id            integer      NOT NULL,
    block_number        bigint       NOT NULL,
    block_hash          text         NOT NULL,
    block_timestamp     timestamptz,
    tx_hash             text         NOT NULL,
    log_index           integer      NOT NULL,
    contract_address    text         NOT NULL,
    generation          smallint     NOT NULL,
    neg_risk            boolean      NOT NULL,
    taker_order_hash    text         NOT NULL,
    taker_order_maker   text         NOT NULL,
    maker_asset_id      numeric(78,0),
    taker_asset_id      numeric(78,0),
    side                smallint,
    token_id            numeric(78,0),
    maker_amount_filled numeric(78,0) NOT NULL,
    taker_amount_filled numeric(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_orders_matched_block ON raw_orders_matched (chain_id, block_number);

CREATE TABLE raw_token_registrations (
    chain_id         integer NOT NULL,
    block_number     bigint  NOT NULL,
    block_hash       text    NOT NULL,
    block_timestamp  timestamptz,
    tx_hash          text    NOT NULL,
    log_index        integer NOT NULL,
    contract_address text    NOT NULL,
    generation       smallint NOT NULL,
    neg_risk         boolean NOT NULL,
    token0           numeric(78,0) NOT NULL,
    token1           numeric(78,0) NOT NULL,
    condition_id     text    NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_token_registrations_block ON raw_token_registrations (chain_id, block_number);

CREATE TABLE raw_conditions (
    chain_id           integer NOT NULL,
    block_number       bigint  NOT NULL,
    block_hash         text    NOT NULL,
    block_timestamp    timestamptz,
    tx_hash            text    NOT NULL,
    log_index          integer NOT NULL,
    contract_address   text    NOT NULL,
    generation         smallint NOT NULL,
    condition_id       text    NOT NULL,
    oracle             text    NOT NULL,
    question_id        text    NOT NULL,
    outcome_slot_count numeric(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_conditions_block ON raw_conditions (chain_id, block_number);

CREATE TABLE raw_resolutions (
    chain_id           integer NOT NULL,
    block_number       bigint  NOT NULL,
    block_hash         text    NOT NULL,
    block_timestamp    timestamptz,
    tx_hash            text    NOT NULL,
    log_index          integer NOT NULL,
    contract_address   text    NOT NULL,
    generation         smallint NOT NULL,
    condition_id       text    NOT NULL,
    oracle             text    NOT NULL,
    question_id        text    NOT NULL,
    outcome_slot_count numeric(78,0) NOT NULL,
    payout_numerators  numeric(78,0)[] NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_resolutions_block ON raw_resolutions (chain_id, block_number);

CREATE TABLE raw_redemptions (
    chain_id             integer NOT NULL,
    block_number         bigint  NOT NULL,
    block_hash           text    NOT NULL,
    block_timestamp      timestamptz,
    tx_hash              text    NOT NULL,
    log_index            integer NOT NULL,
    contract_address     text    NOT NULL,
    generation           smallint NOT NULL,
    redeemer             text    NOT NULL,
    collateral_token     text    NOT NULL,
    parent_collection_id text    NOT NULL,
    condition_id         text    NOT NULL,
    index_sets           numeric(78,0)[] NOT NULL,
    payout               numeric(78,0) NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_redemptions_block ON raw_redemptions (chain_id, block_number);

CREATE TABLE raw_outcome_reports (
    chain_id         integer NOT NULL,
    block_number     bigint  NOT NULL,
    block_hash       text    NOT NULL,
    block_timestamp  timestamptz,
    tx_hash          text    NOT NULL,
    log_index        integer NOT NULL,
    contract_address text    NOT NULL,
    generation       smallint NOT NULL,
    market_id        text    NOT NULL,
    question_id      text    NOT NULL,
    outcome          boolean NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_outcome_reports_block ON raw_outcome_reports (chain_id, block_number);

-- Logs at watched addresses that could not be decoded: kept whole, with the reason.
CREATE TABLE raw_quarantine (
    chain_id         integer NOT NULL,
    block_number     bigint  NOT NULL,
    block_hash       text    NOT NULL,
    block_timestamp  timestamptz,
    tx_hash          text    NOT NULL,
    log_index        integer NOT NULL,
    contract_address text    NOT NULL,
    topics           text[]  NOT NULL,
    data             text    NOT NULL,
    reason           text    NOT NULL,
    quarantined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX raw_quarantine_block ON raw_quarantine (chain_id, block_number);
