{# One process: the scan runs beside the wallet-market chain on the critical path; parallel
   workers took its CPU and did not make this model faster (measured at 5M positions). #}
{{ config(pre_hook="set local max_parallel_workers_per_gather = 0") }}
-- Per wallet, its open positions at the marks of now: market value and unrealised P&L.
-- Rebuilt every run (marks move with every trade): one pass over the positions, joined to the
-- marks of the tokens whose market is still open (a token not yet attributed to a condition
-- counts as open). A position without a mark adds nothing, as before: no market value, and
-- unrealised P&L 0 (wallet stats read a missing wallet as 0). One small hash of open marks is
-- cheaper than anti-joining every position with the resolutions (measured at 5M positions:
-- 2.4 s -> 2.15 s on Postgres 18, 4.6 s -> 3.4 s on 15).
with open_marks as (
    select m.token_id, m.mark_price
    from {{ ref('int_tokens_marked') }} as m
    left join {{ ref('int_tokens_mapped_to_outcomes') }} as t on t.token_id = m.token_id
    where not exists (select 1 from {{ ref('int_conditions_resolved') }} as r where r.condition_id = t.condition_id)
)

select
    p.wallet_address,
    sum({{ market_value('p.shares', 'o.mark_price') }})::numeric(38, 12)                      as market_value_usd,
    sum({{ market_value('p.shares', 'o.mark_price') }} - p.cost_basis_usdc)::numeric(38, 12)  as unrealised_pnl_usd
from {{ ref('int_positions_accumulated') }} as p
join open_marks as o on o.token_id = p.token_id
where p.shares <> 0 or p.cost_basis_usdc <> 0
group by p.wallet_address
