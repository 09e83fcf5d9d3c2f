"""The backfill benchmark runs end to end on a tiny world and ends with its fixed-format line.

No timing is asserted: this only proves the code `make bench-backfill` runs works: a real anvil
filled by the simulator, real Dagster instances on a fresh database each with the queued run
coordinator, a real `dagster-daemon` running an asset backfill of two block-range partitions
with the backfill tag limit 1, then 2, and every fill landed exactly once each time.
"""

from __future__ import annotations

import re

from benchmarks import bench_backfill


def test_dagster_yaml_only_changes_the_backfill_limit():
    import yaml

    repo = yaml.safe_load((bench_backfill.REPO_ROOT / "dagster.yaml").read_text())
    ours = yaml.safe_load(bench_backfill.dagster_yaml(3))
    limits = ours["run_coordinator"]["config"].pop("tag_concurrency_limits")
    assert {"key": "dagster/backfill", "limit": 3} in limits
    assert [t for t in limits if t["key"] != "dagster/backfill"] == [
        t for t in repo["run_coordinator"]["config"].pop("tag_concurrency_limits") if t["key"] != "dagster/backfill"]
    assert ours == repo  # storage, launcher, monitoring, retries, max_concurrent_runs (3) as shipped


def test_max_overlap():
    assert bench_backfill.max_overlap([(0, 2), (1, 3), (2, 4)]) == 2  # one ending as the next starts: not both
    assert bench_backfill.max_overlap([(0, 1), (1, 2)]) == 1


def test_benchmark_runs_and_ends_with_the_summary_line(pg_server_url):
    lines: list[str] = []
    result = bench_backfill.run(days=0.2, n_partitions=2, limits=(1, 2), world_scale=0.2, timeout=300,
                                server_url=pg_server_url, out=lines.append)
    assert re.fullmatch(r"backfill: \d+ fills, 1 run \d+ fills/s, 2 runs \d+ fills/s, speedup \d+\.\d\d x", lines[-1]), lines
    assert bench_backfill.LAST_LINE.match(lines[-1])
    chain = result["chain"]
    assert len(chain.partitions) == 2 and chain.fills > 0
    for limit, m in result["results"].items():
        assert m.fills == chain.fills  # counted in raw_order_fills; run() also checks matches and unique keys
        assert m.runs == 2 and m.max_parallel <= limit
        assert 0 < m.to_first_run < m.wall
    assert lines[-1].startswith(f"backfill: {chain.fills} fills, ")
    assert sum("exactly once" in line for line in lines) == 2
