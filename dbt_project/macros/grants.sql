{# The analysts' read-only role (migrations/0005_analyst_role.sql) may SELECT every orderflow_* mart.
   dbt re-creates tables on each build, dropping earlier grants, so each mart grants again as a
   post-hook; the schema's USAGE is granted once per invocation, in on-run-start (a GRANT on a
   schema from several threads at once fails with "tuple concurrently updated"). Conditional
   rather than dbt's `grants` config, so a database whose role could not be created still builds. #}
{% macro grant_select_to_analysts() -%}
    {%- if this.identifier.startswith('orderflow_') -%}
    DO $grant$ BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_analyst')
           AND NOT has_table_privilege('orderflow_analyst', {{ dbt.string_literal(this) }}, 'SELECT') THEN
            GRANT SELECT ON {{ this }} TO orderflow_analyst;
        END IF;
    END $grant$
    {%- endif -%}
{%- endmacro %}

{% macro grant_schema_to_analysts() -%}
    DO $grant$ BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_analyst')
           AND EXISTS (SELECT FROM pg_namespace WHERE nspname = {{ dbt.string_literal(target.schema) }})
           AND NOT has_schema_privilege('orderflow_analyst', {{ dbt.string_literal(target.schema) }}, 'USAGE') THEN
            GRANT USAGE ON SCHEMA {{ adapter.quote(target.schema) }} TO orderflow_analyst;
        END IF;
    END $grant$
{%- endmacro %}
