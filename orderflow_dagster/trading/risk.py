"""Risk limits, as pure functions of a snapshot read under the trading lock (see executor.py).

Limits (environment, defaults in config.py):
- MIN_SIGNAL_CONFIDENCE: below it the signal is REJECTED.
- MAX_DAILY_LOSS: daily P&L = realised today + unrealised now - unrealised at the start of the
  UTC day (so a position open at midnight counts only today's move). Reaching -MAX_DAILY_LOSS
  pauses new entries until the next 00:00 UTC; the pause is stored in orderflow_risk_state,
  so restarts and other runs see it.
- MAX_OPEN_POSITIONS: open positions plus live orders in flight.
- MAX_MARKET_EXPOSURE_USD: cost at risk in one market (condition), in flight included.
- BANKROLL_USD: total cost at risk never exceeds it.
- MAX_POSITION_USD and KELLY_FRACTION: the stake (sizing.py).
Exits and settlement are never blocked by these: they only reduce risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from orderflow_dagster.trading.config import TradingSettings


@dataclass(frozen=True)
class RiskSnapshot:
    now: datetime
    open_positions: int  # open positions + live entries in flight (PENDING)
    open_exposure_usd: float  # cost at risk, in flight included
    market_exposure_usd: float  # the same, in the signal's market
    realised_today_usd: float
    unrealised_now_usd: float
    day_start_unrealised_usd: float
    paused_until: datetime | None

    @property
    def daily_pnl_usd(self) -> float:
        return self.realised_today_usd + self.unrealised_now_usd - self.day_start_unrealised_usd

    @property
    def paused(self) -> bool:
        return self.paused_until is not None and self.now < self.paused_until


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class Room:
    """What the limits leave for a new entry."""
    bankroll_free_usd: float
    market_room_usd: float


def next_utc_midnight(now: datetime) -> datetime:
    day = now.astimezone(timezone.utc).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def utc_day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(timezone.utc).date(), time(0), tzinfo=timezone.utc)


def daily_loss_reached(snapshot: RiskSnapshot, cfg: TradingSettings) -> bool:
    return snapshot.daily_pnl_usd <= -cfg.max_daily_loss


def check_entry(snapshot: RiskSnapshot, confidence: float, cfg: TradingSettings) -> Rejection | Room:
    """Every limit a new entry must pass, in a fixed order; the first that fails rejects it."""
    if confidence < cfg.min_signal_confidence:
        return Rejection("low_confidence", f"confidence {confidence:.4f} below MIN_SIGNAL_CONFIDENCE {cfg.min_signal_confidence:g}")
    if snapshot.paused:
        return Rejection("paused_daily_loss", f"MAX_DAILY_LOSS {cfg.max_daily_loss:g} reached; new entries paused "
                                              f"until {snapshot.paused_until.isoformat()}")
    if daily_loss_reached(snapshot, cfg):
        return Rejection("daily_loss_limit", f"daily P&L {snapshot.daily_pnl_usd:.2f} reached MAX_DAILY_LOSS {cfg.max_daily_loss:g}")
    if snapshot.open_positions >= cfg.max_open_positions:
        return Rejection("max_open_positions", f"{snapshot.open_positions} open (MAX_OPEN_POSITIONS {cfg.max_open_positions})")
    market_room = cfg.max_market_exposure_usd - snapshot.market_exposure_usd
    if market_room < 1.0:
        return Rejection("market_exposure_cap", f"{snapshot.market_exposure_usd:.2f} at risk in this market "
                                                f"(MAX_MARKET_EXPOSURE_USD {cfg.max_market_exposure_usd:g})")
    bankroll_free = cfg.bankroll_usd - snapshot.open_exposure_usd
    if bankroll_free < 1.0:
        return Rejection("bankroll_at_risk", f"{snapshot.open_exposure_usd:.2f} at risk (BANKROLL_USD {cfg.bankroll_usd:g})")
    return Room(bankroll_free_usd=bankroll_free, market_room_usd=market_room)
