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
#}
{% macro analyze_if_table() -%}
    {%- if config.get('materialized') == 'table'
          or (config.get('materialized') == 'incremental' and not is_incremental()) -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
