-- CTF ConditionPreparation: one row per market created.
with source as (
    select * from {{ source('chain', 'raw_conditions') }}
)

select
    chain_id,
    block_number,
    block_timestamp                  as block_time,
    tx_hash,
    log_index,
    condition_id,
    oracle                           as oracle_address,
    question_id,
    outcome_slot_count::integer      as outcome_slot_count
from source
