"""RPC faults, short versions of tests/integration/test_reorgs_and_faults.py for the results table:
each lands the same chain through a fault-injecting proxy (tests/support/rpc_proxy.py) and
compares with a clean run. Those integration tests run in `make test`; these in `make test-faults`.
"""

from __future__ import annotations

import pytest

from orderflow_dagster.ingest import Ingestor
from tests.faults.outcome import record
from tests.faults.test_database import clean_landing, fills_result
from tests.integration.conftest import ingest_settings
from tests.support.rpc_proxy import FaultPlan, RpcFaultProxy, WsFaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.faults_long]

PLANS = {
    "rpc: outage mid-backfill": ("the first 8 eth_getLogs calls of a backfill answered 502/503",
                                 FaultPlan(fail_first={"eth_getLogs": (8, "server_error")}), "backfill"),
    "rpc: 429 storm": ("40% of requests answered 429 Too Many Requests", FaultPlan(seed=1, rate_limit=0.4, retry_after_s=0),
                       "follow"),
    "rpc: slow responses past the timeout": ("15% of requests answered after 1.5 s (client timeout 1 s)",
                                             FaultPlan(seed=2, slow=0.15, slow_s=1.5), "follow"),
    "rpc: truncated and invalid JSON": ("15% of bodies cut mid-JSON, 15% HTML instead of JSON",
                                        FaultPlan(seed=3, truncate=0.15, invalid_json=0.15), "follow"),
    "rpc: eth_getLogs range limit": ("eth_getLogs refused (-32005) over more than 3 blocks",
                                     FaultPlan(max_log_span=3), "follow"),
}


@pytest.mark.parametrize("scenario", list(PLANS))
def test_rpc_faults_land_the_same_rows_as_a_clean_run(anvil, replayer, db_url, make_database, scenario):
    injected, plan, mode = PLANS[scenario]
    txs = replayer.random_activity(20)
    with RpcFaultProxy(anvil.url, plan) as proxy:
        settings = ingest_settings(proxy.url, db_url, rpc_timeout_seconds=1.0, rpc_max_retries=20, confirmations=0)
        ingestor = Ingestor(settings, db_url)
        if mode == "backfill":
            ingestor.backfill(0, ingestor.client.block_number())
        else:
            ingestor.follow()
    result = record(fills_result(scenario, injected, db_url, anvil.url, txs, clean_landing(anvil.url, make_database),
                                 faults_injected=proxy.stats.total_injected))
    assert proxy.stats.total_injected > 0, proxy.stats  # the faults really happened
    assert result.clean and result.details["same_rows_as_clean_run"], result


def test_dropped_websocket_while_following_lands_the_same_rows(anvil, replayer, db_url, make_database):
    txs = replayer.random_activity(15)
    with WsFaultProxy(anvil.url, FaultPlan(ws_drop_after=7, ws_max_drops=4)) as proxy:
        Ingestor(ingest_settings(proxy.url, db_url, rpc_concurrency=1, log_range_initial=2, log_range_max=2), db_url).follow()
    result = record(fills_result("rpc: websocket dropped while following", "the ws connection dropped without a close "
                                 "frame every 7 messages, 4 times", db_url, anvil.url, txs,
                                 clean_landing(anvil.url, make_database), connections=proxy.stats.connections))
    assert proxy.stats.connections >= 2
    assert result.clean and result.details["same_rows_as_clean_run"], result
