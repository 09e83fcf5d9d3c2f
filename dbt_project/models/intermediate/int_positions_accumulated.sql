{{
    config(
        materialized='incremental',
        incremental_strategy='replace_scope',
        replace_scope=keys_scope(['wallet_address', 'token_id']),
        on_schema_change='fail',
        pre_hook=["{{ trade_changes_begin() }}",
                  "{{ change_keys(['wallet_address', 'token_id'], ref('orderflow_trades')) }}"],
        post_hook="{{ trade_changes_commit() }}",
        indexes=[
            {'columns': ['wallet_address', 'token_id'], 'unique': true},
            {'columns': ['condition_id']},
            {'columns': ['dbt_updated_at']},
        ],
    )
}}
-- One row per wallet per outcome token: the position its fills built, by average cost.
-- Every fill in block order through orderflow_position (see `position_accounting`): shares held
-- (negative = sold beyond what the exchange ever gave it, i.e. shares from a split), cost basis,
-- realised P&L on the part closed, capital put at risk. Fees are inside the cash flows: a V1 BUY
-- receives shares minus the share fee, a SELL receives collateral minus the collateral fee, a V2
-- BUY pays collateral plus the fee.
-- Incremental: only the (wallet, token) pairs orderflow_trades touched are rebuilt, from all their fills.

with fills as (
    select t.*
    from {{ ref('orderflow_trades') }} as t
    {% if is_incremental() %}
    join {{ of_tmp('keys') }} as k on k.wallet_address = t.wallet_address and k.token_id = t.token_id
    {% endif %}
),

flows as (
    select
        *,
        case side
            when 'BUY' then shares - case when fee_unit = 'SHARES' then fee else 0 end
            else -shares
        end                                                         as delta_shares,
        case side
            when 'BUY' then -usdc_amount - case when fee_unit = 'USDC' then fee else 0 end
            else usdc_amount - case when fee_unit = 'USDC' then fee else 0 end
        end                                                         as cash
    from fills
),

accumulated as (
    select
        wallet_address,
        token_id,
        max(condition_id)                                           as condition_id,
        max(outcome_index)                                          as outcome_index,
        count(*)                                                    as trades,
        count(*) filter (where is_taker)                            as taker_trades,
        count(*) filter (where side = 'BUY')                        as buys,
        count(*) filter (where side = 'SELL')                       as sells,
        coalesce(sum(shares) filter (where side = 'BUY'), 0)        as shares_bought,
        coalesce(sum(shares) filter (where side = 'SELL'), 0)       as shares_sold,
        sum(usdc_amount)                                            as volume_usdc,
        sum(fee_usdc)                                               as fees_usdc,
        min(timestamp)                                              as first_trade_at,
        max(timestamp)                                              as last_trade_at,
        {{ target.schema }}.orderflow_position(delta_shares, cash order by chain_id, block_number, log_index) as state
    from flows
    group by wallet_address, token_id
)

select
    wallet_address::text                        as wallet_address,
    token_id::numeric(78, 0)                    as token_id,
    condition_id::text                          as condition_id,
    outcome_index::integer                      as outcome_index,
    trades::bigint                              as trades,
    taker_trades::bigint                        as taker_trades,
    buys::bigint                                as buys,
    sells::bigint                               as sells,
    shares_bought::numeric(78, 6)               as shares_bought,
    shares_sold::numeric(78, 6)                 as shares_sold,
    volume_usdc::numeric(78, 6)                 as volume_usdc,
    fees_usdc::numeric(78, 6)                   as fees_usdc,
    first_trade_at,
    last_trade_at,
    state[1]::numeric(78, 6)                    as shares,
    -- average-cost arithmetic divides: 12 decimals of a dollar is plenty, and a fixed scale
    state[2]::numeric(38, 12)                   as cost_basis_usdc,
    state[3]::numeric(38, 12)                   as realised_pnl_usdc,
    state[4]::numeric(38, 12)                   as capital_usdc,
    state[5]::numeric(78, 6)                    as shares_opened,
    now()                                       as dbt_updated_at
from accumulated
{{ in_key_order(['wallet_address', 'token_id']) }}
