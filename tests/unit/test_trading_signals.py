"""Signal rules and skip reasons."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from orderflow_dagster.trading.config import load_trading_settings
from orderflow_dagster.trading.signals import Proposal, RuleContext, SignalType, Skip, classify
from orderflow_dagster.trading.sources import Candidate, MarketView, TriggerTrade, WalletView

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
CFG = load_trading_settings()
FADING = load_trading_settings(enable_degen_fading=True)
TRADE = TriggerTrade(tx_hash="0xabc", log_index=1, block_number=10, timestamp=NOW - timedelta(seconds=5), wallet="0xwhale",
                     condition_id="0xc0", token_id=111, outcome_index=0, outcome_name="Yes", side="BUY", price=0.5,
                     shares=2000, usdc_amount=1000, neg_risk=False)
WHALE = WalletView(score=8.5, tier="WHALE", resolved_markets=60, avg_trade_usdc=500, is_market_maker=False)
MARKET = MarketView(title="Will it?", resolved=False, closed=False, disputed=False, outcome_names=None, other_token_id=222)
CTX = RuleContext(now=NOW, our_wallets=frozenset({"0xus"}), has_entry_signal=False, copied_open_position=False)


def cand(trade=TRADE, wallet=WHALE, market=MARKET) -> Candidate:
    return Candidate(trade, wallet, market)


def test_whale_buy_is_followed():
    p = classify(cand(), CFG, CTX)
    assert isinstance(p, Proposal) and p.signal_type is SignalType.WHALE_FOLLOW
    assert (p.token_id, p.outcome_name, p.reference_price) == (111, "Yes", 0.5) and p.confidence == 0.825


def test_smart_tier_is_followed_but_other_tiers_are_skipped():
    assert classify(cand(wallet=replace(WHALE, tier="SMART")), CFG, CTX).signal_type is SignalType.WHALE_FOLLOW
    skip = classify(cand(wallet=replace(WHALE, tier="REGULAR")), CFG, CTX)
    assert isinstance(skip, Skip) and skip.code == "tier_not_followed"


def test_below_min_whale_score_is_not_a_signal():
    assert classify(cand(wallet=replace(WHALE, score=6.9)), CFG, CTX) is None
    assert classify(cand(wallet=replace(WHALE, score=None)), CFG, CTX) is None


def test_whale_following_can_be_turned_off():
    assert classify(cand(), load_trading_settings(enable_whale_following=False), CTX) is None


def test_degen_fade_buys_the_complement_only_when_enabled():
    degen = replace(WHALE, score=2.0, tier="DEGEN")
    assert classify(cand(wallet=degen), CFG, CTX) is None
    p = classify(cand(trade=replace(TRADE, price=0.3), wallet=degen), FADING, CTX)
    assert p.signal_type is SignalType.DEGEN_FADE and p.token_id == 222 and p.outcome_name == "No"
    assert p.reference_price == pytest.approx(0.7) and p.outcome_index == 1
    unknown = classify(cand(wallet=degen, market=replace(MARKET, other_token_id=None)), FADING, CTX)
    assert unknown.code == "unknown_complement"


@pytest.mark.parametrize("change, code", [
    (dict(market=replace(MARKET, resolved=True)), "market_resolved"),
    (dict(market=replace(MARKET, closed=True)), "market_closed"),
    (dict(market=replace(MARKET, disputed=True)), "market_disputed"),
    (dict(trade=replace(TRADE, timestamp=NOW - timedelta(seconds=301))), "stale_trade"),
    (dict(trade=replace(TRADE, price=0.015)), "extreme_price"),
    (dict(trade=replace(TRADE, price=0.985)), "extreme_price"),
    (dict(trade=replace(TRADE, wallet="0xUS")), "own_wallet"),
    (dict(wallet=replace(WHALE, is_market_maker=True)), "market_maker"),
])
def test_skip_reasons(change, code):
    skip = classify(cand(**change), CFG, CTX)
    assert isinstance(skip, Skip) and skip.code == code and skip.signal_type is SignalType.WHALE_FOLLOW
    assert skip.reason.startswith(code + ": ")


def test_second_signal_for_the_same_wallet_and_market_is_skipped():
    skip = classify(cand(), CFG, replace(CTX, has_entry_signal=True))
    assert skip.code == "duplicate_wallet_market"


def test_a_sell_exits_only_a_position_we_copied_from_that_wallet():
    sell = replace(TRADE, side="SELL", price=0.62, timestamp=NOW - timedelta(hours=2))
    assert classify(cand(trade=sell), CFG, CTX) is None
    p = classify(cand(trade=sell), CFG, replace(CTX, copied_open_position=True))
    assert p.signal_type is SignalType.EXIT and p.token_id == 111 and p.reference_price == 0.62  # exits ignore age
    resolved = classify(cand(trade=sell, market=replace(MARKET, resolved=True)), CFG, replace(CTX, copied_open_position=True))
    assert resolved.code == "market_resolved" and resolved.signal_type is SignalType.EXIT
