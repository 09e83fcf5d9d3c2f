-- The outcome token ids of every prepared condition, computed from the chain: one row per outcome.
with source as (
    select * from {{ source('chain', 'raw_condition_tokens') }}
)

select
    chain_id,
    block_number,
    block_timestamp      as block_time,
    tx_hash,
    log_index,
    condition_id,
    outcome_index::integer as outcome_index,
    token_id,
    collateral           as collateral_address,
    neg_risk
from source
