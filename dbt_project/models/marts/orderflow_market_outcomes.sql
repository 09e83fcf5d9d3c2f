{# orderflow_wallet_positions reads it: refilled in place, see materializations.sql #}
{{ config(
    materialized='table_in_place',
    indexes=[{'columns': ['condition_id'], 'unique': true}],
    analyze_columns=['condition_id', 'is_resolved'],
) }}
-- One row per market (condition): what it asks (when Gamma metadata is known; the title falls
-- back to the condition id), its outcomes and tokens, when it was created and resolved, how it
-- resolved, and its trading (trades and volume counted once per match).
with tokens as (
    select * from {{ ref('int_tokens_mapped_to_outcomes') }}
),

conditions as (
    select distinct on (condition_id)
        condition_id, block_number, block_time, outcome_slot_count, question_id, oracle_address
    from {{ ref('stg_chain__conditions') }}
    order by condition_id, block_number, log_index
),

gamma as (
    select distinct on (condition_id) *
    from {{ ref('stg_gamma__markets') }}
    order by condition_id, fetched_at desc
),

resolutions as (
    select * from {{ ref('int_conditions_resolved') }}
),

activity as (
    select
        t.condition_id,
        sum(a.market_trades)                                          as trade_count,
        sum(a.market_volume_usdc)                                     as volume_usdc,
        max(a.last_trade_at)                                          as last_trade_at,
        max(a.last_price) filter (where t.outcome_index = 0)          as outcome_0_last_price,
        max(a.last_price) filter (where t.outcome_index = 1)          as outcome_1_last_price
    from {{ ref('int_trades_aggregated_to_tokens') }} as a
    join tokens as t on t.token_id = a.token_id
    where t.condition_id is not null
    group by t.condition_id
),

outcome_tokens as (
    select
        condition_id,
        max(token_id) filter (where outcome_index = 0)                as outcome_0_token_id,
        max(token_id) filter (where outcome_index = 1)                as outcome_1_token_id,
        max(outcome_name) filter (where outcome_index = 0)            as outcome_0_name,
        max(outcome_name) filter (where outcome_index = 1)            as outcome_1_name,
        bool_or(neg_risk)                                             as neg_risk
    from tokens
    where condition_id is not null
    group by condition_id
),

markets as (
    select condition_id from conditions
    union
    select condition_id from outcome_tokens
    union
    select condition_id from resolutions
)

select
    m.condition_id::text                                                          as condition_id,
    coalesce(g.question, m.condition_id)::text                                    as title,
    g.question::text                                                              as question,
    g.slug::text                                                                  as slug,
    coalesce(c.outcome_slot_count, array_length(g.token_ids, 1), 2)::integer      as outcome_count,
    ot.outcome_0_name::text                                                       as outcome_0_name,
    ot.outcome_1_name::text                                                       as outcome_1_name,
    ot.outcome_0_token_id::numeric(78, 0)                                         as outcome_0_token_id,
    ot.outcome_1_token_id::numeric(78, 0)                                         as outcome_1_token_id,
    coalesce(ot.neg_risk, g.neg_risk)::boolean                                    as neg_risk,
    c.question_id::text                                                           as question_id,
    c.oracle_address::text                                                        as oracle_address,
    c.block_number::bigint                                                        as created_block,
    c.block_time::timestamptz                                                     as created_at,
    g.end_at::timestamptz                                                         as end_at,
    (r.condition_id is not null)::boolean                                         as is_resolved,
    r.payout_numerators::numeric(78, 0)[]                                         as payout_numerators,
    r.payout_fractions::numeric[]                                                 as payout_fractions,
    r.winning_outcome_index::integer                                              as winning_outcome_index,
    (case
        when r.is_split then 'SPLIT'
        when r.winning_outcome_index = 0 then coalesce(ot.outcome_0_name, 'outcome 0')
        when r.winning_outcome_index = 1 then coalesce(ot.outcome_1_name, 'outcome 1')
        when r.winning_outcome_index is not null then 'outcome ' || r.winning_outcome_index
    end)::text                                                                    as winning_outcome,
    r.resolved_block::bigint                                                      as resolved_block,
    r.resolved_at::timestamptz                                                    as resolved_at,
    g.uma_resolution_status::text                                                 as uma_resolution_status,
    coalesce(a.trade_count, 0)::bigint                                            as trade_count,
    coalesce(a.volume_usdc, 0)::numeric(78, 6)                                    as volume_usd,
    a.outcome_0_last_price::numeric(20, 10)                                       as outcome_0_last_price,
    a.outcome_1_last_price::numeric(20, 10)                                       as outcome_1_last_price,
    a.last_trade_at::timestamptz                                                  as last_trade_at
from markets as m
left join conditions as c on c.condition_id = m.condition_id
left join gamma as g on g.condition_id = m.condition_id
left join outcome_tokens as ot on ot.condition_id = m.condition_id
left join resolutions as r on r.condition_id = m.condition_id
left join activity as a on a.condition_id = m.condition_id
