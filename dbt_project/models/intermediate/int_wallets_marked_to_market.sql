-- Per wallet, its open positions at the marks of now: market value and unrealised P&L.
-- Rebuilt every run (marks move with every trade): one narrow pass over the positions.
select
    p.wallet_address,
    sum({{ market_value('p.shares', 'm.mark_price') }})::numeric(38, 12)                      as market_value_usd,
    sum(coalesce({{ market_value('p.shares', 'm.mark_price') }} - p.cost_basis_usdc, 0))::numeric(38, 12)
                                                                                              as unrealised_pnl_usd
from {{ ref('int_positions_accumulated') }} as p
left join {{ ref('int_tokens_marked') }} as m on m.token_id = p.token_id
where (p.shares <> 0 or p.cost_basis_usdc <> 0)
  and not exists (select 1 from {{ ref('int_conditions_resolved') }} as r where r.condition_id = p.condition_id)
group by p.wallet_address
