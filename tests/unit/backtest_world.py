"""A tiny hand-made world as the dbt models would show it (orderflow_trades, orderflow_market_outcomes).

Markets are traded for about a day and most resolve then; one in four resolves days later (so a
look at the future's resolutions would change what is known about past trades). Each is traded by taker BUYs against noise makers: informed wallets
buy the outcome that will win, degens the one that will lose, noise wallets either, all at a
price near the market's true probability; an informed wallet now and then sells what it bought,
a little higher. Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import polars as pl

from orderflow_dagster.backtest.data import MARKET_SCHEMA, TRADE_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
INFORMED = [f"0x{'1' * 39}{i}" for i in range(4)]
DEGENS = [f"0x{'2' * 39}{i}" for i in range(3)]
NOISE = [f"0x{'3' * 38}{i:02d}" for i in range(12)]


def make_world(seed: int = 1, days: int = 30, markets_per_day: int = 5, informed_edge: bool = True):
    rng = random.Random(seed)
    trades, markets, block = [], [], 0
    for m in range(days * markets_per_day):
        cid = f"0x{m:064x}"
        tokens = (str(10**20 + 2 * m), str(10**20 + 2 * m + 1))
        created = T0 + timedelta(days=m // markets_per_day, hours=rng.uniform(0, 20))
        p = rng.uniform(0.2, 0.8)
        won = 0 if rng.random() < p else 1
        resolved = created + timedelta(hours=rng.uniform(20, 30))
        resolves_late = rng.random() < 0.25
        markets.append(dict(condition_id=cid, title=f"market {m}", outcome_0_token_id=tokens[0],
                            outcome_1_token_id=tokens[1], resolved_at=resolved,
                            payout_fractions=[1.0, 0.0] if won == 0 else [0.0, 1.0]))
        t, holders = created, []
        for _ in range(rng.randint(6, 10)):
            t += timedelta(minutes=rng.uniform(5, 90))
            if t >= resolved:
                break
            kind, side = rng.random(), "BUY"
            if holders and kind < 0.3:  # an informed wallet takes its profit: sells what it bought
                (wallet, outcome, shares), side = holders.pop(), "SELL"
            elif kind < 0.3:
                wallet = rng.choice(INFORMED)
                outcome = won if informed_edge else rng.randrange(2)
            elif kind < 0.5:
                wallet, outcome = rng.choice(DEGENS), 1 - won
            else:
                wallet, outcome = rng.choice(NOISE), rng.randrange(2)
            fair = (p if outcome == 0 else 1 - p) + (0.02 if side == "SELL" and outcome == won else 0.0)
            price = round(min(0.95, max(0.05, fair + rng.uniform(-0.02, 0.02))), 2)
            if side == "BUY":
                shares = float(rng.randint(50, 400)) * (40 if wallet in INFORMED else 1)
                if wallet in INFORMED:
                    holders.append((wallet, outcome, shares))
            maker = rng.choice([w for w in NOISE if w != wallet])
            block += 1
            maker_side = "SELL" if side == "BUY" else "BUY"
            for log_index, (who, s_, taker) in enumerate(((maker, maker_side, False), (wallet, side, True))):
                trades.append(dict(chain_id=137, block_number=block, log_index=log_index, timestamp=t, wallet_address=who,
                                   condition_id=cid, token_id=tokens[outcome], outcome_index=outcome, side=s_,
                                   price=price, shares=shares, usdc_amount=round(shares * price, 6), fee=0.0,
                                   fee_unit="USDC", is_taker=taker))
        if resolves_late:
            markets[-1]["resolved_at"] = resolved + timedelta(days=rng.uniform(3, 7))
    return (pl.DataFrame(trades, schema=TRADE_SCHEMA).sort("chain_id", "block_number", "log_index"),
            pl.DataFrame(markets, schema=MARKET_SCHEMA))
