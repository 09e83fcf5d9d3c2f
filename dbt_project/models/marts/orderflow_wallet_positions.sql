{{ config(materialized='view') }}
-- Positions and P&L per wallet per market, valued now (open markets at the last traded price,
-- resolved ones at the payout vector). A view over the incremental wallet-token positions:
-- filter it by wallet_address or condition_id.
select
    p.wallet_address::text                                 as wallet_address,
    p.market_key::text                                     as market_key,
    p.condition_id::text                                   as condition_id,
    coalesce(m.title, p.market_key)::text                  as title,
    p.outcome_0_shares::numeric(78, 6)                            as outcome_0_shares,
    p.outcome_0_avg_cost::numeric(38, 12)                          as outcome_0_avg_cost,
    p.outcome_1_shares::numeric(78, 6)                            as outcome_1_shares,
    p.outcome_1_avg_cost::numeric(38, 12)                          as outcome_1_avg_cost,
    p.cost_basis_usdc::numeric(38, 12)                             as cost_basis_usd,
    p.capital_usdc::numeric(38, 12)                                as capital_usd,
    p.realised_pnl_usdc::numeric(38, 12)                           as realised_pnl_usd,
    p.fees_usdc::numeric(78, 6)                                   as fees_usd,
    p.is_resolved::boolean                                 as is_resolved,
    m.payout_numerators::numeric(78, 0)[]                  as payout_numerators,
    p.resolved_at::timestamptz                             as resolved_at,
    p.settlement_value_usdc::numeric(38, 12)                       as settlement_value_usd,
    p.settlement_pnl_usdc::numeric(38, 12)                         as settlement_pnl_usd,
    p.market_value_usdc::numeric(38, 12)                           as market_value_usd,
    p.unrealised_pnl_usdc::numeric(38, 12)                         as unrealised_pnl_usd,
    p.total_pnl_usdc::numeric(38, 12)                              as total_pnl_usd,
    (case when p.is_resolved
          then p.total_pnl_usdc / nullif(p.shares_opened, 0) end)::numeric(38, 12) as edge_per_share,
    p.trades::bigint                                       as trades,
    p.volume_usdc::numeric(78, 6)                                 as volume_usd,
    p.first_trade_at::timestamptz                          as first_trade_at,
    p.last_trade_at::timestamptz                           as last_trade_at
from {{ ref('int_wallet_markets_valued') }} as p
left join {{ ref('orderflow_market_outcomes') }} as m on m.condition_id = p.condition_id
