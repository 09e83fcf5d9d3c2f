"""Block-range partitions: fixed-size chunks of the chain, registered as they are needed.

Keys are zero-padded "first-last" block numbers so they sort in chain order in the UI.
The head-following sensor lands into the chunk that holds the cursor; a backfill of history
materialises whole chunks in parallel runs (the run queue bounds how many at once).
"""


import dagster as dg

block_range_partitions = dg.DynamicPartitionsDefinition(name="block_ranges")

_WIDTH = 10


def chunk_bounds(block: int, size: int) -> tuple[int, int]:
    first = (block // size) * size
    return first, first + size - 1


def chunk_key(block: int, size: int) -> str:
    first, last = chunk_bounds(block, size)
    return f"{first:0{_WIDTH}d}-{last:0{_WIDTH}d}"


def parse_key(key: str) -> tuple[int, int]:
    first, last = key.split("-")
    return int(first), int(last)


def chunk_keys(from_block: int, to_block: int, size: int) -> list[str]:
    """Keys of every chunk that overlaps [from_block, to_block]."""
    first = (from_block // size) * size
    return [chunk_key(b, size) for b in range(first, to_block + 1, size)]
