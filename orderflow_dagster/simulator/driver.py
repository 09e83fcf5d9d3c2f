"""Drives a World's events into an anvil node through the Replayer, fast or in real time.

One match per transaction (the real shape). Fast mode packs simulated time into blocks with
chosen timestamps (automine off, `evm_setNextBlockTimestamp` + `evm_mine`, one block per
`block_seconds` window that has events), so a simulated week takes minutes; block timestamps
must rise, so simulated time must start after the chain's latest block (start anvil with
`AnvilNode(genesis_timestamp=...)` in the past to replay history). Live mode sends each event
when its simulated time arrives and lets the node's interval mining make the blocks.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from orderflow_dagster.simulator.anvil import AnvilError
from orderflow_dagster.simulator.replayer import Log, LogMaker, Replayer
from orderflow_dagster.simulator.world import DAY, Event, MarketOpened, Resolution, Trade, WalletTruth, World, WorldConfig

log = logging.getLogger(__name__)
Tx = tuple[str, list[Log]]


@dataclass
class SimulationResult:
    """What a simulation sent, and the world's ground truth."""
    world: World
    fills: int = 0  # OrderFilled logs (maker fills + taker fills)
    matches: int = 0
    markets: int = 0
    resolutions: int = 0
    transactions: int = 0
    first_block: int | None = None
    last_block: int | None = None
    start: float = 0.0  # simulated unix seconds
    end: float = 0.0
    wall_seconds: float = 0.0
    purposes: dict[str, int] = field(default_factory=dict)  # matches by purpose (open, close, flatten, wash)

    @property
    def truth(self) -> dict[str, WalletTruth]:
        return self.world.truth

    @property
    def skilled_wallets(self) -> set[str]:
        return self.world.skilled_wallets()

    def count(self, events: list[Event], txs: list[Tx]) -> None:
        """Count events sent (or landed) as the transactions txs."""
        self.transactions += len(txs)
        for event in events:
            if isinstance(event, Trade):
                self.matches += 1
                self.fills += event.fills
                self.purposes[event.purpose] = self.purposes.get(event.purpose, 0) + 1
            elif isinstance(event, MarketOpened):
                self.markets += 1
            elif isinstance(event, Resolution):
                self.resolutions += 1


def event_txs(maker: LogMaker, event: Event) -> list[Tx]:
    """The (address, logs) transactions of one world event (a match is one transaction)."""
    if isinstance(event, Trade):
        return [(event.market.exchange, maker.match_logs(event.market, event.taker, event.side, event.outcome_index,
                                                         event.makers, event.fee_rate_bps))]
    if isinstance(event, MarketOpened):
        return maker.market_txs(event.market)
    return maker.resolution_txs(event.market, event.payouts)


