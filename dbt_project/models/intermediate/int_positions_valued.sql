{{ config(materialized='view') }}
-- Each wallet-token position valued now: resolved markets settle at the payout vector, open ones
-- are marked to int_tokens_marked. A view: marks move with every trade, so they are never stored.
with marked as (
    select
        p.*,
        r.condition_id is not null                                          as is_resolved,
        r.resolved_at,
        {{ payout_per_share('r.payout_fractions', 'p.outcome_index') }}     as payout_per_share,
        m.mark_price
    from {{ ref('int_positions_accumulated') }} as p
    left join {{ ref('int_conditions_resolved') }} as r on r.condition_id = p.condition_id
    left join {{ ref('int_tokens_marked') }} as m on m.token_id = p.token_id
),

valued as (
    select
        *,
        case when is_resolved then {{ settlement_value('shares', 'payout_per_share') }} end   as settlement_value,
        case when not is_resolved then {{ market_value('shares', 'mark_price') }} end        as market_value
    from marked
)

select
    *,
    settlement_value::numeric(38, 12)                                                         as settlement_value_usdc,
    coalesce(settlement_value - cost_basis_usdc, 0)::numeric(38, 12)                          as settlement_pnl_usdc,
    market_value::numeric(38, 12)                                                             as market_value_usdc,
    coalesce(market_value - cost_basis_usdc, 0)::numeric(38, 12)                              as unrealised_pnl_usdc,
    (realised_pnl_usdc + coalesce(settlement_value - cost_basis_usdc, 0)
        + coalesce(market_value - cost_basis_usdc, 0))::numeric(38, 12)                       as total_pnl_usdc
from valued
