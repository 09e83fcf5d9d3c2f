{{ config(materialized='view') }}
-- orderflow_trades' rows for the blocks landed since its last refresh, derived on read (the same
-- macro), so trading sees a whale's fill seconds after it lands instead of after the next dbt run.
-- Empty right after a refresh; reads only raw fills past orderflow_trades' newest block.
--
-- Trading reads this view on every tick, so it must not scan the fills: a bound on the fill's
-- own chain (a subquery per fill) cannot reach the fills' (chain_id, block_number, ...) key,
-- and made each read a scan of every landed fill (3.7 s at a million fills). Each chain's newest
-- trade block is read once (the chains found by probing the fills' key, then a backward probe of
-- orderflow_trades' (chain_id, block_number, log_index) key), and the smallest of them is an initplan
-- bound the key serves; the per-chain bound then filters the few fills it returns (under a
-- millisecond).

with recursive chains (chain_id) as (
    -- the raw table itself, not the staging view: through the view min() is not an index probe
    -- but a scan of every fill (0.7 s at 5M)
    select min(chain_id) from {{ source('chain', 'raw_order_fills') }}
    union all
    select (select min(f.chain_id) from {{ source('chain', 'raw_order_fills') }} as f where f.chain_id > c.chain_id)
    from chains as c
    where c.chain_id is not null
),

refreshed as (
    -- -1 for a chain with no trades yet: all its fills are new
    select
        c.chain_id,
        coalesce((select max(t.block_number) from {{ ref('orderflow_trades') }} as t where t.chain_id = c.chain_id), -1)
            as last_block
    from chains as c
    where c.chain_id is not null
),

fills as (
    select f.*
    from {{ ref('stg_chain__order_fills') }} as f
    where f.block_number > (select coalesce(min(r.last_block), -1) from refreshed as r)
      and f.block_number > (select r.last_block from refreshed as r where r.chain_id = f.chain_id)
),

{{ trades_from_fills('fills') }}
