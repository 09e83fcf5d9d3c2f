-- Gamma market metadata, one row per condition id (optional enrichment: may be empty).
with source as (
    select * from {{ source('gamma', 'raw_market_metadata') }}
)

select
    lower(condition_id)      as condition_id,
    question,
    slug,
    outcomes                 as outcome_names,
    clob_token_ids           as token_ids,
    end_date                 as end_at,
    closed                   as is_closed,
    neg_risk,
    uma_resolution_status,
    version                  as market_version,
    fetched_at
from source
