{{
    config(
        materialized='incremental',
        incremental_strategy='replace_scope',
        replace_scope=keys_scope(['token_id']),
        on_schema_change='fail',
        pre_hook=["{{ trade_changes_begin() }}",
                  "{{ change_keys(['token_id'], ref('orderflow_trades')) }}"],
        post_hook="{{ trade_changes_commit() }}",
        indexes=[{'columns': ['token_id'], 'unique': true}],
    )
}}
-- Trading activity per outcome token: fills, market trades and volume counted once per match
-- (taker fills and direct fills), first and last trade, and the last traded price (the mark for
-- open positions). Incremental: counts and volume move by the deltas orderflow_trades logged for
-- the tokens it touched; the first trade too unless trades were removed; the last from the
-- trades index. Exact numerics, so a full refresh gives the same numbers.
-- depends_on: {{ ref('orderflow_trades') }}

{% if is_incremental() %}
with reset as (
    select is_reset from {{ of_tmp('reset') }}
),

deltas as (
    select token_id,
           sum(sign * fills) as fills,
           sum(sign * market_fills) as market_fills,
           sum(sign * market_usdc) as market_usdc,
           bool_or(sign < 0) as removed,
           min(first_trade_at) filter (where sign > 0) as added_first_trade_at
    from {{ of_tmp('changes') }}
    where not is_reset and not (select is_reset from reset)
    group by token_id
),

counted as (
    select
        d.token_id,
        coalesce(t.fills, 0) + d.fills                        as fills,
        coalesce(t.market_trades, 0) + d.market_fills         as market_trades,
        coalesce(t.market_volume_usdc, 0) + d.market_usdc     as market_volume_usdc,
        -- nothing removed: the first trade is the stored one or an added one (a log row written
        -- before first_trade_at was logged has none: read the index then)
        case when not d.removed and d.added_first_trade_at is not null
             then least(t.first_trade_at, d.added_first_trade_at) end as known_first_trade_at
    from deltas as d
    left join {{ this }} as t on t.token_id = d.token_id
    union all
    -- a full refresh of orderflow_trades upstream: count everything again
    select token_id, count(*), count(*) filter (where fill_role <> 'maker'),
           coalesce(sum(usdc_amount) filter (where fill_role <> 'maker'), 0),
           min(timestamp)
    from {{ ref('orderflow_trades') }}
    where (select is_reset from reset)
    group by token_id
)
{% else %}
with counted as (
    select token_id, count(*) as fills, count(*) filter (where fill_role <> 'maker') as market_trades,
           coalesce(sum(usdc_amount) filter (where fill_role <> 'maker'), 0) as market_volume_usdc,
           min(timestamp) as known_first_trade_at
    from {{ ref('orderflow_trades') }}
    group by token_id
)
{% endif %}

select
    c.token_id::numeric(78, 0)              as token_id,
    c.fills::bigint                         as fills,
    c.market_trades::bigint                 as market_trades,
    c.market_volume_usdc::numeric(78, 6)    as market_volume_usdc,
    coalesce(c.known_first_trade_at, first_fill.timestamp) as first_trade_at,
    last_fill.timestamp                     as last_trade_at,
    last_fill.price                         as last_price,
    last_fill.block_number                  as last_block_number,
    now()                                   as dbt_updated_at
from counted as c
-- index probes on orderflow_trades (token_id, block_number, log_index): the last fill of every
-- token (recent, cached pages), the first only where the counts above could not tell it (an
-- old, cold page each: most of this model's time when it probed every token)
left join lateral (
    select t.timestamp
    from {{ ref('orderflow_trades') }} as t
    where c.known_first_trade_at is null and t.token_id = c.token_id
    order by t.block_number, t.log_index
    limit 1
) as first_fill on true
cross join lateral (
    select t.timestamp, t.price, t.block_number
    from {{ ref('orderflow_trades') }} as t
    where t.token_id = c.token_id
    order by t.block_number desc, t.log_index desc
    limit 1
) as last_fill
where c.fills > 0
