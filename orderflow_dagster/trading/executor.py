"""The executor: trigger trades -> signals -> risk checks -> orders -> positions, exactly once.

One decision = one database transaction holding the trading advisory lock
(`pg_advisory_xact_lock`, store.lock_trading). Inside it, in order:
  1. the trigger trade is re-checked to have no signal yet (another run may have done it);
  2. the rules run (signals.classify) against our own tables as they are now;
  3. the risk snapshot is read (open positions, exposure, daily P&L, the persisted pause) and
     every limit is checked (risk.check_entry), the stake sized (sizing.stake);
  4. the signal row is written PENDING, the paper order is filled from the book, and the
     signal becomes EXECUTED (with its position) / FAILED / REJECTED / SKIPPED;
  5. commit. Alerts are queued only after the commit.
Because every run takes the same lock before reading the state it checks, two overlapping runs
(threads, processes, a backfill beside the sensor's run) decide one after the other and can
never both pass a limit or both execute one signal (the signal's trigger key is also unique).
A crash anywhere before the commit rolls the whole decision back, so there is no half-state:
the next run sees the trade as fresh and decides it once.

Live orders cannot be rolled back, so they take two transactions: the first (locked) decides
and writes the signal PENDING with its stake (PENDING stakes count toward every limit); the
order hash is recorded before posting; after the CLOB answers, a second locked transaction
writes EXECUTED + position or FAILED. A PENDING signal left by a crash is reconciled by a
later run through the CLOB (`Broker.lookup`), never posted again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from orderflow_dagster.trading import alerts as texts
from orderflow_dagster.trading import performance, risk, store
from orderflow_dagster.trading.alerts import DiscordAlerter
from orderflow_dagster.trading.brokers import (
    Book, BookUnavailable, Broker, Fill, OrderFailed, OrderRequest, OrderUnknown, Outcome, buy_price_cap, sell_price_floor,
)
from orderflow_dagster.trading.config import TradingSettings
from orderflow_dagster.trading.settlement import outcome_status, settle_resolved
from orderflow_dagster.trading.signals import Proposal, RuleContext, SignalType, Skip, classify
from orderflow_dagster.trading.sizing import MIN_ORDER_USD, stake, win_probability
from orderflow_dagster.trading.sources import Candidate, fresh_candidates

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RunReport:
    signals_made: int = 0
    executed: int = 0
    exits: int = 0
    settled: int = 0
    wins: int = 0
    losses: int = 0
    in_flight: int = 0
    rejected: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    open_positions: int = 0
    open_exposure_usd: float = 0.0
    daily_pnl_usd: float = 0.0
    paused: bool = False

    def as_metadata(self) -> dict:
        return {
            "signals_made": self.signals_made, "executed": self.executed, "exits": self.exits,
            "rejected": sum(self.rejected.values()), "rejected_reasons": dict(self.rejected),
            "skipped": sum(self.skipped.values()), "skipped_reasons": dict(self.skipped),
            "failed": sum(self.failed.values()), "failed_reasons": dict(self.failed),
            "settled": self.settled, "wins": self.wins, "losses": self.losses, "live_orders_in_flight": self.in_flight,
            "open_positions": self.open_positions, "open_exposure_usd": round(self.open_exposure_usd, 2),
            "daily_pnl_usd": round(self.daily_pnl_usd, 2), "paused": self.paused,
        }


@dataclass(frozen=True)
class InFlight:
    """A live order decided and written PENDING, to post after the deciding transaction commits."""
    signal_id: int
    order: OrderRequest
    book: Book


def _code(reason: str) -> str:
    return reason.split(":", 1)[0]


class Executor:
    def __init__(self, conn: psycopg.Connection, cfg: TradingSettings, broker: Broker,
                 alerter: DiscordAlerter | None = None, clock: Callable[[], datetime] = utc_now,
                 our_wallets: frozenset[str] = frozenset(),
                 on_signal_pending: Callable[[int], None] | None = None,
                 in_flight_grace_seconds: float | None = None):
        if not conn.autocommit:
            raise ValueError("the executor needs an autocommit connection: it opens its own transactions")
        self.conn = conn
        self.cfg = cfg
        self.broker = broker
        self.alerter = alerter or DiscordAlerter(None)
        self.clock = clock
        self.our_wallets = frozenset(w.lower() for w in our_wallets | ({cfg.our_wallet_address} - {None}))
        self.on_signal_pending = on_signal_pending  # a test hook: runs between the signal row and the order
        # A PENDING live order younger than this may still be in another run's hands.
        self.in_flight_grace_seconds = (2 * cfg.clob_timeout_seconds + 30 if in_flight_grace_seconds is None
                                        else in_flight_grace_seconds)
        self._alerts: list[str] = []

    # --- the run -------------------------------------------------------------------------

    def run(self) -> RunReport:
        """Reconcile in-flight live orders, decide every fresh candidate, settle, write the day's row."""
        report = RunReport()
        self._reconcile_in_flight(report)
        for cand in fresh_candidates(self.conn, self.cfg):
            self.process(cand, report)
        self._settle(report)
        self._close_the_day(report)
        return report

    def process(self, cand: Candidate, report: RunReport) -> None:
        try:
            with self.conn.transaction():
                store.lock_trading(self.conn)
                in_flight = self._decide(cand, report)
        except Exception as e:
            self._alerts.clear()  # nothing of a rolled-back decision may be announced
            self._record_error(cand, e, report)
            return
        self._send_alerts()
        if in_flight is not None:
            self._post_live(in_flight, report)

    def _record_error(self, cand: Candidate, error: Exception, report: RunReport) -> None:
        """A decision that raised is recorded FAILED, so one bad row cannot stop every later run.

        If even that cannot be written (the database is gone), the original error propagates.
        """
        t = cand.trade
        log.exception("deciding trade %s/%s failed", t.tx_hash, t.log_index)
        try:
            with self.conn.transaction():
                store.lock_trading(self.conn)
                if store.signal_exists(self.conn, t.tx_hash, t.log_index, t.wallet):
                    return  # another run decided it (e.g. we lost a race on its unique key)
                self._insert(cand, self._likely_type(cand), status="FAILED", decided_at=self.clock(),
                             status_reason=f"error: {type(error).__name__}: {str(error)[:300]}")
        except Exception:
            raise error from None
        report.failed["error"] += 1

    def _likely_type(self, cand: Candidate) -> SignalType:
        if cand.trade.side == "SELL":
            return SignalType.EXIT
        score = cand.wallet.score
        fade = self.cfg.enable_degen_fading and score is not None and score <= self.cfg.max_fade_score
        return SignalType.DEGEN_FADE if fade else SignalType.WHALE_FOLLOW

    # --- deciding one trigger trade (inside the locked transaction) ---------------------------

    def _decide(self, cand: Candidate, report: RunReport) -> InFlight | None:
        t = cand.trade
        if store.signal_exists(self.conn, t.tx_hash, t.log_index, t.wallet):
            return None  # decided by another run while we waited for the lock
        now = self.clock()
        copied = store.copied_open_positions(self.conn, t.wallet, t.token_id) if t.side == "SELL" else []
        ctx = RuleContext(now=now, our_wallets=self.our_wallets,
                          has_entry_signal=store.has_entry_signal(self.conn, t.wallet, t.condition_id),
                          copied_open_position=bool(copied))
        verdict = classify(cand, self.cfg, ctx)
        if verdict is None:
            return None
        report.signals_made += 1
        if isinstance(verdict, Skip):
            self._insert(cand, verdict.signal_type, status="SKIPPED", status_reason=verdict.reason, decided_at=now)
            report.skipped[verdict.code] += 1
            return None
        if verdict.signal_type is SignalType.EXIT:
            return self._decide_exit(cand, verdict, copied[0], now, report)
        return self._decide_entry(cand, verdict, now, report)

    def _insert(self, cand: Candidate, signal_type: SignalType, proposal: Proposal | None = None, **cols) -> int:
        t = cand.trade
        base = dict(
            signal_type=str(signal_type), market_title=cand.market.title, trigger_wallet=t.wallet,
            wallet_score=cand.wallet.score, trigger_tx_hash=t.tx_hash, trigger_log_index=t.log_index,
            trigger_block_number=t.block_number, trigger_timestamp=t.timestamp, trigger_side=t.side,
            trigger_price=t.price, trigger_usdc=t.usdc_amount, condition_id=t.condition_id,
            token_id=Decimal(proposal.token_id if proposal else t.token_id),
            outcome_index=proposal.outcome_index if proposal else t.outcome_index,
            outcome=proposal.outcome_name if proposal else t.outcome_name,
            confidence=proposal.confidence if proposal else None, neg_risk=t.neg_risk,
        )
        base.update(cols)
        return store.insert_signal(self.conn, **base)

    def _reject(self, cand: Candidate, proposal: Proposal, code: str, detail: str, now: datetime,
                report: RunReport, **cols) -> None:
        self._insert(cand, proposal.signal_type, proposal, status="REJECTED", status_reason=f"{code}: {detail}",
                     decided_at=now, **cols)
        report.rejected[code] += 1

    def _fail_before_order(self, cand: Candidate, proposal: Proposal, reason: str, now: datetime, report: RunReport) -> None:
        self._insert(cand, proposal.signal_type, proposal, status="FAILED", status_reason=reason, decided_at=now,
                     broker=self.broker.name)
        report.failed[_code(reason)] += 1

    def _risk_snapshot(self, now: datetime, condition_id: str | None) -> risk.RiskSnapshot:
        """The snapshot, pausing entries (persisted, with an alert) when the daily loss is reached."""
        snap = store.risk_snapshot(self.conn, now, condition_id)
        if risk.daily_loss_reached(snap, self.cfg) and not snap.paused:
            until = risk.next_utc_midnight(now)
            store.set_pause(self.conn, until, f"daily P&L {snap.daily_pnl_usd:.2f} <= -MAX_DAILY_LOSS", now)
            self._alerts.append(texts.daily_loss_pause(snap.daily_pnl_usd, self.cfg.max_daily_loss, until))
            snap = replace(snap, paused_until=until)
        return snap

    def _decide_entry(self, cand: Candidate, prop: Proposal, now: datetime, report: RunReport) -> InFlight | None:
        if prop.confidence >= self.cfg.alert_min_confidence:
            self._alerts.append(texts.high_confidence_signal(prop.signal_type, cand.market.title, prop.outcome_name,
                                                             prop.confidence, cand.trade.wallet, cand.trade.price))
        snap = self._risk_snapshot(now, cand.trade.condition_id)
        room = risk.check_entry(snap, prop.confidence, self.cfg)
        if isinstance(room, risk.Rejection):
            return self._reject(cand, prop, room.code, room.detail, now, report)
        try:
            book = self.broker.book(prop.token_id)
        except BookUnavailable as e:
            return self._fail_before_order(cand, prop, f"no_book: {e}", now, report)
        if book.best_ask is None:
            return self._fail_before_order(cand, prop, "unfillable: the book has no asks", now, report)
        q = win_probability(prop.reference_price, cand.wallet.score)
        st = stake(float(book.best_ask), q, kelly_fraction=self.cfg.kelly_fraction, bankroll_usd=self.cfg.bankroll_usd,
                   max_position_usd=self.cfg.max_position_usd, bankroll_free_usd=room.bankroll_free_usd,
                   market_room_usd=room.market_room_usd)
        if st.f_star <= 0:
            return self._reject(cand, prop, "no_edge", f"q {q:.4f} <= best ask {book.best_ask}", now, report,
                                win_probability=q)
        if st.usd < MIN_ORDER_USD:
            return self._reject(cand, prop, "below_min_order", f"stake ${st.usd:.2f} < ${MIN_ORDER_USD:g}", now, report,
                                win_probability=q)
        order = OrderRequest("BUY", prop.token_id, cand.trade.condition_id, Decimal(str(st.usd)),
                             buy_price_cap(prop.reference_price, self.cfg.max_slippage, book.tick_size),
                             self.cfg.order_type, book.neg_risk)
        signal_id = self._insert(cand, prop.signal_type, prop, status="PENDING", broker=self.broker.name,
                                 order_type=order.order_type, win_probability=q, stake_usd=st.usd,
                                 worst_price=order.worst_price, neg_risk=book.neg_risk)
        return self._place(signal_id, order, book, now, report)

    def _decide_exit(self, cand: Candidate, prop: Proposal, position: store.OpenPosition, now: datetime,
                     report: RunReport) -> InFlight | None:
        cols = dict(parent_signal_id=position.signal_id, confidence=position.confidence, broker=self.broker.name)
        try:
            book = self.broker.book(prop.token_id)
        except BookUnavailable as e:
            self._insert(cand, SignalType.EXIT, prop, status="FAILED", status_reason=f"no_book: {e}", decided_at=now, **cols)
            report.failed["no_book"] += 1
            return None
        # Exits are all or nothing (FOK): a partly sold position would need partial accounting.
        order = OrderRequest("SELL", prop.token_id, cand.trade.condition_id, position.shares,
                             sell_price_floor(prop.reference_price, self.cfg.max_slippage, book.tick_size), "FOK",
                             book.neg_risk)
        signal_id = self._insert(cand, SignalType.EXIT, prop, status="PENDING", order_type="FOK",
                                 worst_price=order.worst_price, **cols)
        return self._place(signal_id, order, book, now, report)

    def _place(self, signal_id: int, order: OrderRequest, book: Book, now: datetime, report: RunReport) -> InFlight | None:
        if self.on_signal_pending:
            self.on_signal_pending(signal_id)
        if not self.broker.synchronous:
            return InFlight(signal_id, order, book)
        self._finish(signal_id, self.broker.execute(order, book), now, report)
        return None

    # --- writing an order's outcome (inside a locked transaction) ---------------------------

    def _finish(self, signal_id: int, outcome: Outcome, now: datetime, report: RunReport) -> None:
        with self.conn.cursor(row_factory=dict_row) as cur:
            sig = cur.execute("SELECT * FROM orderflow_signals WHERE id = %s FOR UPDATE", (signal_id,)).fetchone()
        if sig is None or sig["status"] != "PENDING":
            return  # already finished (reconciled by another run)
        if isinstance(outcome, OrderUnknown):
            report.in_flight += 1
            log.warning("signal %s: %s; left PENDING for reconciliation", signal_id, outcome.reason)
            return
        if isinstance(outcome, OrderFailed):
            store.update_signal(self.conn, signal_id, status="FAILED", status_reason=outcome.reason, decided_at=now)
            report.failed[_code(outcome.reason)] += 1
            if sig["broker"] == "live":
                self._alerts.append(texts.live_order_failed(sig["signal_type"], sig["market_title"] or "", outcome.reason))
            return
        fill_cols = dict(status="EXECUTED", decided_at=now, our_price=outcome.avg_price, our_size=outcome.shares,
                         our_cost_usd=outcome.notional_usd, fee_usd=outcome.fee_usd, slippage_bps=outcome.slippage_bps,
                         order_id=outcome.order_id or sig["order_id"])
        if sig["signal_type"] == SignalType.EXIT:
            self._finish_exit(sig, outcome, fill_cols, now, report)
        else:
            self._finish_entry(sig, outcome, fill_cols, now, report)

    def _finish_entry(self, sig: dict, fill: Fill, fill_cols: dict, now: datetime, report: RunReport) -> None:
        store.update_signal(self.conn, sig["id"], outcome_status="OPEN", **fill_cols)
        store.insert_position(
            self.conn, signal_id=sig["id"], condition_id=sig["condition_id"], market_title=sig["market_title"],
            outcome=sig["outcome"], outcome_index=sig["outcome_index"], token_id=sig["token_id"], broker=sig["broker"],
            shares=fill.shares, entry_price=fill.avg_price, cost_usd=fill.notional_usd, fees_usd=fill.fee_usd,
            status="OPEN", opened_at=now)
        report.executed += 1
        self._alerts.append(texts.execution(sig["signal_type"], sig["market_title"] or "", sig["outcome"] or "", "BUY",
                                            fill.shares, fill.avg_price, fill.notional_usd, sig["broker"]))

    def _finish_exit(self, sig: dict, fill: Fill, fill_cols: dict, now: datetime, report: RunReport) -> None:
        store.update_signal(self.conn, sig["id"], **fill_cols)
        with self.conn.cursor(row_factory=dict_row) as cur:
            pos = cur.execute("SELECT * FROM orderflow_positions WHERE signal_id = %s AND status = 'OPEN' FOR UPDATE",
                              (sig["parent_signal_id"],)).fetchone()
        report.exits += 1
        if pos is None:
            log.warning("exit %s filled but its position was already closed", sig["id"])
            return
        realised = fill.notional_usd - fill.fee_usd - pos["cost_usd"] - pos["fees_usd"]
        store.close_position(self.conn, pos["id"], exit_price=fill.avg_price, realised=realised, extra_fees=fill.fee_usd,
                             reason="EXIT", exit_signal_id=sig["id"], now=now)
        store.set_outcome_status(self.conn, sig["parent_signal_id"], outcome_status(realised))
        self._count_result(realised, report)
        self._alerts.append(texts.execution("EXIT", sig["market_title"] or "", sig["outcome"] or "", "SELL",
                                            fill.shares, fill.avg_price, fill.notional_usd, sig["broker"]))
        self._alerts.append(texts.result(sig["market_title"] or "", sig["outcome"] or "", realised > 0, realised))

    @staticmethod
    def _count_result(realised: Decimal, report: RunReport) -> None:
        if realised > 0:
            report.wins += 1
        else:
            report.losses += 1

    # --- live orders: post after the commit, finish in a second locked transaction -------------

    def _post_live(self, flight: InFlight, report: RunReport) -> None:
        def record_order_id(order_id: str) -> None:
            # Committed before posting: a crash after the post leaves the hash to reconcile with.
            store.update_signal(self.conn, flight.signal_id, order_id=order_id)

        outcome = self.broker.execute(flight.order, flight.book, on_order_id=record_order_id)
        with self.conn.transaction():
            store.lock_trading(self.conn)
            self._finish(flight.signal_id, outcome, self.clock(), report)
        self._send_alerts()

    def _reconcile_in_flight(self, report: RunReport) -> None:
        """PENDING signals older than a post could take are settled from the CLOB, never re-posted."""
        for sig in store.pending_live_signals(self.conn, self.in_flight_grace_seconds):
            if sig["order_id"] is None:
                outcome: Outcome = OrderFailed("interrupted: the order was never sent")
            else:
                outcome = self.broker.lookup(sig["order_id"])
            with self.conn.transaction():
                store.lock_trading(self.conn)
                self._finish(sig["id"], outcome, self.clock(), report)
            self._send_alerts()

    # --- settlement, the day's row, alerts ---------------------------------------------------

    def _settle(self, report: RunReport) -> None:
        with self.conn.transaction():
            store.lock_trading(self.conn)
            for s in settle_resolved(self.conn, self.clock()):
                report.settled += 1
                self._count_result(s.realised_usd, report)
                self._alerts.append(texts.result(s.title, s.outcome, s.won, s.realised_usd))
        self._send_alerts()

    def _close_the_day(self, report: RunReport) -> None:
        with self.conn.transaction():
            store.lock_trading(self.conn)
            snap = self._risk_snapshot(self.clock(), None)
            performance.write_day(self.conn, snap, self.cfg.bankroll_usd)
        report.open_positions = snap.open_positions
        report.open_exposure_usd = snap.open_exposure_usd
        report.daily_pnl_usd = snap.daily_pnl_usd
        report.paused = snap.paused
        self._send_alerts()

    def _send_alerts(self) -> None:
        """Queue the alerts of a committed transaction (a rolled-back one must not announce anything)."""
        alerts, self._alerts = self._alerts, []
        for text in alerts:
            self.alerter.enqueue(text)
