{{ config(materialized='view') }}
-- Positions and P&L per wallet per market: the wallet-token positions of one condition side by
-- side. Tokens not yet attributed to a condition stand alone (market_key 'token:<id>').
with positions as (
    select
        *,
        coalesce(condition_id, 'token:' || token_id::text) as market_key
    from {{ ref('int_positions_valued') }}
)

select
    wallet_address,
    market_key,
    max(condition_id)                                                       as condition_id,
    sum(shares) filter (where outcome_index = 0)                            as outcome_0_shares,
    sum(cost_basis_usdc) filter (where outcome_index = 0)
        / nullif(sum(shares) filter (where outcome_index = 0), 0)           as outcome_0_avg_cost,
    sum(shares) filter (where outcome_index = 1)                            as outcome_1_shares,
    sum(cost_basis_usdc) filter (where outcome_index = 1)
        / nullif(sum(shares) filter (where outcome_index = 1), 0)           as outcome_1_avg_cost,
    sum(cost_basis_usdc)                                                    as cost_basis_usdc,
    sum(capital_usdc)                                                       as capital_usdc,
    sum(shares_opened)                                                      as shares_opened,
    sum(realised_pnl_usdc)                                                  as realised_pnl_usdc,
    sum(fees_usdc)                                                          as fees_usdc,
    bool_or(is_resolved)                                                    as is_resolved,
    max(resolved_at)                                                        as resolved_at,
    sum(settlement_value_usdc)                                              as settlement_value_usdc,
    sum(settlement_pnl_usdc)                                                as settlement_pnl_usdc,
    sum(market_value_usdc)                                                  as market_value_usdc,
    sum(unrealised_pnl_usdc)                                                as unrealised_pnl_usdc,
    sum(total_pnl_usdc)                                                     as total_pnl_usdc,
    sum(trades)                                                             as trades,
    sum(taker_trades)                                                       as taker_trades,
    sum(shares_bought)                                                      as shares_bought,
    sum(shares_sold)                                                        as shares_sold,
    sum(abs(shares))                                                        as inventory_shares,
    sum(volume_usdc)                                                        as volume_usdc,
    min(first_trade_at)                                                     as first_trade_at,
    max(last_trade_at)                                                      as last_trade_at
from positions
group by wallet_address, market_key
