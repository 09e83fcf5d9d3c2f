"""The ingest benchmark runs end to end on a few thousand logs and ends with its fixed-format line.

No timing is asserted: this only proves the code `make bench-ingest` runs (generator, the child
process landing through Ingestor.backfill, the web3.py baseline and its row-by-row comparison,
the COPY floor) works, on a fresh database of the test server.
"""

from __future__ import annotations

import json
import re

from benchmarks import bench_ingest
from benchmarks.gen_logs import EXCHANGES, Manifest, generate
from orderflow_dagster.chain.contracts import EVENTS_BY_KEY


def test_generated_bodies_are_eth_getlogs_answers(tmp_path):
    manifest = generate(tmp_path, 2_000, logs_per_body=500, seed=3)
    assert manifest.logs == 2_000 and Manifest.load(tmp_path) == manifest
    seen_blocks = set()
    for body in manifest.bodies:
        reply = json.loads((tmp_path / body.file).read_bytes())
        assert set(reply) == {"jsonrpc", "id", "result"} and len(reply["result"]) == body.logs
        for log in reply["result"]:
            assert log["address"] in dict(EXCHANGES)
            assert log["topics"][0] in (EVENTS_BY_KEY["order_filled_v1"].topic0, EVENTS_BY_KEY["order_filled_v2"].topic0)
            assert body.from_block <= int(log["blockNumber"], 16) <= body.to_block and log["blockTimestamp"]
            seen_blocks.add(int(log["blockNumber"], 16))
    assert manifest.bodies[0].from_block == min(seen_blocks)


def test_benchmark_runs_and_ends_with_the_summary_line(pg_server_url, tmp_path):
    lines: list[str] = []
    result = bench_ingest.run(3_000, logs_per_body=700, sample=400, rounds=2, workdir=tmp_path, server_url=pg_server_url,
                              out=lines.append)
    assert re.fullmatch(r"ingest: \d+ fills/s, \d+\.\d x naive, \d+\.\d\d x copy floor, peak \d+ MB", lines[-1]), lines[-1]
    assert bench_ingest.LAST_LINE.match(lines[-1])
    assert any(line.startswith("naive: 400 logs") for line in lines)
    assert any("equal the rows ours landed" in line for line in lines)
    assert result["ours"]["fills"] == 3_000 and result["ours"]["ranges"] >= 5
    assert 0 < result["ours"]["peak_rss_mb"] < 2_000
    assert len(result["rounds"]) == 2 and sum(line.startswith("round ") for line in lines) == 2
    assert result["x"] == sum(r["x"] for r in result["rounds"]) / 2  # the median of two: their mean
