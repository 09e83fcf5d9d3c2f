{#
  orderflow_reputation_history is partitioned by day of scored_at (model config
  partition_by_day). Every run appends a row per wallet, and its (wallet_address) index takes
  them at random: in one table that index grows by a run's rows every run, so the leaves a run
  dirties, and the WAL it writes, grow with the history's length (see README, "Plan the
  history's storage"). In daily partitions a run only touches its own day's indexes, and old
  days go by dropping a partition (var history_retention_days) instead of a DELETE and a vacuum.
  A history table built unpartitioned (before 2026-11-27) keeps working as it is.
#}

{#
  create_table_as for a model configured with partition_by_day (its contract enforced): the
  parent, partitioned by range of that column, the partition of this run's day, then the rows.
  Everything else: dbt-postgres' own macro. The day is scored_at()'s (history_day_partition),
  which is that column's value in every row of a scoring run: only the history can use it.
#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
  {%- set column = config.get('partition_by_day') -%}
  {%- if column and not temporary -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if not (contract_config and contract_config.enforced) -%}
      {{ exceptions.raise_compiler_error("partition_by_day needs an enforced contract: the table is declared before its rows are inserted") }}
    {%- endif -%}
    {{ get_assert_columns_equivalent(sql) }}
    create table {{ relation }} {{ get_table_columns_and_constraints() }}
    partition by range ({{ adapter.quote(column) }});
    {{ history_day_partition(relation) }};
    insert into {{ relation }} ({{ adapter.dispatch('get_column_names', 'dbt')() }})
    (
      {{ get_select_subquery(sql) }}
    );
  {%- else -%}
    {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
  {%- endif -%}
{%- endmacro %}

{#
  Pre-hook of the history (and part of its first build): when `relation` is a partitioned
  table, make sure the partition of this run's scoring day (UTC) exists, named
  <table>_pYYYYMMDD, and, when var history_retention_days is set, drop the partitions whose
  whole day is older than that many days before the scoring time. Under an advisory lock, in
  the model's transaction: two runs never race to create a partition, and a failed run leaves
  none behind.
#}
{% macro history_day_partition(relation) -%}
{#- the var, else the environment's HISTORY_RETENTION_DAYS (the setting `orderflow up` validates) -#}
{%- set retention = var('history_retention_days', none) -%}
{%- if retention is none and env_var('HISTORY_RETENTION_DAYS', '') | trim != '' -%}
  {%- set retention = env_var('HISTORY_RETENTION_DAYS') | trim -%}
{%- endif -%}
{%- if retention is not none and not (modules.re.fullmatch('[0-9]+', retention | string | trim) and (retention | int) >= 1) -%}
  {{ exceptions.raise_compiler_error("history_retention_days (var, or HISTORY_RETENTION_DAYS) must be a whole number of days >= 1, or unset to keep every day (got " ~ retention ~ ")") }}
{%- endif -%}
DO $partition$
DECLARE
    parent regclass := to_regclass({{ dbt.string_literal(relation) }});
    scored timestamptz := {{ scored_at() }};
    day date := (scored AT TIME ZONE 'UTC')::date;
    old record;
BEGIN
    IF parent IS NULL OR (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p' THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext({{ dbt.string_literal('orderflow/partitions/' ~ relation.identifier) }}));
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   {{ dbt.string_literal(relation.schema) }},
                   {{ dbt.string_literal(relation.identifier ~ '_p') }} || to_char(day, 'YYYYMMDD'),
                   parent, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    {%- if retention is not none %}
    FOR old IN
        SELECT c.oid::regclass AS part
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
          AND c.relname ~ ('^' || {{ dbt.string_literal(relation.identifier ~ '_p') }} || '[0-9]{8}$')
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
              <= scored - interval '{{ retention | int }} days'
    LOOP
        EXECUTE format('DROP TABLE %s', old.part);
    END LOOP;
    {%- endif %}
END $partition$
{%- endmacro %}
