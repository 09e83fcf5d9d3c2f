{#
  orderflow_trades' own hooks around the generic raw-change-log ones: log, per (wallet, token),
  the rows a run removes (pre-hook, sign -1) and inserts (post-hook, sign +1) into
  orderflow_trade_changes, for the models downstream. A full build logs one reset row instead.
#}
{% macro trades_log_changes(sign) %}
insert into {{ target.schema }}.orderflow_trade_changes
    (wallet_address, token_id, condition_id, sign, fills, market_fills, market_usdc, first_trade_at)
select
    t.wallet_address,
    t.token_id,
    t.condition_id,
    {{ sign }},
    count(*),
    count(*) filter (where t.fill_role <> 'maker'),
    coalesce(sum(t.usdc_amount) filter (where t.fill_role <> 'maker'), 0),
    min(t.timestamp)
from {{ this }} as t
where {{ in_scope_blocks('t') }}
group by t.wallet_address, t.token_id, t.condition_id
{% endmacro %}

{% macro trades_begin(token_map) %}
{{ raw_changes_begin(token_map) }}
{% if is_incremental() %}
{{ trades_log_changes(-1) }};
{% endif %}
{% endmacro %}

{% macro trades_commit(token_map) %}
{% if is_incremental() %}
{{ trades_log_changes(1) }};
{% else %}
insert into {{ target.schema }}.orderflow_trade_changes (is_reset) values (true);
{% endif %}
{{ raw_changes_commit(token_map) }}
{% endmacro %}
