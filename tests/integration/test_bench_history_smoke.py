"""The history benchmark runs end to end on a small history and ends with its fixed-format line.

No timing is asserted. The WAL is: with every wallet's entries already filling a leaf of the one
table's (wallet_address) index, a run there dirties a leaf per wallet, while in daily
partitions it touches only its day's small indexes (what `make bench-history` measures).
"""

from __future__ import annotations

from benchmarks import bench_history


def test_benchmark_runs_and_ends_with_the_summary_line(pg_server_url):
    lines: list[str] = []
    result = bench_history.run(300, 1_500, 2, server_url=pg_server_url, out=lines.append)
    assert bench_history.LAST_LINE.match(lines[-1]), lines[-1]
    assert lines[-3].startswith("table: 1,500 runs of 300 wallets") and lines[-2].startswith("daily: ")
    assert result["table_s"] > 0 and result["daily_s"] > 0
    assert result["daily_wal_mb"] < result["table_wal_mb"] / 2, result
