"""The ingestion resource: builds an Ingestor from the environment (or explicit values in tests)."""


import dagster as dg

from orderflow_dagster.chain.rpc import RpcClient
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.settings import Settings, load_settings


class ChainIngestion(dg.ConfigurableResource):
    """Where to read the chain and land rows. Unset values come from the environment."""

    database_url: str | None = None
    rpc_url: str | None = None
    start_block: int | None = None

    def settings(self) -> Settings:
        pairs = (("database_url", self.database_url), ("polygon_rpc_url", self.rpc_url), ("start_block", self.start_block))
        return load_settings(**{k: v for k, v in pairs if v is not None})

    def ingestor(self) -> Ingestor:
        s = self.settings()
        return Ingestor(s, s.require_database_url())

    def rpc(self) -> RpcClient:
        s = self.settings()
        return RpcClient(s.rpc_url, timeout=min(s.rpc_timeout_seconds, 10.0), max_retries=2)
