{{
    config(
        indexes=[
            {'columns': ['wallet_address'], 'unique': true},
            {'columns': ['trader_tier', 'reputation_score']},
        ],
        analyze_columns=['wallet_address', 'trader_tier', 'reputation_score', 'last_trade_at'],
    )
}}
-- One row per wallet that ever traded: honest statistics and its reputation (score, tier).
-- Rebuilt every run from the (incremental) wallet aggregates, the marks of now and the score
-- (see `reputation_formula`).
with wallets as (
    select
        a.*,
        a.realised_pnl_usdc + a.settlement_pnl_usdc                         as settled_pnl_usdc,
        coalesce(m.unrealised_pnl_usd, 0)                                   as unrealised_pnl_usdc
    from {{ ref('int_wallets_aggregated') }} as a
    left join {{ ref('int_wallets_marked_to_market') }} as m on m.wallet_address = a.wallet_address
)

select
    w.wallet_address::text                                                  as wallet_address,
    s.reputation_score::numeric(6, 3)                                       as reputation_score,
    s.trader_tier::text                                                     as trader_tier,
    (w.wins::numeric / nullif(w.wins + w.losses, 0))::numeric(6, 4)         as win_rate,
    w.trades::bigint                                                        as total_trades,
    round(w.settled_pnl_usdc + w.unrealised_pnl_usdc, 6)::numeric(38, 6)    as total_pnl_usd,
    w.last_trade_at::timestamptz                                            as last_trade_at,
    w.first_trade_at::timestamptz                                           as first_trade_at,
    w.volume_usdc::numeric(38, 6)                                           as total_volume_usd,
    w.markets_traded::bigint                                                as markets_traded,
    w.resolved_markets::bigint                                              as resolved_markets,
    w.wins::bigint                                                          as wins,
    w.losses::bigint                                                        as losses,
    round(w.settled_pnl_usdc, 6)::numeric(38, 6)                            as realised_pnl_usd,
    round(w.unrealised_pnl_usdc, 6)::numeric(38, 6)                         as unrealised_pnl_usd,
    round(w.fees_usdc, 6)::numeric(38, 6)                                   as fees_usd,
    round(w.capital_usdc, 6)::numeric(38, 6)                                as capital_usd,
    round((w.settled_pnl_usdc + w.unrealised_pnl_usdc)
          / nullif(w.capital_usdc, 0), 6)::numeric(20, 6)                   as roi,
    round(w.volume_usdc / nullif(w.trades, 0), 6)::numeric(38, 6)           as avg_trade_size_usd,
    (w.evidence_pnl_usdc / nullif(w.evidence_shares, 0))::double precision  as edge_over_entry,
    s.posterior_edge::double precision                                      as posterior_edge,
    s.posterior_edge_sd::double precision                                   as posterior_edge_sd,
    s.evidence_weight::double precision                                     as evidence_weight,
    s.capital_at_risk_usd::numeric(38, 6)                                   as capital_at_risk_usd,
    s.is_market_maker::boolean                                              as is_market_maker,
    w.taker_trades::bigint                                                  as taker_trades,
    s.scored_at::timestamptz                                                as scored_at
from wallets as w
join {{ ref('int_wallets_scored') }} as s on s.wallet_address = w.wallet_address
