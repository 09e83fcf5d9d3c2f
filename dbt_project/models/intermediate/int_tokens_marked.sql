{# The view int_positions_valued (under orderflow_wallet_positions) reads it: refilled in place, see materializations.sql #}
{{ config(materialized='table_in_place') }}
-- The mark of every traded outcome token: its last traded price, or 1 minus its complement's
-- when it never traded itself (binary markets). What open positions are valued at.
with tokens as (
    select * from {{ ref('int_tokens_mapped_to_outcomes') }}
),

activity as (
    select * from {{ ref('int_trades_aggregated_to_tokens') }}
),

complements as (
    select t.token_id, c.token_id as complement_token_id
    from tokens as t
    join tokens as c
      on c.condition_id = t.condition_id and c.outcome_index = 1 - t.outcome_index
    where t.outcome_index in (0, 1)
),

candidates as (
    select token_id from activity
    union
    select c.token_id from complements as c join activity as a on a.token_id = c.complement_token_id
)

select
    k.token_id,
    coalesce(a.last_price, 1 - ca.last_price)::numeric(20, 10)      as mark_price,
    case when a.last_price is not null then 'last_trade' else 'complement' end as mark_source
from candidates as k
left join activity as a on a.token_id = k.token_id
left join complements as c on c.token_id = k.token_id
left join activity as ca on ca.token_id = c.complement_token_id
