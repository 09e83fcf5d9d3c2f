"""dbt models as Dagster assets: `dbt build`, so dbt tests become asset checks.

Two entry points over one manifest: the scoring models (everything) run on the hourly
schedule; `orderflow_trades` and what it needs run soon after each ingestion run, so the
trading asset sees fresh trades. A tag limits dbt to one run at a time (dagster.yaml).
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orderflow_dagster.defs.dbt.resources import dbt_project

DBT_TAG = {"orderflow/dbt": "true"}
# What every scheduled or sensor-driven run does: models, seeds, snapshots and data tests. Unit
# tests check the SQL, not the data, so they run in CI (`make test` runs a plain `dbt build`), not
# every hour; dbt's own advice for production. bench-dbt times this same command.
BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")


class OrderflowDbtTranslator(DagsterDbtTranslator):
    """Groups models by layer (staging, intermediate, marts); sources keep the keys their
    `meta.dagster.asset_key` gives them (the raw tables' ingestion assets)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return f"dbt_{fqn[1]}"
        return super().get_group_name(dbt_resource_props)


TRANSLATOR = OrderflowDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_code_references=False))


@dbt_assets(manifest=dbt_project().manifest_path, dagster_dbt_translator=TRANSLATOR, op_tags=DBT_TAG,
            name="orderflow_dbt_models")
def orderflow_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    # No fetch_row_counts(): it would count(*) the ever-growing reputation history every run.
    # cautious: a subset run (the trades refresh) skips tests that also read models outside the
    # subset, which may not exist yet on a fresh database.
    yield from dbt.cli([*BUILD_ARGS, "--indirect-selection", "cautious"], context=context).stream()
