{#
  One row per wallet per fill, from the wallet's own side: the derivation of orderflow_trades,
  shared with int_trades_since_refresh (the same rows for blocks landed since the last refresh).
  `fills` names a CTE of stg_chain__order_fills rows; this macro continues the WITH list
  after it and ends with the final select.
#}
{% macro trades_from_fills(fills) %}
exchanges as (
    select address from {{ ref('chain_contracts') }} where kind = 'exchange'
),

read_from_maker_side as (
    -- V1: maker_asset_id = 0 means the maker pays collateral, i.e. BUYs token taker_asset_id;
    -- otherwise it SELLs token maker_asset_id. V2: side 0 = BUY, 1 = SELL, token_id given.
    -- Both: on a BUY the maker amount is collateral and the taker amount shares; on a SELL the
    -- reverse. V1 takes its fee from what the maker receives (shares on a BUY, collateral on a
    -- SELL); V2 fees are collateral.
    select
        f.*,
        case
            when f.exchange_generation = 1 then case when f.maker_asset_id = 0 then 'BUY' else 'SELL' end
            when f.side_code = 0 then 'BUY'
            when f.side_code = 1 then 'SELL'
        end                                                             as side,
        case
            when f.exchange_generation = 1 then
                case when f.maker_asset_id = 0 then f.taker_asset_id else f.maker_asset_id end
            else f.token_id
        end                                                             as traded_token_id,
        f.taker_address in (select address from exchanges)              as is_taker
    from {{ fills }} as f
),

amounts as (
    select
        *,
        case side when 'BUY' then taker_amount else maker_amount end    as shares,
        case side when 'BUY' then maker_amount else taker_amount end    as usdc_amount,
        case when exchange_generation = 1 and side = 'BUY' then 'SHARES' else 'USDC' end as fee_unit
    from read_from_maker_side
),

next_taker_fill as (
    -- a maker fill belongs to the match whose taker fill comes next in its transaction
    select
        *,
        min(case when is_taker then log_index end) over (
            partition by chain_id, tx_hash, exchange_address
            order by log_index desc
            rows between unbounded preceding and current row
        )                                                               as next_taker_log_index
    from amounts
),

taker_fills as (
    select chain_id, tx_hash, log_index, maker_address
    from amounts
    where is_taker
),

matched as (
    select
        n.*,
        case
            when n.is_taker then n.log_index
            -- the resting order's fill names the taker order's maker as its taker
            when tf.maker_address = n.taker_address then tf.log_index
        end                                                             as match_log_index
    from next_taker_fill as n
    left join taker_fills as tf
      on tf.chain_id = n.chain_id and tf.tx_hash = n.tx_hash and tf.log_index = n.next_taker_log_index
),

makers_per_match as (
    select chain_id, tx_hash, match_log_index,
           min(maker_address) as first_maker, max(maker_address) as last_maker
    from matched
    where not is_taker and match_log_index is not null
    group by chain_id, tx_hash, match_log_index
)

select
    m.chain_id::integer                                                 as chain_id,
    m.tx_hash::text                                                     as tx_hash,
    m.log_index::integer                                                as log_index,
    m.block_number::bigint                                              as block_number,
    m.block_time::timestamptz                                           as timestamp,
    m.maker_address::text                                               as wallet_address,
    (case
        when not m.is_taker then m.taker_address
        when mm.first_maker = mm.last_maker then mm.first_maker
    end)::text                                                          as counterparty,
    tm.condition_id::text                                               as condition_id,
    m.traded_token_id::numeric(78, 0)                                   as token_id,
    tm.outcome_index::integer                                           as outcome_index,
    tm.outcome_name::text                                               as outcome_name,
    m.side::text                                                        as side,
    round(m.usdc_amount / nullif(m.shares, 0), 10)::numeric(20, 10)     as price,
    m.shares::numeric(78, 6)                                            as shares,
    m.usdc_amount::numeric(78, 6)                                       as usdc_amount,
    m.fee_amount::numeric(78, 6)                                        as fee,
    m.fee_unit::text                                                    as fee_unit,
    (case m.fee_unit
        when 'SHARES' then round(m.fee_amount * m.usdc_amount / nullif(m.shares, 0), 6)
        else m.fee_amount
    end)::numeric(78, 6)                                                as fee_usdc,
    m.exchange_generation::smallint                                     as exchange_generation,
    m.exchange_address::text                                            as exchange_address,
    m.neg_risk::boolean                                                 as neg_risk,
    m.is_taker::boolean                                                 as is_taker,
    (case
        when m.is_taker then 'taker'
        when m.match_log_index is not null then 'maker'
        else 'direct'
    end)::text                                                          as fill_role,
    m.match_log_index::integer                                          as match_log_index,
    m.order_hash::text                                                  as order_hash,
    now()                                                               as dbt_updated_at
from matched as m
left join makers_per_match as mm
  on mm.chain_id = m.chain_id and mm.tx_hash = m.tx_hash and mm.match_log_index = m.match_log_index
left join {{ ref('int_tokens_mapped_to_outcomes') }} as tm
  on tm.token_id = m.traded_token_id
{% endmacro %}
