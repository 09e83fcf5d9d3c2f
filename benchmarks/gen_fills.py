"""Synthetic raw chain rows at scale for the dbt benchmark (benchmarks/bench_dbt.py).

Builds, as polars frames ready for COPY, what the ingestion would have landed for a market
universe (`Universe`: conditions, their outcome tokens, V1 token registrations, resolutions of
half the markets) and for a stream of trades (`trades`: OrderFilled rows plus one OrdersMatched
row per match, in consecutive blocks). Only polars and the standard library are used.

Shape of a match (as the exchange emits it): 1-3 maker fills, then the taker's own fill (its
`taker` is the exchange, its amounts the sum of the makers'), then OrdersMatched. V1 fills carry
maker/taker asset ids (0 = USDC), V2 fills `side` and `token_id`. Prices sit near a per-market
fair value; a fifth of the wallet slots go to 2,000 heavy traders, so wallet stats have depth.

Randomness: `random.Random(seed)` for the byte strings, polars' seeded `hash` of a row index for
the numeric columns; the same arguments give the same rows.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import polars as pl

CHAIN_ID = 137
CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
NEG_RISK_ADAPTER = "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"
UMA_ORACLE = "0x" + "11" * 20
EXCHANGES = [  # index = (generation - 1) * 2 + neg_risk
    "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e",  # V1 CTF exchange
    "0xc5d563a36ae78145c45a50134d48a1215220f80a",  # V1 neg-risk exchange
    "0xe111180000d2663c0091e4f400237545b87b996b",  # V2 CTF exchange
    "0xe2222d279d744050d28e00520010520000310f59",  # V2 neg-risk exchange
]
FIRST_BLOCK = 1_000_000
MATCHES_PER_BLOCK = 4
LOGS_PER_MATCH = 6         # log index stride within a block (3 makers + taker + matched fit in 5)
SECONDS_PER_BLOCK = 2
EPOCH = "2025-01-01 00:00:00+00"
HEAVY_WALLETS = 2_000
UNITS = 1_000_000          # USDC and outcome shares have 6 decimals


def _hexes(rnd: random.Random, n: int, nbytes: int) -> list[str]:
    blob = rnd.randbytes(n * nbytes).hex()
    w = 2 * nbytes
    return ["0x" + blob[i:i + w] for i in range(0, len(blob), w)]


def _u(col: str, seed: int) -> pl.Expr:
    """Uniform [0, 1) from a seeded hash of an integer column."""
    return (pl.col(col).hash(seed) % 1_000_000_007).cast(pl.Float64) / 1_000_000_007


def _ri(col: str, seed: int, n: int) -> pl.Expr:
    """Uniform integer in [0, n) from a seeded hash of an integer column."""
    return (pl.col(col).hash(seed) % n).cast(pl.Int64)


def _ts(block: pl.Expr) -> pl.Expr:
    return (pl.lit(EPOCH).str.to_datetime("%Y-%m-%d %H:%M:%S%#z", time_zone="UTC")
            + pl.duration(seconds=(block - FIRST_BLOCK) * SECONDS_PER_BLOCK))


@dataclass
class Universe:
    markets: pl.DataFrame      # market, condition_id, generation, neg_risk, fair, token0, token1, resolved
    wallets: list[str]

    @classmethod
    def make(cls, n_markets: int = 20_000, n_wallets: int = 200_000, seed: int = 1) -> "Universe":
        rnd = random.Random(seed)
        tokens = [str(rnd.getrandbits(248)) for _ in range(2 * n_markets)]
        markets = pl.DataFrame({
            "market": range(n_markets),
            "condition_id": _hexes(rnd, n_markets, 32),
            "question_id": _hexes(rnd, n_markets, 32),
            "prep_tx": _hexes(rnd, n_markets, 32),
            "res_tx": _hexes(rnd, n_markets, 32),
            "token0": tokens[0::2],
            "token1": tokens[1::2],
        }).with_columns(
            pl.when(_u("market", seed + 1) < 0.6).then(1).otherwise(2).cast(pl.Int16).alias("generation"),
            (_u("market", seed + 2) < 0.25).alias("neg_risk"),
            (0.05 + 0.9 * _u("market", seed + 3)).alias("fair"),
            (pl.col("market") < n_markets // 2).alias("resolved"),
        )
        return cls(markets, _hexes(rnd, n_wallets, 20))

    # --- market tables, landed before the first fill ------------------------------------

    def conditions(self) -> pl.DataFrame:
        m = self.markets
        return m.select(
            pl.lit(CHAIN_ID).alias("chain_id"), pl.lit(FIRST_BLOCK - 10).alias("block_number"),
            pl.lit("0x" + "ab" * 32).alias("block_hash"), _ts(pl.lit(FIRST_BLOCK - 10)).alias("block_timestamp"),
            pl.col("prep_tx").alias("tx_hash"), pl.lit(0).alias("log_index"), pl.lit(CTF).alias("contract_address"),
            pl.lit(0).alias("generation"), "condition_id",
            pl.when("neg_risk").then(pl.lit(NEG_RISK_ADAPTER)).otherwise(pl.lit(UMA_ORACLE)).alias("oracle"),
            "question_id", pl.lit(2).alias("outcome_slot_count"),
        )

    def condition_tokens(self) -> pl.DataFrame:
        c = self.conditions().drop("oracle", "question_id", "outcome_slot_count")
        extra = self.markets.select("token0", "token1", "neg_risk")
        both = pl.concat([c, extra], how="horizontal")
        return pl.concat([
            both.select(*c.columns, pl.lit(i).cast(pl.Int16).alias("outcome_index"), pl.col(f"token{i}").alias("token_id"),
                        pl.lit(USDC_E).alias("collateral"), "neg_risk")
            for i in (0, 1)
        ])

    def token_registrations(self) -> pl.DataFrame:
        """V1 TokenRegistered, both directions, for the V1 markets."""
        v1 = self.markets.filter(pl.col("generation") == 1)
        ex = pl.lit(pl.Series(EXCHANGES)).get(pl.col("neg_risk").cast(pl.Int64))
        base = [pl.lit(CHAIN_ID).alias("chain_id"), pl.lit(FIRST_BLOCK - 5).alias("block_number"),
                pl.lit("0x" + "ac" * 32).alias("block_hash"), _ts(pl.lit(FIRST_BLOCK - 5)).alias("block_timestamp"),
                pl.col("prep_tx").alias("tx_hash")]
        return pl.concat([
            v1.select(*base, pl.lit(i).alias("log_index"), ex.alias("contract_address"), pl.lit(1).alias("generation"),
                      "neg_risk", pl.col(a).alias("token0"), pl.col(b).alias("token1"), "condition_id")
            for i, (a, b) in enumerate((("token0", "token1"), ("token1", "token0")), start=1)
        ])

    def resolutions(self, block: int, seed: int = 5) -> pl.DataFrame:
        """ConditionResolution of every `resolved` market at `block`; outcome 0 wins with its fair odds."""
        r = self.markets.filter("resolved")
        won0 = _u("market", seed) < pl.col("fair")
        return r.select(
            pl.lit(CHAIN_ID).alias("chain_id"), pl.lit(block).alias("block_number"), pl.lit("0x" + "ef" * 32).alias("block_hash"),
            _ts(pl.lit(block)).alias("block_timestamp"), pl.col("res_tx").alias("tx_hash"), pl.lit(0).alias("log_index"),
            pl.lit(CTF).alias("contract_address"), pl.lit(0).alias("generation"), "condition_id",
            pl.when("neg_risk").then(pl.lit(NEG_RISK_ADAPTER)).otherwise(pl.lit(UMA_ORACLE)).alias("oracle"),
            "question_id", pl.lit(2).alias("outcome_slot_count"),
            pl.when(won0).then(pl.lit("{1,0}")).otherwise(pl.lit("{0,1}")).alias("payout_numerators"),
        )


def _makers_per_match(n_fills: int, rnd: random.Random) -> list[int]:
    """Makers per match (1, 1, 2 or 3; a last match may get a 4th) so sum(makers + 1) == n_fills."""
    if n_fills == 1:
        raise ValueError("a match has at least two fills (a maker's and the taker's)")
    out: list[int] = []
    left = n_fills
    while left > 0:
        k = min(rnd.choice((1, 1, 2, 3)), left - 1)
        if left - (k + 1) == 1:  # never leave a single fill over: this match takes it
            k += 1
        out.append(k)
        left -= k + 1
    return out


def trades(u: Universe, n_fills: int, start_block: int, *, seed: int = 42,
           open_markets_only: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(raw_order_fills, raw_orders_matched) rows of exactly n_fills fills from start_block on."""
    rnd = random.Random(seed)
    nm = _makers_per_match(n_fills, rnd)
    n_match = len(nm)
    n_markets = u.markets.height
    lo = n_markets // 2 if open_markets_only else 0
    matches = pl.DataFrame({"match": range(n_match), "makers": nm, "tx_hash": _hexes(rnd, n_match, 32)},
                           schema_overrides={"match": pl.Int64, "makers": pl.Int64}).with_columns(
        (lo + _ri("match", seed + 1, n_markets - lo)).alias("market"),
        _ri("match", seed + 2, 2).alias("outcome"),
        _ri("match", seed + 3, 2).alias("taker_side"),  # 0 BUY, 1 SELL
        (start_block + pl.col("match") // MATCHES_PER_BLOCK).alias("block_number"),
        ((pl.col("match") % MATCHES_PER_BLOCK) * LOGS_PER_MATCH).alias("log_base"),
    ).join(u.markets.select("market", "generation", "neg_risk", "fair", "token0", "token1"), on="market", how="left")

    f = matches.with_columns(pl.int_ranges(0, pl.col("makers") + 1).alias("pos")).explode("pos")
    f = f.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"))
    f = f.with_columns(
        (pl.col("pos") == pl.col("makers")).alias("is_taker"),
        pl.Series("order_hash", _hexes(rnd, f.height, 32)),
        # a wallet slot: 20% go to the heavy traders
        pl.when(_u("i", seed + 4) < 0.2).then(_ri("i", seed + 5, min(HEAVY_WALLETS, len(u.wallets))))
          .otherwise(_ri("i", seed + 6, len(u.wallets))).alias("w"),
        (pl.when(pl.col("outcome") == 0).then(pl.col("fair")).otherwise(1 - pl.col("fair"))
         + (_u("i", seed + 7) - 0.5) * 0.06).clip(0.01, 0.99).round(2).alias("price"),
        ((5 + _ri("i", seed + 8, 50_000)) * 10_000).alias("maker_shares"),  # 0.05 .. 500 shares
    )
    f = f.with_columns(pl.lit(pl.Series(u.wallets)).get(pl.col("w")).alias("wallet"),
                       (pl.col("maker_shares") * pl.col("price")).cast(pl.Int64).alias("maker_usdc"))
    f = f.with_columns(
        pl.when("is_taker").then(0).otherwise(pl.col("maker_shares")).alias("maker_shares"),
        pl.when("is_taker").then(0).otherwise(pl.col("maker_usdc")).alias("maker_usdc"),
    ).with_columns(
        pl.col("wallet").filter(pl.col("is_taker")).first().over("match").alias("taker_wallet"),
        pl.col("maker_shares").sum().over("match").alias("match_shares"),
        pl.col("maker_usdc").sum().over("match").alias("match_usdc"),
    )
    exchange = pl.lit(pl.Series(EXCHANGES)).get((pl.col("generation").cast(pl.Int64) - 1) * 2 + pl.col("neg_risk").cast(pl.Int64))
    shares = pl.when("is_taker").then(pl.col("match_shares")).otherwise(pl.col("maker_shares"))
    usdc = pl.when("is_taker").then(pl.col("match_usdc")).otherwise(pl.col("maker_usdc"))
    side = pl.when("is_taker").then(pl.col("taker_side")).otherwise(1 - pl.col("taker_side"))
    token = pl.when(pl.col("outcome") == 0).then(pl.col("token0")).otherwise(pl.col("token1"))
    v1 = pl.col("generation") == 1
    f = f.with_columns(exchange.alias("exchange"), shares.alias("shares"), usdc.alias("usdc"), side.alias("side_"),
                       token.alias("token"))
    fills = f.select(
        pl.lit(CHAIN_ID).alias("chain_id"), "block_number", pl.lit("0x" + "cd" * 32).alias("block_hash"),
        _ts(pl.col("block_number")).alias("block_timestamp"), "tx_hash",
        (pl.col("log_base") + pl.col("pos")).alias("log_index"), pl.col("exchange").alias("contract_address"),
        "generation", "neg_risk", "order_hash", pl.col("wallet").alias("maker"),
        pl.when("is_taker").then(pl.col("exchange")).otherwise(pl.col("taker_wallet")).alias("taker"),
        # V1: the maker gives USDC (asset 0) when buying, the token when selling
        pl.when(v1).then(pl.when(pl.col("side_") == 0).then(pl.lit("0")).otherwise(pl.col("token"))).alias("maker_asset_id"),
        pl.when(v1).then(pl.when(pl.col("side_") == 0).then(pl.col("token")).otherwise(pl.lit("0"))).alias("taker_asset_id"),
        pl.when(~v1).then(pl.col("side_")).alias("side"),
        pl.when(~v1).then(pl.col("token")).alias("token_id"),
        pl.when(pl.col("side_") == 0).then(pl.col("usdc")).otherwise(pl.col("shares")).alias("maker_amount_filled"),
        pl.when(pl.col("side_") == 0).then(pl.col("shares")).otherwise(pl.col("usdc")).alias("taker_amount_filled"),
        pl.when("is_taker").then(pl.col("usdc") // 1000).otherwise(0).alias("fee"),
    )
    matched = fills.filter(pl.Series(f["is_taker"])).select(
        "chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", (pl.col("log_index") + 1).alias("log_index"),
        "contract_address", "generation", "neg_risk", pl.col("order_hash").alias("taker_order_hash"),
        pl.col("maker").alias("taker_order_maker"), "maker_asset_id", "taker_asset_id", "side", "token_id",
        "maker_amount_filled", "taker_amount_filled",
    )
    return fills, matched


def copy_frame(conn, table: str, df: pl.DataFrame, chunk_rows: int = 500_000) -> int:
    """COPY a frame into `table` (columns by name) as CSV, in chunks to bound memory."""
    cols = ", ".join(df.columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as cp:
        for off in range(0, df.height, chunk_rows):
            buf = io.BytesIO()
            df.slice(off, chunk_rows).write_csv(buf, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%z")
            cp.write(buf.getvalue())
    return df.height
