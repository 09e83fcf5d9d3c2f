"""The dbt benchmark runs end to end on ~2,000 fills and ends with its fixed-format line.

No timing is asserted: this only proves the code `make bench-dbt` runs (the generator, COPY into
every raw table with its ingest_ranges rows, the full dbt build, the appended range and the
incremental build that picks it up, then a build with nothing new) works, on a fresh database of the test server.
"""

from __future__ import annotations

import re

from benchmarks import bench_dbt
import polars as pl

from benchmarks.gen_fills import EXCHANGES, Universe, trades


def test_generator_gives_exact_fill_counts_and_whole_matches():
    u = Universe.make(50, 300, seed=1)
    for n in (2, 3, 5, 7, 1_001):
        fills, matched = trades(u, n, 1_000_000, seed=n)
        assert fills.height == n
        # one OrdersMatched per match, logged right after the taker's fill (whose taker is the exchange)
        taker_fills = fills.filter(pl.col("taker").is_in(EXCHANGES))
        assert matched.height == taker_fills.height >= 1
        assert matched["log_index"].to_list() == (taker_fills["log_index"] + 1).to_list()
        assert fills.select("tx_hash", "log_index").is_unique().all()


def test_benchmark_runs_and_ends_with_the_summary_line(pg_server_url):
    lines: list[str] = []
    result = bench_dbt.run(2_000, 200, n_markets=200, n_wallets=2_000, server_url=pg_server_url, out=lines.append)
    assert re.fullmatch(r"dbt: full \d+\.\d s, incremental \d+\.\d s, ratio \d+\.\d{3}", lines[-1]), lines[-1]
    assert bench_dbt.LAST_LINE.match(lines[-1])
    assert result["trades"] == 2_000 and result["trades_after"] == 2_200
    assert result["full_s"] > 0 and result["incremental_s"] > 0 and result["no_change_s"] > 0
    assert lines[-2].startswith("no-change build: "), lines[-2]
    # the test server lets the role read the WAL position: each run reports what it wrote
    assert re.match(r"incremental build: \d+\.\d s, [\d,]+ MB of WAL \(settled \d+\.\d s before\),"
                    r" orderflow_trades 2,200 rows", lines[-3]), lines[-3]
    # each timed build starts on a settled server (CHECKPOINT, sync), the first one says so
    assert any(re.fullmatch(r"settle: \d+\.\d s \(CHECKPOINT and sync before each timed build\)", line)
               for line in lines), lines
    assert re.match(r"no-change build: \d+\.\d s, [\d,]+ MB of WAL \(", lines[-2]), lines[-2]
