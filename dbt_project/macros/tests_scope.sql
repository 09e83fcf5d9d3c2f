{#
  Data tests on the big tables check what this dbt invocation wrote (an index on dbt_updated_at
  makes that cheap), not the whole history every hour. Tokens for a test's `where` config,
  evaluated at run time (the manifest may be prepared long before the run):
    __rows_of_latest_run__          rows (re)built by this invocation
    __latest_scoring_run__          rows of the latest scoring run
    __wallets_of_latest_positions__ wallets whose positions this invocation rebuilt
  On a full build every row is this invocation's. `--vars '{test_all_rows: true}'` checks all.
  Any other `where` behaves as dbt's default.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set positions = relation.schema ~ '.int_positions_accumulated' -%}
    {%- set tokens = {
        '__rows_of_latest_run__': this_run('dbt_updated_at'),
        '__latest_scoring_run__': 'scored_at = (select max(scored_at) from ' ~ relation ~ ')',
        '__wallets_of_latest_positions__': 'wallet_address in (select wallet_address from ' ~ positions
            ~ ' where ' ~ this_run('dbt_updated_at') ~ ')',
    } -%}
    {%- if where in tokens -%}
        {%- set where = none if var('test_all_rows') else tokens[where] -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{# Rows (re)built by this dbt invocation: the models stamp them with now(), after it started (both
   by the database's clock, see orderflow_install). #}
{% macro this_run(column) -%}
    {{ column }} >= (select started_at from {{ target.schema }}.orderflow_dbt_invocations
                     where invocation_id = '{{ invocation_id }}')
{%- endmacro %}

{# The same filter for singular tests, on an alias of a table with dbt_updated_at. #}
{% macro rows_of_latest_run(relation, alias) -%}
    {%- if var('test_all_rows') -%}
        true
    {%- else -%}
        {{ this_run(alias ~ '.dbt_updated_at') }}
    {%- endif -%}
{%- endmacro %}
