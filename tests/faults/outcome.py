"""What a fault scenario measures, and the results file the README table is printed from.

Every scenario ends by counting, against the chain's truth or a clean run of the same scenario:
- rows lost: canonical fills (or clean-run executions) missing or different;
- duplicates: rows beyond one per canonical fill / execution, or rows that should not exist;
- limit breaches: risk limits the final trading state violates.
`record` appends one JSON line per scenario to $FAULTS_RESULTS (default .orderflow/faults/results.jsonl).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import psutil

from orderflow_dagster.settings import REPO_ROOT
from orderflow_dagster.trading.config import TradingSettings
from orderflow_dagster.warehouse.embedded import EmbeddedPostgres


def results_path() -> Path:
    return Path(os.environ.get("FAULTS_RESULTS") or REPO_ROOT / ".orderflow" / "faults" / "results.jsonl")


@dataclass
class Result:
    scenario: str
    injected: str
    rows_lost: int = 0
    duplicates: int = 0
    limit_breaches: int = 0
    details: dict = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.rows_lost == 0 and self.duplicates == 0 and self.limit_breaches == 0


def record(result: Result) -> Result:
    """Append the scenario's result (before the test asserts on it, so failures are recorded too)."""
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({**asdict(result), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, default=str) + "\n")
    return result


def fill_counts(conn, truth: dict[tuple[str, int], tuple[str, int]]) -> tuple[int, int]:
    """(lost, duplicates) of raw_order_fills against canonical_fills (chain_truth.py)."""
    rows = conn.execute("SELECT tx_hash, log_index, maker, maker_amount_filled FROM raw_order_fills").fetchall()
    landed = Counter((tx, li, maker, int(amount)) for tx, li, maker, amount in rows)
    matched = sum(1 for (tx, li), (maker, amount) in truth.items() if landed[(tx, li, maker, amount)] >= 1)
    return len(truth) - matched, len(rows) - matched


_EXECUTIONS = """
SELECT s.trigger_wallet, s.condition_id, s.signal_type, s.status, split_part(coalesce(s.status_reason, ''), ':', 1),
       s.stake_usd, s.our_size, s.our_cost_usd
  FROM orderflow_signals s ORDER BY s.id
"""


def trading_counts(conn, clean_conn) -> tuple[int, int]:
    """(lost, duplicates) of trading decisions against a clean run of the same world.

    Trigger trades get new hashes in each world, so decisions are compared by what they are:
    wallet, market, type, status, reason code, stake and fill. Duplicates also count signals
    sharing a trigger and positions sharing a signal (the schema forbids both; counted anyway).
    """
    got, want = Counter(conn.execute(_EXECUTIONS).fetchall()), Counter(clean_conn.execute(_EXECUTIONS).fetchall())
    lost = sum((want - got).values())
    dup = sum((got - want).values())
    dup += conn.execute("""SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM orderflow_signals
                            GROUP BY trigger_tx_hash, trigger_log_index, trigger_wallet) x""").fetchone()[0]
    dup += conn.execute("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM orderflow_positions GROUP BY signal_id) x"
                        ).fetchone()[0]
    return lost, int(dup)


def limit_breaches(conn, cfg: TradingSettings) -> list[str]:
    """Risk limits the trading tables violate now (open positions, exposure per market and in all, stake)."""
    out = []
    n, total = conn.execute("SELECT count(*), coalesce(sum(cost_usd), 0) FROM orderflow_positions WHERE status = 'OPEN'").fetchone()
    if n > cfg.max_open_positions:
        out.append(f"{n} open positions > MAX_OPEN_POSITIONS {cfg.max_open_positions}")
    if total > Decimal(str(cfg.bankroll_usd)):
        out.append(f"{total} at risk > BANKROLL_USD {cfg.bankroll_usd}")
    for cid, cost in conn.execute("SELECT condition_id, sum(cost_usd) FROM orderflow_positions WHERE status = 'OPEN' GROUP BY 1"):
        if cost > Decimal(str(cfg.max_market_exposure_usd)):
            out.append(f"{cost} in {cid} > MAX_MARKET_EXPOSURE_USD {cfg.max_market_exposure_usd}")
    for (cost,) in conn.execute("SELECT cost_usd FROM orderflow_positions"):
        if cost > Decimal(str(cfg.max_position_usd)):
            out.append(f"position {cost} > MAX_POSITION_USD {cfg.max_position_usd}")
    return out


def kill_postgres(pg: EmbeddedPostgres) -> int:
    """kill -9 the postmaster and every backend of `pg` (a crash, not a shutdown); returns the postmaster pid."""
    pid = int((pg.pgdata / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    procs = [postmaster, *postmaster.children(recursive=True)]
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE  # a killed postmaster may stay a zombie: dead all the same
    except psutil.NoSuchProcess:
        return False
