"""Signal rules: which trigger trades become a signal, and which are skipped (with the reason).

- WHALE_FOLLOW (ENABLE_WHALE_FOLLOWING): a BUY by a WHALE or SMART wallet with
  reputation_score >= MIN_WHALE_SCORE: buy the same outcome.
- DEGEN_FADE (ENABLE_DEGEN_FADING): a BUY by a rated wallet with reputation_score <=
  MAX_FADE_SCORE: buy the other outcome.
- EXIT: a SELL by a wallet whose BUY we copied into a position still open: sell that position.

Skipped, with a recorded reason: our own wallet, market makers/bots, tiers we do not follow,
resolved / closed / disputed markets, trades older than SIGNAL_MAX_AGE_SECONDS, prices outside
[MIN_SIGNAL_PRICE, MAX_SIGNAL_PRICE], a second entry signal for the same wallet and market.
An exit is never skipped for age: leaving a position the wallet left is how risk goes down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orderflow_dagster.trading.confidence import ConfidenceInputs, confidence
from orderflow_dagster.trading.config import TradingSettings
from orderflow_dagster.trading.sources import Candidate

FOLLOWED_TIERS = ("WHALE", "SMART")
YES_NO = {"Yes": "No", "No": "Yes"}


class SignalType(StrEnum):
    WHALE_FOLLOW = "WHALE_FOLLOW"
    DEGEN_FADE = "DEGEN_FADE"
    EXIT = "EXIT"


@dataclass(frozen=True)
class Proposal:
    """A signal to act on: buy `token_id` (entries) or sell our position in it (EXIT)."""
    signal_type: SignalType
    token_id: int
    outcome_index: int | None
    outcome_name: str
    reference_price: float  # the trigger's price for the outcome we trade (1 - p for a fade)
    confidence: float


@dataclass(frozen=True)
class Skip:
    code: str
    detail: str
    signal_type: SignalType

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class RuleContext:
    """Facts from our own tables that the rules need, read under the trading lock."""
    now: datetime
    our_wallets: frozenset[str]
    has_entry_signal: bool  # a non-skipped entry signal exists for this wallet and market
    copied_open_position: bool  # we hold an open WHALE_FOLLOW position copied from this wallet in this token


def outcome_label(c: Candidate, index: int | None) -> str:
    names = c.market.outcome_names
    if index is not None and names and 0 <= index < len(names):
        return names[index]
    if index == c.trade.outcome_index and c.trade.outcome_name:
        return c.trade.outcome_name
    if index is not None and c.trade.outcome_name in YES_NO:  # the complement of a Yes/No market
        return YES_NO[c.trade.outcome_name]
    return f"outcome {index}" if index is not None else "unknown outcome"


def _entry_rule(c: Candidate, cfg: TradingSettings) -> SignalType | None:
    score = c.wallet.score
    if score is None:
        return None
    if cfg.enable_whale_following and score >= cfg.min_whale_score:
        return SignalType.WHALE_FOLLOW
    if cfg.enable_degen_fading and score <= cfg.max_fade_score:
        return SignalType.DEGEN_FADE
    return None


def _market_skip(c: Candidate, rule: SignalType) -> Skip | None:
    if c.market.resolved:
        return Skip("market_resolved", "the market has resolved", rule)
    if c.market.disputed:
        return Skip("market_disputed", "the market's resolution is disputed", rule)
    if c.market.closed:
        return Skip("market_closed", "the market is closed for trading", rule)
    return None


def _trade_skip(c: Candidate, cfg: TradingSettings, now: datetime, rule: SignalType) -> Skip | None:
    age = (now - c.trade.timestamp).total_seconds()
    if age > cfg.signal_max_age_seconds:
        return Skip("stale_trade", f"trade is {age:.0f} s old (SIGNAL_MAX_AGE_SECONDS {cfg.signal_max_age_seconds:g})", rule)
    p = c.trade.price
    if not cfg.min_signal_price <= p <= cfg.max_signal_price:
        return Skip("extreme_price", f"price {p:.4f} outside [{cfg.min_signal_price:g}, {cfg.max_signal_price:g}]", rule)
    return None


def _exit(c: Candidate, ctx: RuleContext) -> Proposal | Skip | None:
    if not ctx.copied_open_position:
        return None
    if c.market.resolved:
        return Skip("market_resolved", "the market has resolved: settlement closes the position", SignalType.EXIT)
    return Proposal(SignalType.EXIT, c.trade.token_id, c.trade.outcome_index, outcome_label(c, c.trade.outcome_index),
                    reference_price=c.trade.price, confidence=1.0)


def _entry(c: Candidate, cfg: TradingSettings, ctx: RuleContext, rule: SignalType) -> Proposal | Skip:
    t = c.trade
    fade = rule is SignalType.DEGEN_FADE
    if fade:
        if t.outcome_index not in (0, 1) or c.market.other_token_id is None:
            return Skip("unknown_complement", "the other outcome's token is not known", rule)
        token, index, ref = c.market.other_token_id, 1 - t.outcome_index, 1.0 - t.price
    else:
        token, index, ref = t.token_id, t.outcome_index, t.price
    conf = confidence(ConfidenceInputs(score=c.wallet.score, resolved_markets=c.wallet.resolved_markets,
                                       trade_usdc=t.usdc_amount, avg_trade_usdc=c.wallet.avg_trade_usdc,
                                       price=t.price, fade=fade))
    return Proposal(rule, token, index, outcome_label(c, index), reference_price=ref, confidence=conf)


def classify(c: Candidate, cfg: TradingSettings, ctx: RuleContext) -> Proposal | Skip | None:
    """The signal a candidate trade makes, a Skip with its reason, or None (not a signal at all)."""
    if c.trade.side == "SELL":
        return _exit(c, ctx)
    if c.trade.side != "BUY":
        return None
    rule = _entry_rule(c, cfg)
    if rule is None:
        return None
    if c.trade.wallet.lower() in ctx.our_wallets:
        return Skip("own_wallet", "the trade is our own", rule)
    if c.wallet.is_market_maker:
        return Skip("market_maker", "the wallet is flagged as a market maker / bot", rule)
    if rule is SignalType.WHALE_FOLLOW and (c.wallet.tier or "").upper() not in FOLLOWED_TIERS:
        return Skip("tier_not_followed", f"tier {c.wallet.tier} is not WHALE or SMART", rule)
    skip = _market_skip(c, rule) or _trade_skip(c, cfg, ctx.now, rule)
    if skip:
        return skip
    if ctx.has_entry_signal:
        return Skip("duplicate_wallet_market", "a signal for this wallet and market exists already", rule)
    return _entry(c, cfg, ctx, rule)