def block_windows(world: World, until: float, block_seconds: float,
                  chunk_seconds: float = 6 * 3600, lock: threading.Lock | None = None) -> Iterator[tuple[float, list[Event]]]:
    """The world's events up to `until`, grouped by `block_seconds` window: (window end, events)
    for every window that has events. The world runs `chunk_seconds` at a time (under `lock`)."""
    lock = lock or threading.Lock()
    window_end, pending = None, []
    t = world.now
    while t < until:
        t = min(until, t + chunk_seconds)
        with lock:
            events = list(world.run(t))
        for event in events:
            end = world.start + (int((event.t - world.start) // block_seconds) + 1) * block_seconds
            if window_end is not None and end != window_end and pending:
                yield window_end, pending
                pending = []
            window_end = end
            pending.append(event)
    if pending:
        yield window_end, pending


def block_timestamp(window_end: float, until: float, last_ts: int) -> int:
    """A window's block timestamp: its end, after the last block's, and `until` at most for the
    last window (which may end past it)."""
    return max(last_ts + 1, int(min(window_end, max(until, last_ts + 1))))


class Driver:
    """Turns World events into Replayer transactions. `lock` guards the world (sim_api reads it)."""

    def __init__(self, replayer: Replayer, world: World, lock: threading.Lock | None = None) -> None:
        self.replayer = replayer
        self.world = world
        self.lock = lock or threading.Lock()
        self.result = SimulationResult(world, start=world.now, end=world.now)

    def _events(self, until: float) -> list[Event]:
        with self.lock:
            return list(self.world.run(until))

    def _send(self, events: list[Event]) -> None:
        txs = [tx for event in events for tx in event_txs(self.replayer, event)]
        for i in range(0, len(txs), 500):
            self.replayer.send_batch(txs[i:i + 500])
        self.result.count(events, txs)

    def _block(self, tag: str = "latest") -> dict:
        return self.replayer.rpc("eth_getBlockByNumber", tag, False)

    def fast_forward(self, until: float, block_seconds: float = 60.0, chunk_seconds: float = 6 * 3600) -> SimulationResult:
        """Mine the world's events up to `until` (simulated unix seconds), one block per window."""
        started = time.perf_counter()
        r = self.replayer
        automine = r.rpc("anvil_getAutomine")
        r.rpc("evm_setAutomine", False)
        r.rpc("evm_setIntervalMining", 0)
        try:
            latest = self._block()
            last_ts, self._number = int(latest["timestamp"], 16), int(latest["number"], 16)
            for window_end, events in block_windows(self.world, until, block_seconds, chunk_seconds, self.lock):
                last_ts = self._mine(events, block_timestamp(window_end, until, last_ts))
        finally:
            if automine:
                r.rpc("evm_setAutomine", True)
        self.result.end = self.world.now
        self.result.wall_seconds += time.perf_counter() - started
        return self.result

    def _mine(self, events: list[Event], timestamp: int) -> int:
        self._send(events)
        self.replayer.rpc("evm_mine", timestamp)
        left = self.replayer.rpc("txpool_status")
        if int(left["pending"], 16) or int(left["queued"], 16):
            # Lost or stuck transactions would silently stop the world: say so at once.
            raise AnvilError(f"block at {timestamp} left transactions in the pool ({left}): block gas limit or nonce gap")
        self._number += 1
        if self.result.first_block is None:
            self.result.first_block = self._number
        self.result.last_block = self._number
        return timestamp

    def run_live(self, stop: threading.Event, block_time: float = 2.0, poll: float = 0.5) -> SimulationResult:
        """Real time: interval mining every block_time s; each event is sent once its time has come."""
        self.replayer.rpc("evm_setAutomine", False)
        self.replayer.rpc("evm_setIntervalMining", max(1, round(block_time)))
        started = time.perf_counter()
        while not stop.is_set():
            try:
                self._send(self._events(time.time()))
            except Exception:  # noqa: BLE001 - a live demo keeps going (e.g. the node is restarting)
                log.exception("simulator: sending events failed")
            stop.wait(poll)
        self.result.end = self.world.now
        self.result.last_block = int(self.replayer.rpc("eth_blockNumber"), 16)
        self.result.wall_seconds += time.perf_counter() - started
        return self.result


def simulate(rpc_url: str, config: WorldConfig, days: float, fast: bool = True,
             block_seconds: float = 60.0, stop: threading.Event | None = None) -> SimulationResult:
    """Simulate `days` of the world `config` into the anvil node at `rpc_url`; returns counts and ground truth.

    fast=True packs the simulated time into blocks with chosen timestamps (one block per
    `block_seconds` window with events); fast=False runs in real time (for demos; `stop` ends it).
    With config.start None the world starts one second after the chain's latest block, so for
    history in the past start anvil as `AnvilNode(genesis_timestamp=int(time.time() - days * 86400) - 3600)`.
    The result's `truth` maps every wallet address to its population kind and skill;
    `skilled_wallets` are the informed ones (whales, skilled traders) when informed_edge > 0.
    """
    with Replayer(rpc_url, seed=config.seed) as replayer:
        latest = int(replayer.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        if config.start is None:
            config = dataclasses.replace(config, start=latest + 1)
        elif fast and config.start <= latest:
            raise ValueError(f"simulated time starts at {config.start}, not after the chain's latest block ({latest}): "
                             "start anvil with an earlier genesis_timestamp")
        driver = Driver(replayer, World(config))
        if fast:
            return driver.fast_forward(config.start + days * DAY, block_seconds)
        stop = stop or threading.Event()
        timer = threading.Timer(days * DAY, stop.set)
        timer.start()
        try:
            return driver.run_live(stop)
        finally:
            timer.cancel()
