"""Run a block without the compiled ingestion helpers (warehouse/fastrows.py's C extension), as on
a machine without a C compiler: the tests that compare both paths share this one switch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orderflow_dagster.warehouse import fastrows


@contextmanager
def polars_only() -> Iterator[None]:
    """Decode and write rows without the compiled helpers, restoring them afterwards."""
    saved, fastrows._copyrows = fastrows._copyrows, None
    try:
        yield
    finally:
        fastrows._copyrows = saved
