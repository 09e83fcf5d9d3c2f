-- V1 TokenRegistered: each condition is logged in both directions (token0, token1) and (token1, token0).
with source as (
    select * from {{ source('chain', 'raw_token_registrations') }}
)

select
    chain_id,
    block_number,
    block_timestamp      as block_time,
    tx_hash,
    log_index,
    contract_address     as exchange_address,
    generation           as exchange_generation,
    neg_risk,
    token0               as token_id,
    token1               as complement_token_id,
    condition_id
from source
