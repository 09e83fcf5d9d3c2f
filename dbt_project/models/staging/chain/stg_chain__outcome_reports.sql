-- NegRiskAdapter OutcomeReported: a neg-risk question's result (true = YES won).
with source as (
    select * from {{ source('chain', 'raw_outcome_reports') }}
)

select
    chain_id,
    block_number,
    block_timestamp      as block_time,
    tx_hash,
    log_index,
    market_id            as neg_risk_market_id,
    question_id,
    outcome              as yes_won
from source
