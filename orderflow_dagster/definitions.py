"""The code location: merges every domain under defs/ into one Definitions."""

import dagster as dg

from orderflow_dagster.defs.backtest import definitions as backtest
from orderflow_dagster.defs.dbt import definitions as dbt
from orderflow_dagster.defs.ingestion import definitions as ingestion
from orderflow_dagster.defs.metadata import definitions as metadata
from orderflow_dagster.defs.trading import definitions as trading

# One process per run, not one per step (Dagster's default): every step process imports the
# whole code location again, about 7 CPU-s here, more than most steps' own work; bench-backfill
# measured a landing run as four processes and 25-30 CPU-s for under 1.5 s of landing. The steps
# of one run are a chain (asset, then its checks; dbt's one step), so nothing ran in parallel.
# Only one Definitions object may be bound at module level: Dagster refuses to pick one.
defs = dg.Definitions.merge(ingestion.defs, metadata.defs, dbt.defs, trading.defs, backtest.defs,
                            dg.Definitions(executor=dg.in_process_executor))
