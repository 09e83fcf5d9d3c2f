"""One typed settings object, read from the environment.

Every variable is documented in the README. A bad value stops start-up with a message that
names the variable (pydantic's validation error is reworded in `load_settings`).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(SystemExit):
    """Raised for a bad setting; exits with the message when uncaught."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Where things live
    orderflow_home: Path = Field(default=REPO_ROOT / ".orderflow", description="state dir: embedded pg, DAGSTER_HOME")
    database_url: str | None = Field(default=None, description="Postgres URL; unset = embedded Postgres")

    # Chain
    polygon_rpc_url: str | None = Field(default=None, description="http(s)/ws(s) JSON-RPC; unset = local anvil")
    chain_id: int = Field(default=137, ge=1)
    start_block: int | None = Field(default=None, ge=0, description="first block to follow; default: a few minutes behind head")
    start_lag_blocks: Annotated[int, Field(ge=0)] = 150  # ~5 min of Polygon's 2 s blocks
    confirmations: Annotated[int, Field(ge=0, le=1000)] = 5
    reorg_window_blocks: Annotated[int, Field(ge=8, le=100_000)] = 256

    # Fetching
    rpc_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    rpc_max_retries: Annotated[int, Field(ge=0, le=50)] = 8
    rpc_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    log_range_initial: Annotated[int, Field(ge=1, le=100_000)] = 2_000
    log_range_max: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_blocks_per_run: Annotated[int, Field(ge=1, le=10_000_000)] = 50_000
    partition_size_blocks: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000

    # Local simulated chain (used when POLYGON_RPC_URL is unset)
    anvil_block_time: Annotated[float, Field(gt=0, le=60)] = 2.0
    anvil_port: Annotated[int, Field(ge=1024, le=65535)] = 8545
    # the simulated world (simulator/world.py): its seed, its rate, and the history fast-forwarded
    # (packed into SIM_WARMUP_BLOCK_SECONDS blocks) before it runs live, so wallets are rated at once
    sim_seed: int = 0
    sim_fills_per_hour: Annotated[float, Field(gt=0, le=100_000)] = 1000.0
    sim_warmup_days: Annotated[float, Field(ge=0, le=365)] = 7.0  # every default wallet has >= 48 resolved markets
    sim_warmup_block_seconds: Annotated[float, Field(ge=2, le=86_400)] = 600.0

    # Market metadata (optional enrichment from Polymarket's Gamma API)
    enable_metadata: bool = True
    gamma_api_url: str = "https://gamma-api.polymarket.com"
    metadata_batch_limit: Annotated[int, Field(ge=1, le=100_000)] = 500  # condition ids per asset run
    metadata_refresh_hours: Annotated[float, Field(ge=0)] = 6.0  # re-fetch markets not yet closed after this

    # Scoring (dbt)
    calculation_interval_seconds: Annotated[int, Field(ge=60, le=86_400)] = 3600
    scoring_cron: str | None = None  # overrides CALCULATION_INTERVAL_SECONDS, e.g. "15 * * * *"
    # days of orderflow_reputation_history kept (whole days, dropped by the scoring run itself:
    # dbt reads this variable, macros/history_partitions.sql); unset = keep every day
    history_retention_days: Annotated[int, Field(ge=1, le=100_000)] | None = None

    # Dagster
    dagster_port: Annotated[int, Field(ge=1, le=65535)] = 3000
    dagster_code_server_port: Annotated[int, Field(ge=0, le=65535)] = 0  # `orderflow up`'s code server; 0 = a free port
    sensor_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    # The fast path (fastpath.py): `orderflow up` lands each block and trades on it at once
    fast_path: bool = True
    fast_path_poll_seconds: Annotated[float, Field(ge=0.05, le=60)] = 0.5

    @field_validator("polygon_rpc_url")
    @classmethod
    def _rpc_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.split("://", 1)[0] in ("http", "https", "ws", "wss"):
            raise ValueError("must start with http://, https://, ws:// or wss://")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if v.startswith("postgres://"):
            # libpq takes it, but Dagster's storage (SQLAlchemy 2) does not know that scheme
            raise ValueError("write postgresql:// instead of postgres:// (Dagster's storage refuses the short scheme)")
        if not v.startswith("postgresql://"):
            raise ValueError("must be a postgresql:// URL")
        return v

    @field_validator("gamma_api_url")
    @classmethod
    def _gamma_scheme(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("scoring_cron")
    @classmethod
    def _cron_shape(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        # Five cron fields (minute hour day month weekday); Dagster parses the rest when it loads.
        if not re.fullmatch(r"\s*([0-9A-Za-z*/,\-?]+\s+){4}[0-9A-Za-z*/,\-?]+\s*", v):
            raise ValueError("must be a cron expression of five fields, e.g. '15 * * * *'")
        return v.strip()

    @property
    def uses_local_chain(self) -> bool:
        return self.polygon_rpc_url is None

    @property
    def rpc_url(self) -> str:
        """The node to read: POLYGON_RPC_URL, or the local anvil that `orderflow up` starts."""
        return self.polygon_rpc_url or f"http://127.0.0.1:{self.anvil_port}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set (`orderflow up` sets it for the embedded Postgres)")
        return self.database_url

    @property
    def metadata_url(self) -> str | None:
        """Gamma base URL, or None when enrichment is off.

        On the simulated local chain the public Gamma host knows none of the markets, so
        enrichment runs only when GAMMA_API_URL is set explicitly (e.g. to the simulator's server).
        """
        if not self.enable_metadata:
            return None
        if self.uses_local_chain and "gamma_api_url" not in self.model_fields_set:
            return None
        return self.gamma_api_url

    @property
    def dagster_home(self) -> Path:
        return self.orderflow_home / "dagster"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.orderflow_home / "pg"


# Values never echoed back in error messages (they may carry passwords or keys).
_SECRET_VARS = {"DATABASE_URL", "POLYGON_RPC_URL"}


def explain_validation_error(err: ValidationError, title: str, secret_vars: set[str]) -> str:
    """A pydantic error as one line per variable, naming it; secret values are never echoed."""
    lines = [title]
    for e in err.errors():
        var = "_".join(str(p) for p in e["loc"]).upper()
        if not var:  # a model-level rule: its message names the variables
            lines.append(f"  {str(e.get('ctx', {}).get('error', e['msg']))}")
            continue
        shown = "<hidden>" if var in secret_vars else repr(os.environ.get(var, "<unset>"))
        lines.append(f"  {var}={shown}: {e['msg']}")
    return "\n".join(lines)


def load_settings(**overrides) -> Settings:
    """Read settings from the environment; exit with a message naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(explain_validation_error(err, "Invalid configuration:", _SECRET_VARS)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
