"""The Gamma enrichment asset against a real local HTTP server shaped like Gamma's /markets."""

import dagster as dg
import pytest

from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.defs.metadata.assets import market_metadata
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.warehouse.db import connect
from tests.integration.conftest import ingest_settings
from tests.support.gamma_server import GammaServer, gamma_row

pytestmark = pytest.mark.integration


def test_metadata_lands_for_known_markets_with_retries_and_rerun_fetches_nothing_new(anvil, replayer, db_url, monkeypatch):
    markets = [replayer.create_market(1, False), replayer.create_market(2, True), replayer.create_market(1, False)]
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    known = {m.condition_id: gamma_row(m.condition_id, f"Question {i} with 'quotes' and ; DROP TABLE x", list(m.token_ids))
             for i, m in enumerate(markets[:2])}  # the third market is unknown to Gamma
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    with GammaServer(known, fail_first=2) as gamma:
        monkeypatch.setenv("GAMMA_API_URL", gamma.url)
        result = dg.materialize([market_metadata], resources={"ingestion": resource})
        md = result.asset_materializations_for_node("raw__raw_market_metadata")[0].metadata
        assert (md["requested"].value, md["fetched"].value, md["not_found"].value) == (3, 2, 1)
        assert len(gamma.requests) >= 3  # two refused with 429, then served
        with connect(db_url) as conn:
            rows = dict(conn.execute("SELECT condition_id, question FROM raw_market_metadata").fetchall())
            tokens = conn.execute("SELECT clob_token_ids FROM raw_market_metadata WHERE condition_id = %s",
                                  (markets[0].condition_id,)).fetchone()[0]
        assert rows[markets[1].condition_id] == "Question 1 with 'quotes' and ; DROP TABLE x"
        assert [int(t) for t in tokens] == list(markets[0].token_ids)

        again = dg.materialize([market_metadata], resources={"ingestion": resource})
        md = again.asset_materializations_for_node("raw__raw_market_metadata")[0].metadata
        assert (md["requested"].value, md["fetched"].value) == (1, 0)  # only the market Gamma does not know


def test_metadata_is_off_when_disabled(anvil, replayer, db_url, monkeypatch):
    monkeypatch.setenv("ENABLE_METADATA", "false")
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    result = dg.materialize([market_metadata], resources={"ingestion": resource})
    assert result.asset_materializations_for_node("raw__raw_market_metadata")[0].metadata["enabled"].value is False
