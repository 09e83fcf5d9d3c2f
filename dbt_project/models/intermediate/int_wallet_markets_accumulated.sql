{{
    config(
        materialized='incremental',
        incremental_strategy='replace_scope',
        replace_scope='using ' ~ of_tmp('pairs') ~ ' as k
            where t.wallet_address = k.wallet_address and t.market_key = k.market_key',
        replace_log='wallet_markets_log_changes',
        on_schema_change='fail',
        pre_hook="{{ wallet_markets_begin(ref('int_conditions_resolved'), ref('int_positions_accumulated'),
                                          ref('int_tokens_mapped_to_outcomes')) }}",
        post_hook="{{ wallet_markets_commit(ref('int_conditions_resolved')) }}",
        indexes=[
            {'columns': ['wallet_address', 'market_key'], 'unique': true},
            {'columns': ['dbt_updated_at']},
        ],
    )
}}
-- One row per wallet per market: its positions in the market's outcomes added up, the P&L no
-- mark moves (realised, and settled when the market resolved) and, for a resolved market it
-- opened a position in, the evidence about its edge (`reputation_formula`): the edge per share
-- and its decay weight stored at the epoch. Tokens not yet attributed to a condition stand alone
-- (market_key 'token:<id>').
-- Incremental: rebuilt for the (wallet, market) pairs whose positions changed or whose market
-- resolved; what it replaces and inserts is logged for int_wallets_aggregated.
-- depends_on: {{ ref('int_tokens_mapped_to_outcomes') }}

with positions as (
    select p.*, coalesce(p.condition_id, 'token:' || p.token_id::text) as market_key
    from {{ ref('int_positions_accumulated') }} as p
    {% if is_incremental() %}
    -- both ways through the positions' (wallet, token) key: a market's tokens (pair_tokens, see
    -- wallet_markets_begin; a token's position has the condition the map gives it, as its trades
    -- were attributed with that map earlier in the run), or a token standing alone. (A check
    -- `p.condition_id = k.market_key` here made the planner expect one row and join the
    -- resolutions by nested loop: 30 s.)
    join {{ of_tmp('pair_tokens') }} as k
      on k.wallet_address = p.wallet_address and k.token_id = p.token_id
    union all
    select p.*, 'token:' || p.token_id::text
    from {{ ref('int_positions_accumulated') }} as p
    join {{ of_tmp('pairs') }} as k
      on k.wallet_address = p.wallet_address
     and k.market_key like 'token:%' and p.token_id = substr(k.market_key, 7)::numeric
    where p.condition_id is null
    {% endif %}
),

valued as (
    select
        po.*,
        r.resolved_at,
        case when r.condition_id is not null then
            {{ settlement_value('po.shares', payout_per_share('r.payout_fractions', 'po.outcome_index')) }}
            - po.cost_basis_usdc
        end                                                         as settlement_pnl_usdc
    from positions as po
    left join {{ ref('int_conditions_resolved') }} as r on r.condition_id = po.condition_id
),

markets as (
    select
        wallet_address,
        market_key,
        max(condition_id)                                           as condition_id,
        max(resolved_at)                                            as resolved_at,
        min(first_trade_at)                                         as first_trade_at,
        max(last_trade_at)                                          as last_trade_at,
        sum(trades)                                                 as trades,
        sum(taker_trades)                                           as taker_trades,
        sum(volume_usdc)                                            as volume_usdc,
        sum(fees_usdc)                                              as fees_usdc,
        sum(realised_pnl_usdc)                                      as realised_pnl_usdc,
        coalesce(sum(settlement_pnl_usdc), 0)                       as settlement_pnl_usdc,
        sum(capital_usdc)                                           as capital_usdc,
        sum(shares_bought)                                          as shares_bought,
        sum(shares_sold)                                            as shares_sold,
        sum(abs(shares))                                            as inventory_shares,
        sum(shares_opened)                                          as shares_opened
    from valued
    group by wallet_address, market_key
),

evidence as (
    select
        *,
        realised_pnl_usdc + settlement_pnl_usdc                     as settled_pnl_usdc,
        resolved_at is not null and shares_opened > 0               as is_evidence
    from markets
)

select
    wallet_address::text                                            as wallet_address,
    market_key::text                                                as market_key,
    condition_id::text                                              as condition_id,
    resolved_at,
    first_trade_at,
    last_trade_at,
    trades::bigint                                                  as trades,
    taker_trades::bigint                                            as taker_trades,
    volume_usdc::numeric(38, 6)                                     as volume_usdc,
    fees_usdc::numeric(38, 6)                                       as fees_usdc,
    realised_pnl_usdc::numeric(38, 12)                              as realised_pnl_usdc,
    settlement_pnl_usdc::numeric(38, 12)                            as settlement_pnl_usdc,
    settled_pnl_usdc::numeric(38, 12)                               as settled_pnl_usdc,
    capital_usdc::numeric(38, 12)                                   as capital_usdc,
    shares_bought::numeric(38, 6)                                   as shares_bought,
    shares_sold::numeric(38, 6)                                     as shares_sold,
    inventory_shares::numeric(38, 6)                                as inventory_shares,
    shares_opened::numeric(38, 6)                                   as shares_opened,
    is_evidence,
    is_evidence and settled_pnl_usdc > 0                            as is_win,
    is_evidence and settled_pnl_usdc < 0                            as is_loss,
    case when is_evidence then {{ market_edge('settled_pnl_usdc', 'shares_opened') }} end         as edge,
    -- numeric, so that sums moved by deltas equal sums rebuilt from scratch, to the last digit
    case when is_evidence then ({{ evidence_weight_at_epoch('resolved_at') }})::numeric end      as weight_at_epoch,
    case when is_evidence then ({{ evidence_weight_at_epoch('resolved_at') }}
                                * {{ market_edge('settled_pnl_usdc', 'shares_opened') }})::numeric end
                                                                    as weighted_edge_at_epoch,
    case when is_evidence then ({{ evidence_weight_at_epoch('resolved_at') }}
                                * {{ market_edge('settled_pnl_usdc', 'shares_opened') }} ^ 2)::numeric end
                                                                    as weighted_edge_sq_at_epoch,
    now()                                                           as dbt_updated_at
from evidence
{{ in_key_order(['wallet_address', 'market_key']) }}
