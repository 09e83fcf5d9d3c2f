"""Pure helpers: range planning, adaptive span, the decode pipeline, block-range partitions."""

import threading

from orderflow_dagster.chain.fetch import SpanController, plan_ranges
from orderflow_dagster.defs.ingestion.partitions import chunk_bounds, chunk_key, chunk_keys, parse_key
from orderflow_dagster.defs.ingestion.sensors import plan_follow_request
from orderflow_dagster.ingest import pipelined


def test_plan_ranges_covers_exactly_and_clips():
    assert plan_ranges(10, 25, 5, 10) == [(10, 14), (15, 19), (20, 24), (25, 25)]
    assert plan_ranges(10, 25, 5, 2) == [(10, 14), (15, 19)]
    assert plan_ranges(30, 25, 5, 2) == []


def test_span_halves_on_refusal_and_doubles_when_small():
    s = SpanController(span=100, max_span=300, target_logs=1000)
    s.observe(10, split=True)
    assert s.span == 50
    s.observe(10, split=False)
    s.observe(10, split=False)
    s.observe(10, split=False)
    assert s.span == 300  # capped
    s.observe(900, split=False)  # not small: stays
    assert s.span == 300
    for _ in range(20):
        s.shrink()
    assert s.span == 1


def test_pipelined_keeps_order_and_computes_the_next_item_while_the_caller_works():
    started = {i: threading.Event() for i in range(5)}

    def square(x):
        started[x].set()
        return x * x

    seen, next_started = [], []
    for item, result in pipelined(range(5), square):
        seen.append((item, result))
        if item < 4:  # while we hold item N, fn(N + 1) is already running or done
            next_started.append(started[item + 1].wait(timeout=2))
    assert seen == [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]
    assert all(next_started)
    assert list(pipelined([], square)) == []


def test_partition_keys_sort_in_chain_order():
    assert chunk_key(123_456, 100_000) == "0000100000-0000199999"
    assert parse_key(chunk_key(5, 100)) == chunk_bounds(5, 100) == (0, 99)
    keys = chunk_keys(950, 1_250, 100)
    assert keys == sorted(keys) and keys[0] == "0000000900-0000000999" and keys[-1] == "0000001200-0000001299"


def test_follow_request_stays_inside_one_partition():
    assert plan_follow_request(next_block=10, head=9, partition_size=100, max_blocks=50) is None
    assert plan_follow_request(10, 500, 100, 1000) == (10, 99, "0000000000-0000000099")
    assert plan_follow_request(10, 30, 100, 1000) == (10, 30, "0000000000-0000000099")
    assert plan_follow_request(10, 500, 100, 20) == (10, 29, "0000000000-0000000099")
