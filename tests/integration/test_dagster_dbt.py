"""The dbt models as Dagster assets: a real run on Postgres-backed storage after ingestion.

dbt tests come back as asset checks; the trades sensor asks for a refresh after new fills.
"""

import dagster as dg
import pytest

from orderflow_dagster.defs.dbt.assets import orderflow_dbt_models
from orderflow_dagster.defs.dbt.resources import dbt_cli
from orderflow_dagster.defs.dbt.schedules import interval_to_cron, trades_after_ingestion, trades_job
from orderflow_dagster.defs.ingestion.assets import chain_logs
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, chunk_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.warehouse.db import connect
from tests.dbt.helpers import sync_condition_tokens

pytestmark = pytest.mark.integration


def test_interval_to_cron():
    assert interval_to_cron(3600) == "0 * * * *"
    assert interval_to_cron(900) == "*/15 * * * *"
    assert interval_to_cron(7200) == "0 */2 * * *"
    with pytest.raises(ValueError, match="CALCULATION_INTERVAL_SECONDS"):
        interval_to_cron(90)


def test_ingest_then_dbt_build_through_dagster(anvil, replayer, db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)  # what `orderflow up` gives the dbt subprocess
    replayer.random_activity(25)
    overrides = {"storage": {"postgres": {"postgres_url": db_url}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        ingestion = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
        key = chunk_key(0, 100_000)
        instance.add_dynamic_partitions(block_range_partitions.name, [key])
        assert dg.materialize([chain_logs], instance=instance, partition_key=key, resources={"ingestion": ingestion},
                              run_config={"ops": {"chain_logs": {"config": {"mode": "follow"}}}}).success
        sync_condition_tokens(db_url)

        # the sensor sees the new fills; wallets were never scored, so it asks for the whole scoring once
        ctx = dg.build_sensor_context(instance=instance)
        request = trades_after_ingestion(ctx)
        assert isinstance(request, dg.RunRequest) and request.job_name == "score_wallets" and ctx.cursor
        assert isinstance(trades_after_ingestion(dg.build_sensor_context(instance=instance, cursor=ctx.cursor)),
                          dg.SkipReason)

        # the trades refresh first, on a database where the other marts do not exist yet
        defs = dg.Definitions(assets=[orderflow_dbt_models], jobs=[trades_job], resources={"dbt": dbt_cli()})
        refresh = defs.resolve_job_def(trades_job.name).execute_in_process(instance=instance)
        assert refresh.success
        refreshed = {e.asset_key.to_user_string() for e in refresh.get_asset_materialization_events()}
        assert "orderflow_trades" in refreshed and "orderflow_wallet_stats" not in refreshed

        result = dg.materialize([orderflow_dbt_models], instance=instance, resources={"dbt": dbt_cli()})
        assert result.success
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert {"orderflow_trades", "orderflow_wallet_stats", "orderflow_market_outcomes"} <= materialized
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks)
        with connect(db_url) as conn:
            fills = conn.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0]
            trades = conn.execute("SELECT count(*) FROM orderflow_trades").fetchone()[0]
        assert trades == fills > 0  # one row per wallet per fill: the maker of every OrderFilled

        # once scored, new fills ask for the trades refresh only
        replayer.random_activity(3)
        assert dg.materialize([chain_logs], instance=instance, partition_key=key, resources={"ingestion": ingestion},
                              run_config={"ops": {"chain_logs": {"config": {"mode": "follow"}}}}).success
        later = trades_after_ingestion(dg.build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert isinstance(later, dg.RunRequest) and later.job_name == "refresh_trades"
        # that refresh rebuilds int_tokens_mapped_to_outcomes, whose old table goes with DROP ... CASCADE;
        # the view trading reads between refreshes (int_trades_since_refresh) must come back in the same run
        again = defs.resolve_job_def(trades_job.name).execute_in_process(instance=instance)
        assert again.success
        with connect(db_url) as conn:
            assert conn.execute("SELECT to_regclass('int_trades_since_refresh') IS NOT NULL").fetchone()[0]
