"""Outcome tokens of prepared conditions, derived from ConditionPreparation rows."""

from __future__ import annotations

import polars as pl

from orderflow_dagster.chain.contracts import CONTRACTS, NEGRISK_WRAPPED_COLLATERAL, USDC_E
from orderflow_dagster.chain.ctf_ids import condition_token_ids

NEGRISK_ADAPTER = next(c.address for c in CONTRACTS if c.kind == "negrisk_adapter")
_KEEP = ["chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", "log_index", "contract_address", "generation"]

CONDITION_TOKEN_COLUMNS = _KEEP + ["condition_id", "outcome_index", "token_id", "collateral", "neg_risk"]


def condition_tokens(conditions: pl.DataFrame) -> pl.DataFrame:
    """One row per outcome token of each raw_conditions row.

    Neg-risk markets are prepared with the NegRiskAdapter as oracle and backed by
    WrappedCollateral; the rest by USDC.e.
    """
    rows = []
    for cond in conditions.iter_rows(named=True):
        neg_risk = cond["oracle"] == NEGRISK_ADAPTER
        ids = condition_token_ids(cond["condition_id"], int(cond["outcome_slot_count"]), neg_risk)
        for i, token in enumerate(ids):
            rows.append({**{k: cond[k] for k in _KEEP}, "condition_id": cond["condition_id"], "outcome_index": i,
                         "token_id": str(token), "collateral": NEGRISK_WRAPPED_COLLATERAL if neg_risk else USDC_E,
                         "neg_risk": neg_risk})
    if not rows:
        return pl.DataFrame(schema={c: conditions.schema.get(c, pl.String) for c in CONDITION_TOKEN_COLUMNS})
    return pl.DataFrame(rows, schema_overrides={k: conditions.schema[k] for k in _KEEP}).select(CONDITION_TOKEN_COLUMNS)
