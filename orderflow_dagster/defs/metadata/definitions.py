"""Market metadata enrichment (Gamma API)."""

import dagster as dg

from orderflow_dagster.defs.metadata.assets import market_metadata, market_metadata_schedule

defs = dg.Definitions(assets=[market_metadata], schedules=[market_metadata_schedule])
