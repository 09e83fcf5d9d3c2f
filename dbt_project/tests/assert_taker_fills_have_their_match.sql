-- Every taker fill (taker = an exchange) is followed by its OrdersMatched with the same taker,
-- token and amounts; and no OrdersMatched is left without its taker fill. Checked on the blocks
-- the latest run derived.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'orderflow_trades'}}}) }}

with taker_fills as (
    select t.*
    from {{ ref('orderflow_trades') }} as t
    where t.fill_role = 'taker'
      and {{ rows_of_latest_run(ref('orderflow_trades'), 't') }}
),

blocks as (
    select distinct chain_id, block_number from taker_fills
),

matches as (
    -- the blocks' bounds as initplan parameters let the planner reach the matches through the
    -- (chain_id, block_number) index: it misjudges how many rows this run wrote (a subquery) and
    -- would otherwise scan every OrdersMatched (1.8M rows, 2 s, at 5M fills)
    select m.*
    from {{ ref('stg_chain__orders_matched') }} as m
    join blocks as b on b.chain_id = m.chain_id and b.block_number = m.block_number
    where m.chain_id = any(array(select distinct chain_id from blocks))
      and m.block_number >= (select min(block_number) from blocks)
      and m.block_number <= (select max(block_number) from blocks)
)

select
    coalesce(f.tx_hash, m.tx_hash)      as tx_hash,
    f.log_index                         as taker_fill_log_index,
    m.log_index                         as orders_matched_log_index
from taker_fills as f
full join matches as m
  on m.chain_id = f.chain_id and m.tx_hash = f.tx_hash and m.log_index = f.log_index + 1
where f.tx_hash is null
   or m.tx_hash is null
   or m.taker_address <> f.wallet_address
   or coalesce(m.token_id, nullif(m.maker_asset_id, 0), m.taker_asset_id) <> f.token_id
   or (case f.side when 'BUY' then m.taker_amount else m.maker_amount end) <> f.shares
