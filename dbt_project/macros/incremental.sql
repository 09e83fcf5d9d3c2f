{#
  Incremental processing (see the `incremental_design` docs block).

  Models downstream of the raw tables (orderflow_trades) re-derive whole block ranges: every
  run takes the ranges landed since its watermark from ingest_ranges (plus reorg tails from
  chain_reorgs, whole chains whose identity changed, and the blocks of trades whose token
  attribution changed), deletes its rows in those ranges and inserts them again from raw.
  Re-deriving a range is idempotent, so doing one twice is only wasted work, never wrong.

  Models downstream of orderflow_trades read orderflow_trade_changes, the per-(wallet, token)
  log of what each trades run removed and inserted, from their own watermark.

  Watermarks live in orderflow_incremental_state, written in the same transaction as the
  model's rows (dbt runs pre-hooks, the build, the delete+insert and post-hooks in one).
  Exactness: ids of ingest_ranges / chain_reorgs are allocated under the ingestion's per-chain
  advisory lock, so they commit in order per chain; across chains (and for any writer outside
  the lock) a range allocated before our snapshot but committed after it is caught by its
  transaction id, which was in progress when the watermark was read (in_flight).
#}

{% macro of_state() -%}
    {{ target.schema }}.orderflow_incremental_state
{%- endmacro %}

{# Temp relations of one model run: dropped at commit. #}
{% macro of_tmp(name) -%}
    of_{{ this.identifier }}__{{ name }}
{%- endmacro %}

{% macro of_xid32(expr) -%}
    (({{ expr }})::text::bigint % 4294967296)
{%- endmacro %}


{# ---- custom strategy: delete the model's scope, insert the rebuilt rows ------------- #}
{#
  replace_log (optional): the name of a macro(sign, relation) that logs rows of `relation` with
  `sign`. Then the rows the delete removes are logged from its RETURNING (-1) and the rows
  inserted from the temp relation (+1): no extra pass over the target's index to find them.
#}
{% macro get_incremental_replace_scope_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set log = config.get('replace_log') -%}
    {%- if log %}
    with replaced as (
        delete from {{ target }} as t {{ config.require('replace_scope') }}
        returning t.*
    )
    {{ context[log](-1, 'replaced') }};
    {%- else %}
    delete from {{ target }} as t {{ config.require('replace_scope') }};
    {%- endif %}
    insert into {{ target }} ({{ cols }})
    select {{ cols }} from {{ temp }};
    {%- if log %}
    {{ context[log](1, temp) }};
    {%- endif %}
{% endmacro %}


{# ---- models fed by the raw change log ---------------------------------------------- #}

{#
  Pre-hook. Always: serialise runs of this model and read the new watermark (one statement, one
  snapshot). Incremental runs: work out the block ranges to re-derive into of_tmp('scope')
  (chain_id, from_block, to_block; disjoint). token_map: the token attribution relation whose
  changes re-derive the blocks of the affected trades.
#}
{% macro raw_changes_begin(token_map=none) %}
select pg_advisory_xact_lock(hashtext('orderflow/{{ this.identifier }}'));

create temp table {{ of_tmp('watermark') }} on commit drop as
select
    -- (if a restarted simulated chain deletes its ranges this may go back: that only re-derives
    -- ranges again, which is idempotent, and the chain's new identity re-derives it all anyway)
    (select coalesce(max(id), 0) from {{ source('chain', 'ingest_ranges') }})  as range_id,
    (select max(landed_at) from {{ source('chain', 'ingest_ranges') }})       as range_landed_at,
    (select coalesce(max(id), 0) from {{ source('chain', 'chain_reorgs') }})   as reorg_id,
    (select coalesce(array_agg(chain_id || ':' || genesis_hash || ':' || first_seen order by chain_id), '{}')
       from {{ source('chain', 'chain_identity') }})                           as identities,
    (select coalesce(array_agg({{ of_xid32('x') }}), '{}')
       from pg_snapshot_xip(pg_current_snapshot()) as x)                       as in_flight;

{% if is_incremental() %}
create temp table {{ of_tmp('ranges') }} on commit drop as
with previous as (
    -- no state row (first incremental run after a lost state): everything is new
    select coalesce(s.range_id, -1) as range_id, s.range_landed_at,
           coalesce(s.reorg_id, -1) as reorg_id,
           coalesce(s.identities, '{}') as identities, coalesce(s.in_flight, '{}') as in_flight,
           s.model_name is null as is_lost
    from (select 1) as one
    left join {{ of_state() }} as s on s.model_name = '{{ this.identifier }}'
),
watermark as (select * from {{ of_tmp('watermark') }}),
landed as (
    -- ranges landed since the watermark, or in flight when it was read, or (lookback) landed
    -- later than the newest range already processed
    select r.chain_id, r.from_block, r.to_block
    from {{ source('chain', 'ingest_ranges') }} as r, previous as p, watermark as w
    where r.id <= w.range_id
      and (r.id > p.range_id
           or {{ of_xid32('r.xmin') }} = any(p.in_flight)
           or r.landed_at > p.range_landed_at - interval '{{ var("change_log_lookback") }}')
),
reorged as (
    -- a reorg repair may also drop the old fork's tail above the range it re-lands
    select g.chain_id, g.fork_block + 1 as from_block, 9223372036854775807 as to_block
    from {{ source('chain', 'chain_reorgs') }} as g, previous as p, watermark as w
    where g.id <= w.reorg_id
      and (g.id > p.reorg_id or {{ of_xid32('g.xmin') }} = any(p.in_flight))
),
reset as (
    -- a chain seen for the first time, or restarted (new genesis, rows cleared), or no state
    select i.chain_id, 0 as from_block, 9223372036854775807 as to_block
    from {{ source('chain', 'chain_identity') }} as i, previous as p
    where p.is_lost or not (i.chain_id || ':' || i.genesis_hash || ':' || i.first_seen = any(p.identities))
    union all
    select distinct r.chain_id, 0, 9223372036854775807
    from {{ source('chain', 'ingest_ranges') }} as r, previous as p
    where p.is_lost
)
select * from landed
union all select * from reorged
union all select * from reset;

{% if token_map is not none %}
-- tokens whose attribution (condition, outcome index, outcome name) changed since the last run
{{ key_state_diff('tokens', token_map_keys(token_map)) }}

insert into {{ of_tmp('ranges') }}
select distinct t.chain_id, t.block_number, t.block_number
from {{ this }} as t
where t.token_id in (select key::numeric from {{ of_tmp('tokens') }});
{% endif %}

-- merge into disjoint ranges, so that a join on them never duplicates a row
create temp table {{ of_tmp('scope') }} on commit drop as
with ordered as (
    select chain_id, from_block, to_block,
           max(to_block) over (partition by chain_id order by from_block, to_block
                               rows between unbounded preceding and 1 preceding) as reach
    from {{ of_tmp('ranges') }}
),
islands as (
    select *, sum(case when reach is null or from_block > reach + 1 then 1 else 0 end)
                  over (partition by chain_id order by from_block, to_block) as island
    from ordered
)
select chain_id, min(from_block) as from_block, max(to_block) as to_block
from islands
group by chain_id, island;
analyze {{ of_tmp('scope') }};
{% endif %}
{% endmacro %}


{#
  Post-hook. Record the new watermark (and the token attribution used) in the same transaction
  as the rows.
#}
{% macro raw_changes_commit(token_map=none) %}
insert into {{ of_state() }} as s (model_name, range_id, range_landed_at, reorg_id, identities, in_flight, updated_at)
select '{{ this.identifier }}', range_id, range_landed_at, reorg_id, identities, in_flight, now()
from {{ of_tmp('watermark') }}
on conflict (model_name) do update set
    range_id = excluded.range_id, range_landed_at = excluded.range_landed_at,
    reorg_id = excluded.reorg_id, identities = excluded.identities,
    in_flight = excluded.in_flight, updated_at = excluded.updated_at;

{% if token_map is not none %}
{{ key_state_commit('tokens', token_map_keys(token_map)) }}
{% endif %}
{% endmacro %}


{# ---- models fed by orderflow_trade_changes ------------------------------------------ #}

{#
  Pre-hook. of_tmp('changes'): the change-log rows this run consumes (none on a full build);
  of_tmp('reset'): whether one of them is a full refresh of orderflow_trades (then everything
  is rebuilt); of_tmp('watermark'): the new watermark.
#}
{% macro trade_changes_begin(log='orderflow_trade_changes') %}
select pg_advisory_xact_lock(hashtext('orderflow/{{ this.identifier }}'));

create temp table {{ of_tmp('watermark') }} on commit drop as
select
    -- the log's sequence, not max(id): the log is pruned once every consumer has read it
    coalesce(pg_sequence_last_value('{{ target.schema }}.{{ log }}_id_seq'), 0)   as change_id,
    (select coalesce(array_agg({{ of_xid32('x') }}), '{}')
       from pg_snapshot_xip(pg_current_snapshot()) as x)                           as in_flight;

create temp table {{ of_tmp('changes') }} on commit drop as
select c.*
from {{ target.schema }}.{{ log }} as c
cross join {{ of_tmp('watermark') }} as w
left join {{ of_state() }} as s on s.model_name = '{{ this.identifier }}'
where {{ 'true' if is_incremental() else 'false' }}
  and c.id <= w.change_id
  and (s.model_name is null
       or c.id > s.change_id
       or {{ of_xid32('c.xmin') }} = any(s.in_flight));

create temp table {{ of_tmp('reset') }} on commit drop as
select
    coalesce(bool_or(c.is_reset), false)
    or not exists (select 1 from {{ of_state() }} where model_name = '{{ this.identifier }}') as is_reset
from {{ of_tmp('changes') }} as c;
analyze {{ of_tmp('changes') }};
{% endmacro %}


{#
  Pre-hook, after trade_changes_begin: of_tmp('keys'), the keys of `columns` this run rebuilds:
  those the consumed changes name, or on a reset every key of this model and of `everything`
  (a relation holding all keys). A plain join on it deletes and rebuilds by index, where an
  `is_reset or key in (...)` predicate would scan the whole table.
#}
{% macro change_keys(columns, everything) %}
{% if is_incremental() %}
create temp table {{ of_tmp('keys') }} on commit drop as
select distinct {{ columns | join(', ') }}
from {{ of_tmp('changes') }}
where {{ columns[0] }} is not null
union
select {{ columns | join(', ') }} from {{ this }} where (select is_reset from {{ of_tmp('reset') }})
union
select {{ columns | join(', ') }} from {{ everything }} where (select is_reset from {{ of_tmp('reset') }})
-- in key order: the model's index probes by these keys then walk its leaves in order
order by {{ columns | join(', ') }};
analyze {{ of_tmp('keys') }};
{% endif %}
{% endmacro %}

{# replace_scope clause: delete the rows whose key is in of_tmp('keys'). #}
{% macro keys_scope(columns) -%}
    using {{ of_tmp('keys') }} as k where
    {%- for c in columns %} t.{{ c }} = k.{{ c }}{{ ' and' if not loop.last }}{% endfor %}
{%- endmacro %}

{% macro trade_changes_commit() %}
insert into {{ of_state() }} as s (model_name, change_id, in_flight, updated_at)
select '{{ this.identifier }}', change_id, in_flight, now()
from {{ of_tmp('watermark') }}
on conflict (model_name) do update set
    change_id = excluded.change_id, in_flight = excluded.in_flight, updated_at = excluded.updated_at;
{% endmacro %}


{# ---- small dimensions: which keys changed since this model last ran ----------------- #}

{# The token attribution orderflow_trades uses: key = token id. #}
{% macro token_map_keys(token_map) -%}
    select token_id::text as key, md5(concat_ws('|', condition_id, outcome_index, outcome_name)) as fingerprint
    from {{ token_map }}
{%- endmacro %}

{# The resolutions valuations use: key = condition id. #}
{% macro resolution_keys(resolutions) -%}
    select condition_id as key, md5(concat_ws('|', payout_numerators::text, resolved_at)) as fingerprint
    from {{ resolutions }}
{%- endmacro %}

{# Incremental runs: of_tmp(name) = the keys added, changed or gone (fingerprint null when gone). #}
{% macro key_state_diff(name, current_query) %}
{% if is_incremental() %}
create temp table {{ of_tmp(name) }} on commit drop as
with current_keys as ({{ current_query }}),
stored as (
    select key, fingerprint
    from {{ target.schema }}.orderflow_key_state
    where model_name = '{{ this.identifier }}:{{ name }}'
)
select coalesce(c.key, s.key) as key, c.fingerprint
from current_keys as c
full join stored as s on s.key = c.key
where c.fingerprint is distinct from s.fingerprint;
{% endif %}
{% endmacro %}

{# Post-hook: remember what this run used (the diff on incremental runs, everything otherwise). #}
{% macro key_state_commit(name, current_query) %}
{% if is_incremental() %}
delete from {{ target.schema }}.orderflow_key_state as m
using {{ of_tmp(name) }} as c
where m.model_name = '{{ this.identifier }}:{{ name }}' and m.key = c.key;
insert into {{ target.schema }}.orderflow_key_state (model_name, key, fingerprint)
select '{{ this.identifier }}:{{ name }}', key, fingerprint
from {{ of_tmp(name) }}
where fingerprint is not null;
{% else %}
delete from {{ target.schema }}.orderflow_key_state where model_name = '{{ this.identifier }}:{{ name }}';
insert into {{ target.schema }}.orderflow_key_state (model_name, key, fingerprint)
select '{{ this.identifier }}:{{ name }}', key, fingerprint
from ({{ current_query }}) as c;
{% endif %}
{% endmacro %}


{# ---- int_wallet_markets_accumulated: wallet-markets touched by trades or resolutions ---- #}

{#
  Pre-hook: the trade-change scope, then the (wallet, market) pairs to rebuild into
  of_tmp('pairs'): the markets of the (wallet, token) pairs orderflow_trades touched (as the
  removed and the inserted trades had them) and every wallet holding a market whose resolution
  appeared or changed; then their outcome tokens from `token_map` into of_tmp('pair_tokens'), the
  (wallet, token) keys the model reads the positions by. The rows replaced (-1) and inserted (+1)
  are logged by the strategy (replace_log), from the delete's RETURNING and the temp relation.
#}
{% macro wallet_markets_begin(resolutions, positions, token_map) %}
{{ trade_changes_begin() }}
{{ key_state_diff('resolutions', resolution_keys(resolutions)) }}
{% if is_incremental() %}
create temp table {{ of_tmp('pairs') }} on commit drop as
select distinct wallet_address, market_key
from (
    -- the markets of the removed rows (-1) and of the inserted ones (+1): both, when a token
    -- was attributed to a condition since
    select wallet_address, coalesce(condition_id, 'token:' || token_id::text) as market_key
    from {{ of_tmp('changes') }}
    where wallet_address is not null
    union all
    select p.wallet_address, p.condition_id
    from {{ positions }} as p
    where p.condition_id in (select key from {{ of_tmp('resolutions') }})
    union all
    -- a reset upstream: every pair there is, and every pair there was
    select wallet_address, coalesce(condition_id, 'token:' || token_id::text)
    from {{ positions }}
    where (select is_reset from {{ of_tmp('reset') }})
    union all
    select wallet_address, market_key
    from {{ this }}
    where (select is_reset from {{ of_tmp('reset') }})
) as touched
order by wallet_address, market_key;  -- the model's key order: the replace probes its index in order
analyze {{ of_tmp('pairs') }};

-- the pairs' (wallet, token) keys: a market's outcome tokens from the token map, which gave the
-- trades (so the positions) their condition. The model reaches the positions through their own
-- (wallet, token) key, not through a (wallet, condition) index whose random inserts every run
-- would pay for. (As a join inside the model, the planner joined the map to all positions.)
create temp table {{ of_tmp('pair_tokens') }} on commit drop as
select k.wallet_address, m.token_id
from {{ of_tmp('pairs') }} as k
join {{ token_map }} as m on m.condition_id = k.market_key
order by k.wallet_address, m.token_id;  -- the positions' key order: their index is probed in order
analyze {{ of_tmp('pair_tokens') }};

-- a reset: downstream rebuilds from scratch (the replaced and inserted rows are logged by the
-- replace_scope strategy, replace_log = wallet_markets_log_changes, unless this is a reset)
insert into {{ target.schema }}.orderflow_wallet_market_changes (is_reset)
select true from {{ of_tmp('reset') }} where is_reset;
{% endif %}
{% endmacro %}

{% macro wallet_markets_commit(resolutions) %}
{% if not is_incremental() %}
insert into {{ target.schema }}.orderflow_wallet_market_changes (is_reset) values (true);
{% endif %}
{{ trade_changes_commit() }}
{{ key_state_commit('resolutions', resolution_keys(resolutions)) }}
{% endmacro %}

{#
  replace_log of int_wallet_markets_accumulated: `relation`'s rows (the rows the run deleted, or
  the temp relation it inserts) into the wallet-market change log with `sign`; nothing on a
  reset (downstream rebuilds from scratch then).
#}
{% macro wallet_markets_log_changes(sign, relation) %}
insert into {{ target.schema }}.orderflow_wallet_market_changes (
    wallet_address, market_key, sign, first_trade_at, last_trade_at, trades, taker_trades, volume_usdc,
    fees_usdc, realised_pnl_usdc, settlement_pnl_usdc, capital_usdc, shares_bought, shares_sold,
    inventory_shares, is_evidence, is_win, is_loss, evidence_pnl_usdc, evidence_shares, weight_at_epoch,
    weighted_edge_at_epoch, weighted_edge_sq_at_epoch)
select
    t.wallet_address, t.market_key, {{ sign }}, t.first_trade_at, t.last_trade_at, t.trades, t.taker_trades,
    t.volume_usdc, t.fees_usdc, t.realised_pnl_usdc, t.settlement_pnl_usdc, t.capital_usdc, t.shares_bought,
    t.shares_sold, t.inventory_shares, t.is_evidence::integer, t.is_win::integer, t.is_loss::integer,
    case when t.is_evidence then t.settled_pnl_usdc end, case when t.is_evidence then t.shares_opened end,
    t.weight_at_epoch, t.weighted_edge_at_epoch, t.weighted_edge_sq_at_epoch
from {{ relation }} as t
where not (select is_reset from {{ of_tmp('reset') }})
{%- endmacro %}


{# ---- int_wallets_aggregated: moves by the wallet-market deltas -------------------------- #}

{# A change of the decay half-life or epoch invalidates the stored weights: rebuild everything. #}
{% macro wallets_begin(wallet_markets) %}
{{ trade_changes_begin('orderflow_wallet_market_changes') }}
{% if is_incremental() %}
update {{ of_tmp('reset') }} set is_reset = true
where exists (select 1 from {{ this }} where half_life_days <> {{ var('evidence_half_life_days') }}
                                          or evidence_epoch <> '{{ var("evidence_epoch") }}'::timestamptz);
{% endif %}
{{ change_keys(['wallet_address'], wallet_markets) }}
{% endmacro %}


{#
  A join on the scope's block ranges, for a relation aliased `alias`. The planner guesses a tenth
  of the table for a range join and scans it all; the bounds of the whole scope, as initplan
  parameters, it estimates as a narrow range and reaches through the relation's index that
  starts (chain_id, block_number). The scope's chain ids as an array bound the index's first
  column: with bounds on the block number alone, Postgres before 18 (no skip scan) walks the
  whole index (40 ms at 5M rows on 15, 0.1 ms with the array).
#}
{% macro in_scope_blocks(alias) -%}
    {{ alias }}.chain_id = any(array(select distinct chain_id from {{ of_tmp('scope') }}))
    and {{ alias }}.block_number >= (select min(from_block) from {{ of_tmp('scope') }})
    and {{ alias }}.block_number <= (select max(to_block) from {{ of_tmp('scope') }})
    and exists (select 1 from {{ of_tmp('scope') }} as s
                where s.chain_id = {{ alias }}.chain_id
                  and {{ alias }}.block_number between s.from_block and s.to_block)
{%- endmacro %}


{#
  An incremental run inserts its rows in the order of the table's random-key index (a wallet's
  rows side by side): that index then takes them leaf after leaf instead of at random. A full
  build creates its indexes after the rows, so it is left unsorted. Measured side by side
  (statement times): 50,000 fills' positions insert 2.5 -> 1.9 s and wallet-markets replace
  4.1 -> 2.9 s (with the keys they are read by also sorted: change_keys, pair_tokens); the
  history's 200,000 rows per run 1.6-1.8 s -> 0.9 s. Not orderflow_trades: block order already
  suits three of its five indexes (50,000 trades in wallet order: 2.8-2.9 s against 2.7 s).
#}
{% macro in_key_order(columns) -%}
{%- if is_incremental() %}
order by {{ columns | join(', ') }}
{%- endif -%}
{%- endmacro %}
