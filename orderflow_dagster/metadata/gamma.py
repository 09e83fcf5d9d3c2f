"""Market metadata from Polymarket's Gamma API (`/markets`): enrichment, never required.

Fetches markets by condition id in small batches at a polite rate, with retries on 429/5xx
and timeouts, and turns each row into the raw_market_metadata shape. Gamma encodes
`outcomes` and `clobTokenIds` as JSON strings inside the JSON; both are decoded here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)


class GammaError(RuntimeError):
    pass


@dataclass(frozen=True)
class MarketMetadata:
    condition_id: str
    question: str | None
    slug: str | None
    outcomes: list[str] | None
    clob_token_ids: list[int] | None
    end_date: datetime | None
    closed: bool | None
    neg_risk: bool | None
    uma_resolution_status: str | None
    version: str | None
    payload: dict


def _json_list(value) -> list | None:
    """Gamma sends lists as JSON-encoded strings ('["Yes", "No"]'); accept real lists too."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, list) else None


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_market(row: dict) -> MarketMetadata | None:
    """One Gamma /markets row -> MarketMetadata; None when it has no condition id."""
    condition = row.get("conditionId")
    if not isinstance(condition, str) or not condition.startswith("0x"):
        return None
    tokens = _json_list(row.get("clobTokenIds"))
    try:
        token_ids = [int(t) for t in tokens] if tokens else None
    except (TypeError, ValueError):
        token_ids = None
    outcomes = _json_list(row.get("outcomes"))
    return MarketMetadata(
        condition_id=condition.lower(),
        question=row.get("question"),
        slug=row.get("slug"),
        outcomes=[str(o) for o in outcomes] if outcomes else None,
        clob_token_ids=token_ids,
        end_date=_date(row.get("endDate")),
        closed=row.get("closed") if isinstance(row.get("closed"), bool) else None,
        neg_risk=row.get("negRisk") if isinstance(row.get("negRisk"), bool) else None,
        uma_resolution_status=row.get("umaResolutionStatus"),
        version=str(row["version"]) if row.get("version") is not None else None,
        payload=row,
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, (httpx.TransportError, ValueError))


class GammaClient:
    def __init__(self, base_url: str, timeout: float = 15.0, min_interval: float = 0.25, batch_size: int = 25,
                 max_attempts: int = 5):
        self.base_url = base_url.rstrip("/")
        self.min_interval = min_interval  # seconds between requests: a polite rate
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._client = httpx.Client(timeout=timeout, headers={"user-agent": "orderflow/0.1"})
        self._last = 0.0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "GammaClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get(self, params: list[tuple[str, str]]) -> list[dict]:
        wait = self.min_interval - (time.monotonic() - self._last)
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        resp = self._client.get(f"{self.base_url}/markets", params=params)
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, list):
            raise ValueError(f"Gamma /markets returned {type(body).__name__}, expected a list")
        return body

    def markets_by_condition(self, condition_ids: Iterable[str]) -> Iterator[MarketMetadata]:
        ids = list(dict.fromkeys(c.lower() for c in condition_ids))
        for start in range(0, len(ids), self.batch_size):
            batch = ids[start:start + self.batch_size]
            params = [("condition_ids", c) for c in batch] + [("limit", str(len(batch)))]
            retrying = Retrying(retry=retry_if_exception(_retryable), stop=stop_after_attempt(self.max_attempts),
                                wait=wait_exponential_jitter(multiplier=0.5, max=20), reraise=True)
            try:
                rows = retrying(self._get, params)
            except (httpx.HTTPError, ValueError) as e:
                raise GammaError(f"Gamma /markets failed for {len(batch)} condition ids: {e}") from e
            for row in rows:
                market = parse_market(row)
                if market is not None and market.condition_id in batch:
                    yield market
