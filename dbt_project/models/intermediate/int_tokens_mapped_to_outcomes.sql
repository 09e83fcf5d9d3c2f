{# The view int_trades_since_refresh (trading) reads it: refilled in place, see materializations.sql #}
{{ config(materialized='table_in_place') }}
-- Every known outcome token -> its market (condition) and outcome.
-- Sources, best first: the ids computed from the chain for every prepared condition (exact),
-- Gamma's clobTokenIds (outcome order = Gamma's outcomes order), and V1 TokenRegistered
-- (names the condition, not which outcome: its token order is not YES then NO).
-- Outcome names come from Gamma; without it a binary market's outcomes are Yes (index set 1)
-- and No (index set 2), Polymarket's convention for outcome 0 and 1.
with chain_tokens as (
    select distinct on (token_id)
        token_id, condition_id, outcome_index, neg_risk
    from {{ ref('stg_chain__condition_tokens') }}
    order by token_id, block_number desc, log_index desc
),

gamma_tokens as (
    select distinct on (t.token_id)
        t.token_id,
        m.condition_id,
        (t.position - 1)::integer          as outcome_index,
        m.outcome_names[t.position]        as outcome_name,
        m.neg_risk
    from {{ ref('stg_gamma__markets') }} as m
    cross join lateral unnest(m.token_ids) with ordinality as t (token_id, position)
    order by t.token_id, m.fetched_at desc
),

registered_tokens as (
    select distinct on (token_id)
        token_id, condition_id, neg_risk
    from {{ ref('stg_chain__token_registrations') }}
    order by token_id, block_number desc, log_index desc
),

gamma_outcome_names as (
    select condition_id, outcome_index, outcome_name
    from gamma_tokens
    where outcome_name is not null
),

outcome_counts as (
    select condition_id, max(outcome_slot_count) as outcome_slot_count
    from {{ ref('stg_chain__conditions') }}
    group by condition_id
),

all_tokens as (
    select token_id from chain_tokens
    union
    select token_id from gamma_tokens
    union
    select token_id from registered_tokens
),

attributed as (
    select
        a.token_id,
        coalesce(c.condition_id, g.condition_id, r.condition_id)     as condition_id,
        coalesce(c.outcome_index, g.outcome_index)                  as outcome_index,
        coalesce(c.neg_risk, g.neg_risk, r.neg_risk)                as neg_risk,
        case
            when c.token_id is not null then 'chain'
            when g.token_id is not null then 'gamma'
            else 'registration'
        end                                                         as attribution_source
    from all_tokens as a
    left join chain_tokens as c on c.token_id = a.token_id
    left join gamma_tokens as g on g.token_id = a.token_id
    left join registered_tokens as r on r.token_id = a.token_id
)

select
    a.token_id,
    a.condition_id,
    a.outcome_index,
    coalesce(
        n.outcome_name,
        case when coalesce(oc.outcome_slot_count, 2) = 2 then
            case a.outcome_index when 0 then 'Yes' when 1 then 'No' end
        end
    )                                                               as outcome_name,
    a.neg_risk,
    a.attribution_source
from attributed as a
left join gamma_outcome_names as n
  on n.condition_id = a.condition_id and n.outcome_index = a.outcome_index
left join outcome_counts as oc on oc.condition_id = a.condition_id
