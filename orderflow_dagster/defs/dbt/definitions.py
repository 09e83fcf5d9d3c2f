"""dbt models, their schedule and the trades refresh sensor."""

import dagster as dg

from orderflow_dagster.defs.dbt.assets import orderflow_dbt_models
from orderflow_dagster.defs.dbt.resources import dbt_cli
from orderflow_dagster.defs.dbt.schedules import scoring_job, scoring_schedule, trades_after_ingestion, trades_job

defs = dg.Definitions(
    assets=[orderflow_dbt_models],
    jobs=[scoring_job, trades_job],
    schedules=[scoring_schedule],
    sensors=[trades_after_ingestion],
    resources={"dbt": dbt_cli()},
)
