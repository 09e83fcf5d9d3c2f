{#
  Every model runs in one transaction: give it room to hash and sort in memory, and no JIT (its
  compile time is most of a small incremental query's cost). Local to the transaction.
#}
{% macro orderflow_session() -%}
    set local work_mem = '{{ var("work_mem") }}';
    set local jit = off;
{%- endmacro %}

{#
  Tables built from scratch need statistics before the next model plans its joins. An
  incremental run changes a small part of its table: autovacuum's analyze is enough there.
  Config analyze_columns (a list) limits it to the columns queries filter, join and sort on:
  for a wide mart no model reads, sampling every column is most of the statement's cost.
#}
{% macro analyze_if_table() -%}
    {%- if config.get('materialized') in ('table', 'table_in_place')
          or (config.get('materialized') == 'incremental' and not is_incremental()) -%}
        {%- set columns = config.get('analyze_columns') -%}
        analyze {{ this }}{% if columns %} ({{ columns | join(', ') }}){% endif %}
    {%- endif -%}
{%- endmacro %}
