"""Market metadata from Gamma, as an asset under the raw conditions it enriches."""

import dagster as dg

from orderflow_dagster.defs.ingestion.assets import raw_asset_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.metadata.gamma import GammaClient, GammaError
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.metadata import conditions_missing_metadata, upsert_metadata


@dg.asset(
    key=raw_asset_key("raw_market_metadata"),
    deps=[raw_asset_key("raw_conditions")],
    group_name="ingestion",
    kinds={"postgres"},
    description="Question, slug, outcome names, end date and resolution status per condition, from Polymarket's "
    "Gamma API (optional enrichment: everything works without it; ENABLE_METADATA=false turns it off).",
)
def market_metadata(context: dg.AssetExecutionContext, ingestion: ChainIngestion) -> dg.MaterializeResult:
    settings = ingestion.settings()
    url = settings.metadata_url
    if url is None:
        context.log.info("metadata enrichment is off (ENABLE_METADATA=false, or a simulated chain without GAMMA_API_URL)")
        return dg.MaterializeResult(metadata={"enabled": False, "fetched": 0})
    with connect(settings.require_database_url(), autocommit=True) as conn:
        wanted = conditions_missing_metadata(conn, settings.metadata_refresh_hours, settings.metadata_batch_limit)
        fetched = 0
        try:
            with GammaClient(url) as gamma:
                fetched = upsert_metadata(conn, gamma.markets_by_condition(wanted))
        except GammaError as e:
            # Enrichment must never block the pipeline: report and try again next time.
            context.log.warning(str(e))
            return dg.MaterializeResult(metadata={"enabled": True, "requested": len(wanted), "fetched": 0, "error": str(e)})
        known = conn.execute("SELECT count(*) FROM raw_market_metadata").fetchone()[0]
    context.log.info(f"fetched metadata for {fetched} of {len(wanted)} conditions; {known} known")
    return dg.MaterializeResult(metadata={
        "enabled": True, "requested": len(wanted), "fetched": fetched, "not_found": len(wanted) - fetched,
        "markets_with_metadata": known,
    })


market_metadata_schedule = dg.ScheduleDefinition(
    name="market_metadata_every_15_minutes",
    target=[market_metadata],
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
