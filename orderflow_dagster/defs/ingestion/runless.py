"""Landings made outside a Dagster run (the fast path) recorded as runless materializations,
with the same metadata as a run's, so the raw assets' history in the UI stays whole."""


import dagster as dg

from orderflow_dagster.defs.ingestion.assets import RAW_SPECS, landing_metadata
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, chunk_key
from orderflow_dagster.ingest import IngestResult


def report_landing(instance: dg.DagsterInstance, result: IngestResult, partition_size: int) -> None:
    if result.from_block is None:
        return
    partition = chunk_key(result.from_block, partition_size)
    if not instance.has_dynamic_partition(block_range_partitions.name, partition):
        instance.add_dynamic_partitions(block_range_partitions.name, [partition])
    for spec in RAW_SPECS:
        md = {**landing_metadata(result, spec.metadata["table"]), "path": "fast path (runless)"}
        instance.report_runless_asset_event(dg.AssetMaterialization(spec.key, partition=partition, metadata=md))
