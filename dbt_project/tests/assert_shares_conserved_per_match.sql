-- Conservation: shares bought = shares sold per token per match, net of mint/merge plumbing.
-- In a complementary match the taker's shares equal the makers' on the same token (net 0). When
-- makers are on the other outcome (MINT: buys of both; MERGE: sells of both) the exchange mints or
-- merges the same amount of every outcome, so the net bought (bought - sold) is equal for every
-- outcome of the condition. Checked on the matches the latest run derived.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'orderflow_trades'}}}) }}

with fills as (
    select t.*
    from {{ ref('orderflow_trades') }} as t
    where t.match_log_index is not null
      and {{ rows_of_latest_run(ref('orderflow_trades'), 't') }}
),

per_match as (
    select
        chain_id,
        tx_hash,
        match_log_index,
        count(distinct token_id)                                                     as tokens,
        count(*) filter (where outcome_index is null)                                as unattributed,
        coalesce(sum(case side when 'BUY' then shares else -shares end)
                 filter (where outcome_index = 0), 0)                                as net_bought_0,
        coalesce(sum(case side when 'BUY' then shares else -shares end)
                 filter (where outcome_index = 1), 0)                                as net_bought_1,
        sum(case side when 'BUY' then shares else -shares end)                       as net_bought_all
    from fills
    group by chain_id, tx_hash, match_log_index
)

select *
from per_match
where
    -- one token: what was bought was sold
    (tokens = 1 and abs(net_bought_all) > {{ var('conservation_tolerance_shares') }})
    -- both outcomes: minted (or merged) alike
    or (tokens > 1 and unattributed = 0
        and abs(net_bought_0 - net_bought_1) > {{ var('conservation_tolerance_shares') }})
