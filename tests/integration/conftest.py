"""Real parts for integration tests: an anvil node (chain id 137) and a migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow_dagster.settings import Settings, load_settings
from orderflow_dagster.simulator.anvil import AnvilNode
from orderflow_dagster.simulator.replayer import Replayer
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.integration.chain_truth import head_after


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:  # automine: every transaction is its own block unless batched
        yield node


class MinedReplayer(Replayer):
    """random_activity returns once its last transaction is mined: anvil may answer
    eth_sendTransaction before the automined block exists, and a test that reads the head at once
    (a follow) could miss the last block under load (seen in CI)."""

    def random_activity(self, n_matches: int) -> list[str]:
        txs = super().random_activity(n_matches)
        if txs:
            head_after(self.rpc_url, txs)
        return txs


@pytest.fixture
def replayer(anvil: AnvilNode) -> Iterator[Replayer]:
    with MinedReplayer(anvil.url, seed=7) as r:
        yield r


@pytest.fixture
def db_url(pg_url: str) -> str:
    apply_migrations(pg_url)
    return pg_url


def ingest_settings(rpc_url: str, db_url: str, **overrides) -> Settings:
    """Settings for a test chain: start at block 0, small ranges so several transactions land."""
    values = dict(polygon_rpc_url=rpc_url, database_url=db_url, start_block=0, confirmations=0,
                  log_range_initial=16, log_range_max=64, rpc_max_retries=8, rpc_timeout_seconds=2.0)
    values.update(overrides)
    return load_settings(**values)
