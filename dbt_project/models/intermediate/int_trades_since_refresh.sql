{{ config(materialized='view') }}
-- orderflow_trades' rows for the blocks landed since its last refresh, derived on read (the same
-- macro), so trading sees a whale's fill seconds after it lands instead of after the next dbt run.
-- Empty right after a refresh; reads only raw fills past orderflow_trades' newest block.

with fills as (
    select f.*
    from {{ ref('stg_chain__order_fills') }} as f
    where f.block_number > coalesce(
        (select max(t.block_number) from {{ ref('orderflow_trades') }} as t where t.chain_id = f.chain_id), -1)
),

{{ trades_from_fills('fills') }}
