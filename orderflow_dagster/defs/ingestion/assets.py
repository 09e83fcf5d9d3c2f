"""The raw chain tables as one multi-asset: each run lands a block range.

Two kinds of run, one asset:
- follow runs (requested by the head sensor, config `mode: follow`) land from the database
  cursor up to the head, repairing reorgs first;
- backfill runs (a partition picked in the UI or `orderflow backfill`) replace a whole
  historical chunk, clipped to final blocks.
Either way rows, block hashes and the cursor are written in one transaction per range.
"""


import dagster as dg

from orderflow_dagster.chain.decode import RAW_TABLES
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, parse_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.ingest import IngestResult

RAW_TABLE_DESCRIPTIONS = {
    "raw_order_fills": "Every OrderFilled log of the V1 and V2 CTF exchanges (one row per order side filled).",
    "raw_orders_matched": "Every OrdersMatched log: one per match, the taker order's view.",
    "raw_token_registrations": "V1 TokenRegistered: the two outcome tokens of a condition.",
    "raw_conditions": "ConditionalTokens ConditionPreparation: markets created.",
    "raw_condition_tokens": "The outcome token ids of every prepared condition, computed from the chain (CTF id math).",
    "raw_resolutions": "ConditionalTokens ConditionResolution: payout vectors.",
    "raw_redemptions": "ConditionalTokens PayoutRedemption: winnings claimed.",
    "raw_outcome_reports": "NegRiskAdapter OutcomeReported: neg-risk question results.",
    "raw_quarantine": "Logs at watched contracts that could not be decoded, kept whole with the reason.",
}
INGEST_GROUP = "ingestion"


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


RAW_SPECS = [
    dg.AssetSpec(
        raw_asset_key(t), description=RAW_TABLE_DESCRIPTIONS[t], group_name=INGEST_GROUP,
        kinds={"postgres"}, metadata={"table": t},
        tags={"layer": "raw"},
    )
    for t in [*RAW_TABLES, "raw_quarantine"]
]


class IngestConfig(dg.Config):
    mode: str = "backfill"  # "follow" (sensor) or "backfill" (partition)
    to_block: int | None = None  # follow: land at least up to here (default: the head)


@dg.multi_asset(
    specs=RAW_SPECS,
    partitions_def=block_range_partitions,
    can_subset=False,
    name="chain_logs",
    description="Fetch Polymarket logs over a block range, decode them and land them in the raw tables.",
    op_tags={"orderflow/ingest": "true"},
)
def chain_logs(context: dg.AssetExecutionContext, config: IngestConfig, ingestion: ChainIngestion):
    ingestor = ingestion.ingestor()
    if config.mode == "follow":
        result = ingestor.follow(to_block=config.to_block)
    elif config.mode == "backfill":
        first, last = parse_key(context.partition_key)
        result = ingestor.backfill(first, last)
    else:
        raise dg.Failure(f"unknown ingest mode {config.mode!r} (expected 'follow' or 'backfill')")
    context.log.info(_summary(result))
    for table in [*RAW_TABLES, "raw_quarantine"]:
        yield dg.MaterializeResult(asset_key=raw_asset_key(table), metadata=landing_metadata(result, table))


def _summary(r: IngestResult) -> str:
    if r.from_block is None:
        return f"{r.mode}: nothing to land (head {r.head_block})"
    return (
        f"{r.mode}: blocks {r.from_block}-{r.to_block} ({r.blocks}), {r.logs} logs, {r.fills} fills, "
        f"{r.quarantined} quarantined, {len(r.reorgs)} reorgs, {r.fills_per_second:,.0f} fills/s, "
        f"lag {0 if r.to_block is None else r.head_block - r.to_block} blocks"
    )


def landing_metadata(r: IngestResult, table: str) -> dict:
    md = {
        "mode": r.mode,
        "rows_landed": dg.MetadataValue.int(r.rows.get(table, 0)),
        "head_block": dg.MetadataValue.int(r.head_block or 0),
        "logs": dg.MetadataValue.int(r.logs),
        "fills": dg.MetadataValue.int(r.fills),
        "quarantined": dg.MetadataValue.int(r.quarantined),
        "reorgs": dg.MetadataValue.int(len(r.reorgs)),
        "seconds": dg.MetadataValue.float(round(r.seconds, 3)),
        "fills_per_second": dg.MetadataValue.float(round(r.fills_per_second, 1)),
        "rpc_requests": dg.MetadataValue.int(r.rpc_requests),
    }
    if r.from_block is not None:
        md.update(
            from_block=dg.MetadataValue.int(r.from_block),
            to_block=dg.MetadataValue.int(r.to_block),
            blocks=dg.MetadataValue.int(r.blocks),
            lag_to_head_blocks=dg.MetadataValue.int(r.head_block - r.to_block),
        )
    for reorg in r.reorgs:
        md["last_reorg"] = dg.MetadataValue.json(
            {"fork_block": reorg.fork_block, "depth": reorg.depth, "old_hash": reorg.old_hash, "new_hash": reorg.new_hash}
        )
    return md
