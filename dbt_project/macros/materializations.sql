{#
  Views and small tables that keep their relation across runs.

  dbt's own view and table materializations build a new relation, swap it in by renames and
  drop the old one with CASCADE. Every view that reads the old relation goes with it until dbt
  rebuilds that view later in the run, if the run selects it at all. Trading reads
  int_trades_since_refresh between refreshes, and analysts query orderflow_wallet_positions:
  both vanished for the seconds between the drop and their own rebuild, in every run.

  Here:
  - A view whose definition has not changed since dbt created it is left alone. The definition
    is fingerprinted (see relation_fingerprint) and recorded with the view's oid in
    orderflow_relation_state, so a view dropped or replaced by anything else is rebuilt.
  - A `table_in_place` model whose definition has not changed is refilled in its own relation,
    in one transaction (DELETE, then INSERT): readers see the old rows until the commit, and the
    views over it stay. For small tables only (a DELETE leaves the old rows to vacuum).
  - A changed definition, a missing relation or --full-refresh: built as dbt does, then
    recorded.
#}

{# md5 of what defines the relation: its SQL and the config and docs it is built with. #}
{% macro relation_fingerprint(sql) -%}
  {%- set parts = [
      'orderflow-materialization-v1',
      sql,
      tojson(model.config, sort_keys=true),
      model.description or '',
      tojson(model.columns or {}, sort_keys=true),
  ] -%}
  {{- local_md5(parts | join('\x1f')) -}}
{%- endmacro %}

{# Whether `relation` is the very relation recorded with this fingerprint. #}
{% macro relation_unchanged(relation, fingerprint) -%}
  {%- if should_full_refresh() -%}
    {{ return(false) }}
  {%- endif -%}
  {%- call statement('relation_state', fetch_result=true) -%}
    select count(*) from {{ target.schema }}.orderflow_relation_state as s
    where s.relation_name = {{ dbt.string_literal(relation.identifier) }}
      and s.relation_oid = to_regclass({{ dbt.string_literal(relation) }})
      and s.fingerprint = {{ dbt.string_literal(fingerprint) }}
  {%- endcall -%}
  {{ return(load_result('relation_state')['data'][0][0] == 1) }}
{%- endmacro %}

{#
  A materialization's start: the pre-hooks outside the transaction, then the state query, which
  opens the model's transaction, then the pre-hooks inside it. {fingerprint, unchanged}.
#}
{% macro relation_state_begin(relation, sql) -%}
  {% do run_hooks(pre_hooks, inside_transaction=False) %}
  {%- set fingerprint = relation_fingerprint(sql) -%}
  {%- set unchanged = relation_unchanged(relation, fingerprint) -%}
  {% do run_hooks(pre_hooks, inside_transaction=True) %}
  {{ return({'fingerprint': fingerprint, 'unchanged': unchanged}) }}
{%- endmacro %}

{# After a relation is (re)built: its grants and docs, and the definition it was built from. #}
{% macro relation_built(relation, fingerprint) -%}
  {% do apply_grants(relation, config.get('grants'), should_revoke=false) %}
  {% do persist_docs(relation, model) %}
  {% call statement('record_relation_state') -%}
    {{ record_relation_state(relation, fingerprint) }}
  {%- endcall %}
{%- endmacro %}

{% macro record_relation_state(relation, fingerprint) -%}
  insert into {{ target.schema }}.orderflow_relation_state (relation_name, relation_oid, fingerprint)
  values ({{ dbt.string_literal(relation.identifier) }}, to_regclass({{ dbt.string_literal(relation) }}),
          {{ dbt.string_literal(fingerprint) }})
  on conflict (relation_name) do update
  set relation_oid = excluded.relation_oid, fingerprint = excluded.fingerprint, recorded_at = now()
{%- endmacro %}


{% materialization view, adapter='postgres' %}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set state = relation_state_begin(target_relation, sql) -%}
  {%- set fingerprint, unchanged = state.fingerprint, state.unchanged -%}

  {%- if unchanged -%}
    {#- dbt expects a main statement: this one only says the view was kept, and what reads it with it -#}
    {% call statement('main') -%}
      select 'kept' as {{ adapter.quote(target_relation.identifier) }}
    {%- endcall %}
  {%- else -%}
    {#- whatever stands under the name goes (a view or a table), with what depends on it -#}
    {%- set existing_relation = adapter.get_relation(database=this.database, schema=this.schema,
                                                     identifier=this.identifier) -%}
    {{ drop_relation_if_exists(existing_relation) }}
    {% call statement('main') -%}
      {{ get_create_view_as_sql(target_relation, sql) }}
    {%- endcall %}
    {% do relation_built(target_relation, fingerprint) %}
  {%- endif -%}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{% materialization table_in_place, adapter='postgres' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set state = relation_state_begin(target_relation, sql) -%}
  {%- set fingerprint, unchanged = state.fingerprint, state.unchanged -%}

  {%- if unchanged -%}
    {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='name') | list -%}
    {% call statement('main') -%}
      delete from {{ target_relation }};
      insert into {{ target_relation }} ({{ columns | join(', ') }})
      select {{ columns | join(', ') }} from (
        {{ sql }}
      ) as rebuilt
    {%- endcall %}
  {%- else -%}
    {#- the table as dbt builds it: a new relation swapped in, the old one dropped at the end -#}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {% call statement('main') -%}
      {{ get_create_table_as_sql(False, intermediate_relation, sql) }}
    {%- endcall %}
    {%- set existing_relation = adapter.get_relation(database=this.database, schema=this.schema,
                                                     identifier=this.identifier) -%}
    {%- set backup_relation = make_backup_relation(target_relation,
                                                   existing_relation.type if existing_relation else 'table') -%}
    {%- if existing_relation is not none -%}
      {{ adapter.rename_relation(existing_relation, backup_relation) }}
    {%- endif -%}
    {{ adapter.rename_relation(intermediate_relation, target_relation) }}
    {% do create_indexes(target_relation) %}
    {% do relation_built(target_relation, fingerprint) %}
  {%- endif -%}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {%- if not unchanged -%}
    {{ drop_relation_if_exists(backup_relation) }}
  {%- endif -%}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
