"""The code location: merges every domain under defs/ into one Definitions."""

import dagster as dg

from orderflow_dagster.defs.backtest import definitions as backtest
from orderflow_dagster.defs.dbt import definitions as dbt
from orderflow_dagster.defs.ingestion import definitions as ingestion
from orderflow_dagster.defs.metadata import definitions as metadata
from orderflow_dagster.defs.trading import definitions as trading

# Only one Definitions object may be bound at module level: Dagster refuses to pick one.
defs = dg.Definitions.merge(ingestion.defs, metadata.defs, dbt.defs, trading.defs, backtest.defs)
