{{
    config(
        materialized='incremental',
        incremental_strategy='replace_scope',
        replace_scope='where ' ~ in_scope_blocks('t'),
        on_schema_change='fail',
        pre_hook="{{ trades_begin(ref('int_tokens_mapped_to_outcomes')) }}",
        post_hook="{{ trades_commit(ref('int_tokens_mapped_to_outcomes')) }}",
        indexes=[
            {'columns': ['chain_id', 'block_number', 'log_index'], 'unique': true},
            {'columns': ['token_id', 'block_number', 'log_index']},
            {'columns': ['wallet_address', 'token_id']},
            {'columns': ['timestamp']},
            {'columns': ['dbt_updated_at']},
        ],
    )
}}
-- One row per wallet per fill, from the wallet's own side: the maker of every OrderFilled.
-- In a match each resting order's fill names its maker, and the taker order's own fill (taker =
-- the exchange) names the taker, so crediting every fill's maker counts each wallet's side once;
-- market volume counts only the taker fills (and direct fills by the operator, which have no
-- OrdersMatched). Incremental: re-derives whole block ranges, see `incremental_design`.
-- Keyed by the fill's position, (chain_id, block_number, log_index), like raw_order_fills
-- (migrations/0007): the same fill as (chain_id, tx_hash, log_index), which stays its identity
-- (its data test checks it), but new trades go to the index's right-hand end instead of
-- random leaves of a 500 MB index, and the key serves the block-range reads the models and
-- trading make, so no separate block index is kept.
-- depends_on: {{ source('chain', 'ingest_ranges') }} {{ source('chain', 'chain_reorgs') }} {{ source('chain', 'chain_identity') }}

with fills as (
    select f.*
    from {{ ref('stg_chain__order_fills') }} as f
    {% if is_incremental() %}
    where {{ in_scope_blocks('f') }}
    {% endif %}
),

{{ trades_from_fills('fills') }}
