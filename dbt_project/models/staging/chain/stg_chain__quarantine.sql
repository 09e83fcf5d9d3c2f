-- Logs at watched contracts that could not be decoded, with the reason.
with source as (
    select * from {{ source('chain', 'raw_quarantine') }}
)

select
    chain_id,
    block_number,
    block_timestamp      as block_time,
    tx_hash,
    log_index,
    contract_address,
    topics,
    data,
    reason,
    raw_log,
    quarantined_at
from source
