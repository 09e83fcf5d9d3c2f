{{
    config(
        materialized='incremental',
        incremental_strategy='replace_scope',
        replace_scope=keys_scope(['wallet_address']),
        on_schema_change='fail',
        pre_hook="{{ wallets_begin(ref('int_wallet_markets_accumulated')) }}",
        post_hook="{{ trade_changes_commit() }}",
        indexes=[
            {'columns': ['wallet_address'], 'unique': true},
            {'columns': ['dbt_updated_at']},
        ],
    )
}}
-- One row per wallet: its trading totals, its P&L that no mark moves (realised, and settled in
-- resolved markets), and the evidence of its resolved markets for the reputation
-- (`reputation_formula`): count, decay weights stored at the epoch, weighted sums of edges.
-- Incremental: every measure is a sum over the wallet's markets (exact numerics), so a run adds
-- the deltas int_wallet_markets_accumulated logged (old rows -1, new rows +1) to the stored
-- totals; only a change to the market holding a wallet's first or last trade re-reads its markets.
-- depends_on: {{ ref('int_wallet_markets_accumulated') }}

{# (column, what the change log carries, how a rebuild adds up the wallet-market rows) #}
{% set measures = [
    ('trades', 'trades', 'sum(trades)'),
    ('taker_trades', 'taker_trades', 'sum(taker_trades)'),
    ('volume_usdc', 'volume_usdc', 'sum(volume_usdc)'),
    ('fees_usdc', 'fees_usdc', 'sum(fees_usdc)'),
    ('realised_pnl_usdc', 'realised_pnl_usdc', 'sum(realised_pnl_usdc)'),
    ('settlement_pnl_usdc', 'settlement_pnl_usdc', 'sum(settlement_pnl_usdc)'),
    ('capital_usdc', 'capital_usdc', 'sum(capital_usdc)'),
    ('shares_bought', 'shares_bought', 'sum(shares_bought)'),
    ('shares_sold', 'shares_sold', 'sum(shares_sold)'),
    ('inventory_shares', 'inventory_shares', 'sum(inventory_shares)'),
    ('markets_traded', '1', 'count(*)'),
    ('resolved_markets', 'is_evidence', 'count(*) filter (where is_evidence)'),
    ('wins', 'is_win', 'count(*) filter (where is_win)'),
    ('losses', 'is_loss', 'count(*) filter (where is_loss)'),
    ('evidence_pnl_usdc', 'evidence_pnl_usdc', 'sum(settled_pnl_usdc) filter (where is_evidence)'),
    ('evidence_shares', 'evidence_shares', 'sum(shares_opened) filter (where is_evidence)'),
    ('evidence_weight_at_epoch', 'weight_at_epoch', 'sum(weight_at_epoch)'),
    ('weighted_edge_sum_at_epoch', 'weighted_edge_at_epoch', 'sum(weighted_edge_at_epoch)'),
    ('weighted_edge_sq_sum_at_epoch', 'weighted_edge_sq_at_epoch', 'sum(weighted_edge_sq_at_epoch)'),
] %}

with
{% if is_incremental() %}
changes as (
    select * from {{ of_tmp('changes') }}
    where not is_reset and not (select is_reset from {{ of_tmp('reset') }})
),

deltas as (
    select
        wallet_address,
        {%- for name, logged, _ in measures %}
        sum(sign * coalesce({{ logged }}, 0))                       as {{ name }},
        {%- endfor %}
        min(first_trade_at) filter (where sign = 1)                 as added_first_trade_at,
        max(last_trade_at) filter (where sign = 1)                  as added_last_trade_at,
        min(first_trade_at) filter (where sign = -1)                as removed_first_trade_at,
        max(last_trade_at) filter (where sign = -1)                 as removed_last_trade_at
    from changes
    group by wallet_address
),

moved as (
    select
        d.wallet_address,
        {%- for name, _, _ in measures %}
        coalesce(o.{{ name }}, 0) + d.{{ name }}                    as {{ name }},
        {%- endfor %}
        -- extremes move by least / greatest, unless the market holding one was replaced
        case when o.wallet_address is null or d.removed_first_trade_at is null
                  or d.removed_first_trade_at > o.first_trade_at
             then least(o.first_trade_at, d.added_first_trade_at)
             else (select min(w.first_trade_at) from {{ ref('int_wallet_markets_accumulated') }} as w
                   where w.wallet_address = d.wallet_address) end  as first_trade_at,
        case when o.wallet_address is null or d.removed_last_trade_at is null
                  or d.removed_last_trade_at < o.last_trade_at
             then greatest(o.last_trade_at, d.added_last_trade_at)
             else (select max(w.last_trade_at) from {{ ref('int_wallet_markets_accumulated') }} as w
                   where w.wallet_address = d.wallet_address) end  as last_trade_at
    from deltas as d
    left join {{ this }} as o on o.wallet_address = d.wallet_address
),
{% endif %}

rebuilt as (
    -- a full build, or a reset upstream: add up every wallet's markets
    select
        wallet_address,
        {%- for name, _, rebuild in measures %}
        coalesce({{ rebuild }}, 0)                                  as {{ name }},
        {%- endfor %}
        min(first_trade_at)                                         as first_trade_at,
        max(last_trade_at)                                          as last_trade_at
    from {{ ref('int_wallet_markets_accumulated') }}
    {% if is_incremental() %}
    where (select is_reset from {{ of_tmp('reset') }})
    {% endif %}
    group by wallet_address
),

wallets as (
    {% if is_incremental() %}
    select * from moved
    union all
    {% endif %}
    select * from rebuilt
)

select
    wallet_address::text                                            as wallet_address,
    trades::bigint                                                  as trades,
    taker_trades::bigint                                            as taker_trades,
    volume_usdc::numeric(38, 6)                                     as volume_usdc,
    fees_usdc::numeric(38, 6)                                       as fees_usdc,
    first_trade_at,
    last_trade_at,
    markets_traded::bigint                                          as markets_traded,
    resolved_markets::bigint                                        as resolved_markets,
    wins::bigint                                                    as wins,
    losses::bigint                                                  as losses,
    realised_pnl_usdc::numeric(38, 12)                              as realised_pnl_usdc,
    settlement_pnl_usdc::numeric(38, 12)                            as settlement_pnl_usdc,
    capital_usdc::numeric(38, 12)                                   as capital_usdc,
    shares_bought::numeric(38, 6)                                   as shares_bought,
    shares_sold::numeric(38, 6)                                     as shares_sold,
    inventory_shares::numeric(38, 6)                                as inventory_shares,
    evidence_pnl_usdc::numeric(38, 12)                              as evidence_pnl_usdc,
    evidence_shares::numeric(38, 6)                                 as evidence_shares,
    evidence_weight_at_epoch::numeric                               as evidence_weight_at_epoch,
    weighted_edge_sum_at_epoch::numeric                             as weighted_edge_sum_at_epoch,
    weighted_edge_sq_sum_at_epoch::numeric                          as weighted_edge_sq_sum_at_epoch,
    {{ var('evidence_half_life_days') }}::double precision          as half_life_days,
    '{{ var("evidence_epoch") }}'::timestamptz                      as evidence_epoch,
    now()                                                           as dbt_updated_at
from wallets
where markets_traded > 0
{{ in_key_order(['wallet_address']) }}
