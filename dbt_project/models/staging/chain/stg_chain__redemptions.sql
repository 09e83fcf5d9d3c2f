-- CTF PayoutRedemption: winnings claimed (collateral amounts scaled from 6 decimals).
with source as (
    select * from {{ source('chain', 'raw_redemptions') }}
)

select
    chain_id,
    block_number,
    block_timestamp          as block_time,
    tx_hash,
    log_index,
    redeemer                 as redeemer_address,
    collateral_token         as collateral_address,
    parent_collection_id,
    condition_id,
    index_sets,
    {{ scale_6('payout') }}  as payout_usdc
from source
