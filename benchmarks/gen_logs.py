"""Real-shaped Polymarket `OrderFilled` logs, written as `eth_getLogs` JSON-RPC response bodies.

What "real-shaped" means here (see ../shared/chain-facts.md, "Reading a fill"):
- the four exchange addresses (CTF and NegRisk, V1 and V2) with their real topic0 and data
  layouts, encoded word by word exactly as the contracts emit them;
- matches as the exchanges emit them: one transaction holds 1-6 maker fills (maker = each
  resting order's wallet, taker = the taker's wallet) and then the taker's own fill, whose
  `taker` is the exchange contract itself; log indices leave gaps for the ERC-20/ERC-1155
  transfer logs a match also emits; several matches per transaction index per block;
- a few thousand distinct token ids (random 256-bit values, as real position ids are), popular
  markets much more traded than the tail; ~150,000 wallets with a heavy-tailed activity;
- amounts with 6 decimals: shares from under one to tens of thousands, prices on a one-cent
  tick, collateral = shares x price, V1 fees mostly zero, V2 taker fees
  shares x rate x p x (1 - p); V2 builder/metadata mostly zero words, some set;
- every log carries blockTimestamp (as recent nodes return it), transactionIndex and removed,
  in the key order geth writes; each body is `{"jsonrpc":"2.0","id":N,"result":[...]}`.

One body covers `blocks_per_body` consecutive blocks (about 40 fills per block, Polygon's busy
hours), so a fixed eth_getLogs span of that many blocks asks for exactly one body.
Deterministic for a given seed. Generation is plain Python; about 10 s per million logs.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from orderflow_dagster.chain.contracts import CONTRACTS_BY_ADDRESS, EVENTS_BY_KEY

FIRST_BLOCK = 65_000_000
FIRST_TIMESTAMP = 1_730_000_000  # 2024-10-27, Polygon 2 s blocks after that
CHAIN_ID = 137
FILLS_PER_BLOCK = 40  # mean OrderFilled logs per block
EXCHANGES = [  # (address, weight): share of matches per exchange
    ("0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e", 0.35),  # CTF Exchange V1
    ("0xc5d563a36ae78145c45a50134d48a1215220f80a", 0.25),  # NegRisk CTF Exchange V1
    ("0xe111180000d2663c0091e4f400237545b87b996b", 0.25),  # CTF Exchange V2
    ("0xe2222d279d744050d28e00520010520000310f59", 0.15),  # NegRisk CTF Exchange V2
]
TOPIC_V1 = EVENTS_BY_KEY["order_filled_v1"].topic0
TOPIC_V2 = EVENTS_BY_KEY["order_filled_v2"].topic0
ZERO_WORD = "0" * 64
MANIFEST = "manifest.json"


def block_hash(seed: int, number: int) -> str:
    return "0x" + hashlib.sha256(f"orderflow-bench:{seed}:{number}".encode()).hexdigest()


def block_timestamp(number: int) -> int:
    return FIRST_TIMESTAMP + 2 * (number - FIRST_BLOCK)


@dataclass(frozen=True)
class Body:
    file: str
    from_block: int
    to_block: int
    logs: int


@dataclass(frozen=True)
class Manifest:
    seed: int
    logs: int
    blocks_per_body: int
    bodies: list[Body]

    @property
    def from_block(self) -> int:
        return self.bodies[0].from_block

    @property
    def to_block(self) -> int:
        return self.bodies[-1].to_block

    @classmethod
    def load(cls, directory: Path) -> "Manifest":
        raw = json.loads((Path(directory) / MANIFEST).read_text())
        return cls(raw["seed"], raw["logs"], raw["blocks_per_body"], [Body(**b) for b in raw["bodies"]])

    def save(self, directory: Path) -> None:
        (Path(directory) / MANIFEST).write_text(json.dumps({**asdict(self), "bodies": [asdict(b) for b in self.bodies]}))


def _word(n: int) -> str:
    return f"{n:064x}"


class _World:
    """Markets, wallets and the random draws of one generator run."""

    def __init__(self, seed: int, n_markets: int = 2_500, n_wallets: int = 150_000):
        self.rng = random.Random(seed)
        r = self.rng
        self.tokens = [(_word(r.getrandbits(256)), _word(r.getrandbits(256))) for _ in range(n_markets)]
        self.wallets = ["0" * 24 + f"{r.getrandbits(160):040x}" for _ in range(n_wallets)]
        self.builders = [ZERO_WORD] * 8 + [_word(r.getrandbits(256)) for _ in range(4)]

    def wallet(self) -> str:
        # heavy-tailed: a small set of wallets (market makers, bots) places most orders
        return self.wallets[int(len(self.wallets) * self.rng.random() ** 3)]

    def market(self) -> tuple[str, str]:
        return self.tokens[int(len(self.tokens) * self.rng.random() ** 2)]

    def shares(self) -> int:
        return int(10 ** self.rng.uniform(5.7, 10.5)) // 10_000 * 10_000  # 0.5 .. 31,600 shares, 0.01 steps


def _log_json(address: str, topic0: str, order_hash: str, maker: str, taker: str, data: str,
              block: str, bhash: str, ts: str, tx: str, tx_index: int, log_index: int) -> str:
    return (
        f'{{"address":"{address}","topics":["{topic0}","0x{order_hash}","0x{maker}","0x{taker}"],'
        f'"data":"0x{data}","blockNumber":"{block}","transactionHash":"0x{tx}",'
        f'"transactionIndex":"{tx_index:#x}","blockHash":"{bhash}","blockTimestamp":"{ts}",'
        f'"logIndex":"{log_index:#x}","removed":false}}'
    )


def _match(world: _World, exchange: str, out: list[str], block: str, bhash: str, ts: str,
           tx_index: int, log_index: int, budget: int) -> int:
    """Append one match's OrderFilled logs (makers, then the taker's fill); return the next log index."""
    r = world.rng
    v2 = CONTRACTS_BY_ADDRESS[exchange].generation == 2
    tx = _word(r.getrandbits(256))
    yes, no = world.market()
    token = yes if r.random() < 0.5 else no
    cents = r.randint(1, 99)
    taker_buys = r.random() < 0.55
    taker_wallet = world.wallet()
    n_makers = min(budget - 1, 1 + int(r.expovariate(0.8)), 6)
    total_shares = 0
    exchange_word = "0" * 24 + exchange[2:]
    for _ in range(n_makers):
        shares = world.shares()
        total_shares += shares
        maker_cents = cents if r.random() < 0.8 else max(1, min(99, cents + r.choice((-1, 1))))
        collateral = shares * maker_cents // 100
        maker_buys = not taker_buys
        out.append(_fill(world, v2, exchange, maker_buys, token, shares, collateral, 0,
                         world.wallet(), "0" * 24 + taker_wallet[24:], block, bhash, ts, tx, tx_index, log_index))
        log_index += 3 + r.randint(0, 2)  # the transfers of this fill sit between the OrderFilled logs
    collateral = total_shares * cents // 100
    fee = 0
    if v2:
        fee = total_shares * 2 * cents * (100 - cents) // 1_000_000  # 2% x p x (1 - p)
    elif r.random() < 0.1:
        fee = total_shares * r.randint(1, 20) // 10_000
    out.append(_fill(world, v2, exchange, taker_buys, token, total_shares, collateral, fee,
                     taker_wallet, exchange_word, block, bhash, ts, tx, tx_index, log_index))
    return log_index + 2  # + OrdersMatched (not generated: OrderFilled only)


def _fill(world: _World, v2: bool, exchange: str, buys: bool, token: str, shares: int, collateral: int, fee: int,
          maker: str, taker: str, block: str, bhash: str, ts: str, tx: str, tx_index: int, log_index: int) -> str:
    r = world.rng
    order_hash = _word(r.getrandbits(256))
    maker_amount, taker_amount = (collateral, shares) if buys else (shares, collateral)
    if v2:
        metadata = ZERO_WORD if r.random() < 0.9 else _word(r.getrandbits(256))
        data = (_word(0 if buys else 1) + token + _word(maker_amount) + _word(taker_amount) + _word(fee)
                + r.choice(world.builders) + metadata)
        topic0 = TOPIC_V2
    else:
        maker_asset, taker_asset = (ZERO_WORD, token) if buys else (token, ZERO_WORD)
        data = maker_asset + taker_asset + _word(maker_amount) + _word(taker_amount) + _word(fee)
        topic0 = TOPIC_V1
    return _log_json(exchange, topic0, order_hash, maker, taker, data, block, bhash, ts, tx, tx_index, log_index)


def generate(directory: Path, n_logs: int, *, logs_per_body: int = 20_000, fills_per_block: int = FILLS_PER_BLOCK,
             seed: int = 0) -> Manifest:
    """Write n_logs OrderFilled logs as eth_getLogs response bodies under `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    world = _World(seed)
    r = world.rng
    addresses = [a for a, _ in EXCHANGES]
    weights = [w for _, w in EXCHANGES]
    blocks_per_body = max(1, logs_per_body // fills_per_block)
    bodies: list[Body] = []
    written = 0
    block_no = FIRST_BLOCK
    while written < n_logs:
        first = block_no
        out: list[str] = []
        for block_no in range(first, first + blocks_per_body):
            if written + len(out) >= n_logs:
                break
            block, bhash, ts = hex(block_no), block_hash(seed, block_no), hex(block_timestamp(block_no))
            in_block = min(n_logs - written - len(out), r.randint(fills_per_block // 4, fills_per_block * 7 // 4))
            log_index, tx_index, start = r.randint(0, 30), r.randint(0, 5), len(out)
            while len(out) - start < in_block:
                exchange = r.choices(addresses, weights)[0]
                budget = in_block - (len(out) - start)
                if budget == 1:  # an operator fill through fillOrder: one fill, no OrdersMatched
                    out.append(_fill(world, CONTRACTS_BY_ADDRESS[exchange].generation == 2, exchange, r.random() < 0.5,
                                     world.market()[0], world.shares(), world.shares() // 2, 0, world.wallet(),
                                     world.wallet(), block, bhash, ts, _word(r.getrandbits(256)), tx_index, log_index))
                    log_index += 3
                else:
                    log_index = _match(world, exchange, out, block, bhash, ts, tx_index, log_index, budget)
                tx_index += 1 + r.randint(0, 3)
                log_index += r.randint(0, 6)
        last = first + blocks_per_body - 1  # the body covers its whole span, even blocks without fills
        name = f"getlogs_{len(bodies):05d}.json"
        payload = f'{{"jsonrpc":"2.0","id":{len(bodies) + 1},"result":[' + ",".join(out) + "]}"
        (directory / name).write_text(payload)
        bodies.append(Body(name, first, last, len(out)))
        written += len(out)
        block_no = last + 1
    manifest = Manifest(seed, written, blocks_per_body, bodies)
    manifest.save(directory)
    return manifest


def main() -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--logs", type=int, default=1_000_000)
    ap.add_argument("--logs-per-body", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    m = generate(args.directory, args.logs, logs_per_body=args.logs_per_body, seed=args.seed)
    print(f"wrote {m.logs:,} logs in {len(m.bodies)} bodies, blocks {m.from_block}-{m.to_block}, "
          f"{time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
