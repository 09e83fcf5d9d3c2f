-- One row per OrderFilled log, renamed and cast; amounts scaled from 6 decimals.
-- V1 carries maker/taker asset ids, V2 a side and a token id: interpreting them is int_'s job.
with source as (
    select * from {{ source('chain', 'raw_order_fills') }}
)

select
    chain_id,
    block_number,
    block_hash,
    block_timestamp                          as block_time,
    tx_hash,
    log_index,
    contract_address                         as exchange_address,
    generation                               as exchange_generation,
    neg_risk,
    order_hash,
    maker                                    as maker_address,
    taker                                    as taker_address,
    maker_asset_id,
    taker_asset_id,
    side                                     as side_code,
    token_id,
    {{ scale_6('maker_amount_filled') }}     as maker_amount,
    {{ scale_6('taker_amount_filled') }}     as taker_amount,
    {{ scale_6('fee') }}                     as fee_amount,
    builder,
    metadata
from source
