-- One row per OrdersMatched log (the taker order's view of its match), renamed and cast.
with source as (
    select * from {{ source('chain', 'raw_orders_matched') }}
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
    taker_order_hash,
    taker_order_maker                        as taker_address,
    maker_asset_id,
    taker_asset_id,
    side                                     as side_code,
    token_id,
    {{ scale_6('maker_amount_filled') }}     as maker_amount,
    {{ scale_6('taker_amount_filled') }}     as taker_amount
from source
