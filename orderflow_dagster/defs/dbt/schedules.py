"""When the dbt models run: all of them on the scoring schedule, trades soon after ingestion."""

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from orderflow_dagster.defs.dbt.assets import DBT_TAG, orderflow_dbt_models
from orderflow_dagster.defs.ingestion.assets import raw_asset_key
from orderflow_dagster.defs.ingestion.sensors import WAITING_RUN_STATUSES
from orderflow_dagster.settings import get_settings

scoring_job = dg.define_asset_job(
    "score_wallets",
    selection=build_dbt_asset_selection([orderflow_dbt_models]),
    description="dbt build of every model: trades, positions and P&L, market outcomes, wallet stats, reputation.",
    tags=DBT_TAG,
)

trades_job = dg.define_asset_job(
    "refresh_trades",
    # int_trades_since_refresh too: trading reads it between refreshes. A run keeps it as it is
    # (dbt_project/macros/materializations.sql) unless its definition changed or something dropped
    # it, e.g. a full refresh of a table it reads; then this job rebuilds it
    selection=build_dbt_asset_selection([orderflow_dbt_models], dbt_select="+orderflow_trades int_trades_since_refresh"),
    description="dbt build of orderflow_trades and what it needs, after new fills land.",
    tags=DBT_TAG,
)


def interval_to_cron(seconds: int) -> str:
    """CALCULATION_INTERVAL_SECONDS as a cron expression (whole minutes or hours only)."""
    if seconds % 60 or seconds < 60:
        raise ValueError(f"CALCULATION_INTERVAL_SECONDS={seconds}: use a whole number of minutes")
    minutes = seconds // 60
    if minutes < 60:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and minutes // 60 <= 24:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    raise ValueError(f"CALCULATION_INTERVAL_SECONDS={seconds}: use minutes below an hour or whole hours up to 24")


scoring_schedule = dg.ScheduleDefinition(
    name="score_wallets_schedule",
    job=scoring_job,
    cron_schedule=get_settings().scoring_cron or interval_to_cron(get_settings().calculation_interval_seconds),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

WALLET_STATS = dg.AssetKey(["orderflow_wallet_stats"])


@dg.sensor(name="trades_after_ingestion", jobs=[trades_job, scoring_job], minimum_interval_seconds=5,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Refreshes orderflow_trades after new fills land (one waiting run at most); "
           "until wallets were scored once, runs the whole scoring instead, so a new install needs no hour's wait.")
def trades_after_ingestion(context: dg.SensorEvaluationContext):
    records = context.instance.fetch_materializations(raw_asset_key("raw_order_fills"), limit=1).records
    if not records:
        return dg.SkipReason("no fills landed yet")
    latest = records[0].storage_id
    if context.cursor and int(context.cursor) >= latest:
        return dg.SkipReason("no new fills since the last refresh")
    busy = context.instance.get_run_records(
        dg.RunsFilter(job_name=scoring_job.name, statuses=[*WAITING_RUN_STATUSES, dg.DagsterRunStatus.STARTED]), limit=1
    )
    never_scored = not context.instance.fetch_materializations(WALLET_STATS, limit=1).records
    if never_scored and not busy:
        context.update_cursor(str(latest))
        return dg.RunRequest(run_key=f"first-scoring-{latest}", job_name=scoring_job.name)
    waiting = context.instance.get_run_records(dg.RunsFilter(job_name=trades_job.name, statuses=WAITING_RUN_STATUSES), limit=1)
    if waiting or busy:
        return dg.SkipReason("a trades refresh or a scoring run is already waiting or running")
    context.update_cursor(str(latest))
    return dg.RunRequest(run_key=f"trades-{latest}", job_name=trades_job.name)
