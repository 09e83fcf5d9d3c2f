"""Order-book parsing and walking, worst-price caps on the tick grid, FOK/FAK semantics."""

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from orderflow_dagster.trading.brokers import (
    Fill, Level, OrderFailed, OrderRequest, buy_price_cap, fill_from_walk, parse_book, sell_price_floor, walk_buy,
    walk_sell,
)

RAW = {"market": "0xc", "asset_id": "1", "bids": [{"price": "0.45", "size": "10"}, {"price": "0.48", "size": "50"}],
       "asks": [{"price": "0.55", "size": "100"}, {"price": "0.52", "size": "40"}, {"price": "0.53", "size": "0"}],
       "tick_size": "0.01", "neg_risk": True, "min_order_size": "5"}


def test_parse_book_orders_best_first_and_drops_empty_levels():
    b = parse_book(RAW, 1)
    assert [lv.price for lv in b.asks] == [D("0.52"), D("0.55")] and [lv.price for lv in b.bids] == [D("0.48"), D("0.45")]
    assert b.best_ask == D("0.52") and b.best_bid == D("0.48") and b.neg_risk and b.tick_size == D("0.01")


def test_walk_buy_stops_at_the_worst_price():
    asks = parse_book(RAW, 1).asks
    w = walk_buy(asks, D(100), D("0.54"))
    assert w.shares == D(40) and w.notional == D("20.8") and not w.complete
    full = walk_buy(asks, D("20.8"), D("0.54"))
    assert full.shares == D(40) and full.complete and full.last_price == D("0.52")
    deep = walk_buy(asks, D("30"), D("0.55"))
    assert deep.complete and deep.last_price == D("0.55") and deep.shares == D(40) + (D("9.2") / D("0.55")).quantize(D("0.000001"), "ROUND_DOWN")


def test_walk_sell_stops_at_the_floor():
    bids = parse_book(RAW, 1).bids
    w = walk_sell(bids, D(55), D("0.46"))
    assert w.shares == D(50) and w.notional == D(24) and not w.complete
    assert walk_sell(bids, D(55), D("0.45")).complete


def test_fees_follow_the_taker_fee_shape():
    w = walk_buy((Level(D("0.5"), D(100)),), D(50), D("0.6"), fee_rate=D("0.02"))
    assert w.fee == D(100) * D("0.02") * D("0.25")


def test_fok_is_all_or_nothing_and_fak_takes_what_fits():
    book = parse_book(RAW, 1)
    order = OrderRequest("BUY", 1, "0xc", D(100), D("0.54"), "FOK", False)
    walk = walk_buy(book.asks, order.amount, order.worst_price)
    assert isinstance(fill_from_walk(order, book, walk), OrderFailed)
    fak = fill_from_walk(OrderRequest("BUY", 1, "0xc", D(100), D("0.54"), "FAK", False), book, walk)
    assert isinstance(fak, Fill) and fak.shares == 40 and fak.slippage_bps == 0
    nothing = walk_buy(book.asks, D(10), D("0.50"))
    assert fill_from_walk(order, book, nothing).reason == "unfillable: no asks within worst price 0.54"


def test_price_caps_sit_on_the_tick_grid_inside_the_bounds():
    assert buy_price_cap(0.517, 0.03, D("0.01")) == D("0.54")
    assert buy_price_cap(0.99, 0.03, D("0.01")) == D("0.99")
    assert buy_price_cap(0.5, 0.03, D("0.001")) == D("0.530")
    assert sell_price_floor(0.517, 0.03, D("0.01")) == D("0.49")
    assert sell_price_floor(0.02, 0.03, D("0.01")) == D("0.01")


@given(st.lists(st.tuples(st.integers(1, 99), st.integers(1, 10_000)), min_size=1, max_size=8), st.integers(1, 100_000))
def test_a_buy_walk_never_overspends_or_passes_the_cap(levels, budget_cents):
    asks = tuple(sorted((Level(D(p) / 100, D(s)) for p, s in levels), key=lambda lv: lv.price))
    budget, worst = D(budget_cents) / 100, D("0.60")
    w = walk_buy(asks, budget, worst)
    assert w.notional <= budget and (w.last_price is None or w.last_price <= worst)
    assert w.shares <= sum(lv.size for lv in asks if lv.price <= worst)
