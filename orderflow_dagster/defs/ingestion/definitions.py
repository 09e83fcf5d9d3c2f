"""Everything the ingestion domain contributes to the code location."""

import dagster as dg

from orderflow_dagster.defs.ingestion.assets import chain_logs
from orderflow_dagster.defs.ingestion.checks import INGESTION_CHECKS
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.defs.ingestion.sensors import chain_head_sensor

defs = dg.Definitions(
    assets=[chain_logs],
    asset_checks=INGESTION_CHECKS,
    sensors=[chain_head_sensor],
    resources={"ingestion": ChainIngestion()},
)
