{# The view int_positions_valued (under orderflow_wallet_positions) reads it: refilled in place, see materializations.sql #}
{{ config(materialized='table_in_place') }}
-- One row per resolved condition: its payout vector as fractions of the whole.
-- Payout per share of outcome i = payoutNumerators[i] / sum(payoutNumerators): [1,0] = outcome 0
-- won, [0,1] = outcome 1 won, [1,1] = split 50/50. The CTF accepts one report per condition; if
-- the chain ever shows two, the latest wins.
with resolutions as (
    select distinct on (condition_id)
        condition_id, payout_numerators, block_number, block_time
    from {{ ref('stg_chain__resolutions') }}
    order by condition_id, block_number desc, log_index desc
),

outcomes as (
    select
        r.condition_id,
        (p.position - 1)::integer                           as outcome_index,
        p.numerator,
        sum(p.numerator) over (partition by r.condition_id)  as denominator
    from resolutions as r
    cross join lateral unnest(r.payout_numerators) with ordinality as p (numerator, position)
),

fractions as (
    select
        condition_id,
        array_agg(case when denominator > 0 then numerator / denominator end
                  order by outcome_index)::numeric(38, 20)[] as payout_fractions,
        count(*) filter (where numerator > 0)               as paying_outcomes,
        min(outcome_index) filter (where numerator > 0)     as first_paying_outcome
    from outcomes
    group by condition_id
)

select
    r.condition_id,
    r.payout_numerators,
    f.payout_fractions,
    case when f.paying_outcomes = 1 then f.first_paying_outcome end   as winning_outcome_index,
    f.paying_outcomes > 1                                              as is_split,
    r.block_number                                                     as resolved_block,
    r.block_time                                                       as resolved_at
from resolutions as r
join fractions as f on f.condition_id = r.condition_id
