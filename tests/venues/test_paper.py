"""Paper exchange matching: order types, time in force, partial fills, fees, reduce-only, steps, conservation."""

from __future__ import annotations

import ccxt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot4.core.config import CoreConfig
from bot4.core.records import (
    EXEC_EXPIRED,
    EXEC_REJECTED,
    FILL_DTYPE,
    ORDER_DTYPE,
    TICK_BAR,
    TICK_BBO,
    TICK_DTYPE,
    TICK_TRADE,
    VENUE_TABLE_FULL,
)
from bot4.venues.paper import PaperConfig, PaperExchange
from bot4.venues.paper_kernels import TABLE_MASK, TABLE_SIZE, paper_submit_nb

BTC = "BTC/USDT"


class Market:
    def __init__(self, latency_ms: float = 0.0, **cfg: float) -> None:
        self.px = PaperExchange(CoreConfig(), PaperConfig(latency_ms=latency_ms, **cfg))
        self.ts = 1_000_000_000

    def bbo(self, bid: float, ask: float, bid_sz: float = 5.0, ask_sz: float = 5.0) -> None:
        t = np.zeros(1, TICK_DTYPE)
        self.ts += 1_000_000
        t["kind"], t["ts_exch_ns"] = TICK_BBO, self.ts
        t["bid_px"], t["ask_px"], t["bid_sz"], t["ask_sz"] = bid, ask, bid_sz, ask_sz
        assert self.px.on_ticks(t) == 1

    def trade(self, price: float, size: float = 1.0) -> None:
        t = np.zeros(1, TICK_DTYPE)
        self.ts += 1_000_000
        t["kind"], t["ts_exch_ns"], t["price"], t["size"] = TICK_TRADE, self.ts, price, size
        assert self.px.on_ticks(t) == 1

    def reports(self) -> list[tuple[int, float, float, float]]:
        out = np.zeros(256, FILL_DTYPE)
        n = self.px.reports.pop_many(out)
        return [(int(r["kind"]), float(r["price"]), float(r["size"]), float(r["fee"])) for r in out[:n]]


def test_market_order_takes_the_offer_with_taker_fee() -> None:
    m = Market(taker_fee=0.001)
    m.bbo(100.0, 100.5)
    o = m.px.create_order(BTC, "market", "buy", 2.0)
    assert o["status"] == "closed" and o["average"] == 100.5 and o["filled"] == 2.0
    kinds = m.reports()
    assert kinds[0][0] == 1 and kinds[1] == (2, 100.5, 2.0, pytest.approx(100.5 * 2 * 0.001))


def test_market_order_partially_fills_against_the_top_level_then_ioc_expires() -> None:
    m = Market()
    m.bbo(100.0, 100.5, ask_sz=0.5)
    o = m.px.create_order(BTC, "market", "buy", 2.0)
    assert o["status"] == "expired" and o["filled"] == 0.5


def test_fok_refuses_what_cannot_fill_at_once() -> None:
    m = Market()
    m.bbo(100.0, 100.5, ask_sz=0.5)
    o = m.px.create_order(BTC, "market", "buy", 2.0, params={"timeInForce": "FOK"})
    assert o["status"] == "expired" and o["filled"] == 0.0
    o = m.px.create_order(BTC, "limit", "buy", 0.4, 100.5, params={"timeInForce": "FOK"})
    assert o["status"] == "closed" and o["filled"] == 0.4


def test_resting_limit_fills_only_when_traded_through_with_partials_and_maker_fee() -> None:
    m = Market(maker_fee=0.0002)
    m.bbo(100.0, 100.5)
    o = m.px.create_order(BTC, "limit", "buy", 1.0, 99.5)
    assert o["status"] == "open"
    m.trade(99.5, 3.0)  # at the limit: not through
    assert m.px.fetch_order(o["id"])["filled"] == 0.0
    m.trade(99.4, 0.3)  # through, 0.3 available
    m.trade(99.0, 5.0)  # through, the rest
    got = m.px.fetch_order(o["id"])
    assert got["status"] == "closed" and got["filled"] == pytest.approx(1.0) and got["average"] == pytest.approx(99.5)
    fills = [r for r in m.reports() if r[0] == 2]
    assert [f[2] for f in fills] == pytest.approx([0.3, 0.7])
    assert fills[0][3] == pytest.approx(99.5 * 0.3 * 0.0002)


def test_marketable_limit_takes_liquidity_and_ioc_rest_expires() -> None:
    m = Market()
    m.bbo(100.0, 100.5, ask_sz=1.0)
    o = m.px.create_order(BTC, "limit", "buy", 3.0, 101.0, params={"timeInForce": "IOC"})
    assert o["status"] == "expired" and o["filled"] == 1.0 and o["average"] == 100.5


def test_stop_market_triggers_on_the_trade_and_stop_limit_rests() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    m.px.state.sym["qty"][0] = 1.0  # hold 1 so the sell stop is allowed as reduce-only
    s1 = m.px.create_order(BTC, "stop_market", "sell", 1.0, params={"stopPrice": 98.0, "reduceOnly": True})
    s2 = m.px.create_order(BTC, "stop_limit", "buy", 1.0, 103.0, params={"stopPrice": 102.0})
    m.trade(99.0)
    assert m.px.fetch_order(s1["id"])["status"] == "open"
    m.bbo(97.5, 98.0)
    m.trade(97.9)
    assert m.px.fetch_order(s1["id"])["status"] == "closed"
    m.bbo(102.5, 103.5)  # the offer reaches the stop: a buy limit at 103 that does not cross 103.5 rests
    assert m.px.fetch_order(s2["id"])["status"] == "open"
    m.trade(103.2)  # above the limit: not through
    assert m.px.fetch_order(s2["id"])["status"] == "open"
    m.trade(102.9, 2.0)  # trades through 103
    got = m.px.fetch_order(s2["id"])
    assert got["status"] == "closed" and got["average"] == pytest.approx(103.0)


def test_latency_delays_matching_in_market_time() -> None:
    m = Market(latency_ms=5.0)
    m.bbo(100.0, 100.5)
    o = m.px.create_order(BTC, "market", "buy", 1.0)
    assert o["status"] == "open"  # arrived, not matchable for 5 ms
    m.bbo(100.1, 100.6)  # 1 ms later
    assert m.px.fetch_order(o["id"])["status"] == "open"
    for _ in range(5):
        m.bbo(100.2, 100.7)
    assert m.px.fetch_order(o["id"])["average"] == 100.7


def test_an_order_decided_ahead_of_the_venue_meets_the_market_from_its_own_market_time() -> None:
    """The engine replays a batch to the paper venue after the core decided on it: an order stamped with the core's
    market clock (ts_mkt_ns) is matched from that time plus the latency on, not from the venue's older clock."""
    from bot4.core.records import ORDER_DTYPE, ORDER_MARKET, TIF_IOC
    from bot4.core.ring import Ring

    m = Market(latency_ms=2.0)
    m.bbo(100.0, 100.5)  # the venue's clock: t0
    t0 = m.ts
    ring = Ring(ORDER_DTYPE, 16, "orders")
    o = np.zeros(1, ORDER_DTYPE)
    o["client_order_id"], o["side"], o["order_type"], o["tif"], o["size"] = 7, 1, ORDER_MARKET, TIF_IOC, 1.0
    o["price"], o["ts_mkt_ns"] = np.nan, t0 + 5_000_000  # decided on a tick 5 ms after the venue's clock
    assert ring.push_many(o) == 1 and m.px.pump(ring) == 1
    assert [k for k, *_ in m.reports()] == [1]  # acknowledged, not filled: the venue's book is older than the order
    asks = [100.6, 100.7, 100.8, 100.9, 101.0, 101.1, 101.2, 101.3]
    for ask in asks:  # one quote a millisecond: t0 + 1 ms ... t0 + 8 ms
        m.bbo(ask - 0.5, ask)
    fills = [r for r in m.reports() if r[0] == 2]
    assert fills == [(2, 101.2, 1.0, pytest.approx(101.2 * 0.0005))]  # the quote at t0 + 7 ms = decision + latency

    m2 = Market(latency_ms=0.0)  # no latency, an order from the venue's own present: matched on arrival
    m2.bbo(100.0, 100.5)
    o["client_order_id"], o["ts_mkt_ns"] = 8, m2.ts
    assert ring.push_many(o) == 1 and m2.px.pump(ring) == 1
    assert [(k, px) for k, px, *_ in m2.reports()] == [(1, pytest.approx(np.nan, nan_ok=True)), (2, 100.5)]


def test_rejects_with_ccxt_error_classes() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    with pytest.raises(ccxt.InvalidOrder, match="bad_size_step"):
        m.px.create_order(BTC, "limit", "buy", 0.000015, 99.0)
    with pytest.raises(ccxt.InvalidOrder, match="bad_price_step"):
        m.px.create_order(BTC, "limit", "buy", 1.0, 99.005)
    with pytest.raises(ccxt.InvalidOrder, match="min_size"):
        m.px.create_order(BTC, "limit", "buy", 0.000001, 99.0)
    with pytest.raises(ccxt.InvalidOrder, match="reduce_only"):
        m.px.create_order(BTC, "market", "sell", 1.0, params={"reduceOnly": True})
    with pytest.raises(ccxt.InsufficientFunds):
        m.px.create_order(BTC, "limit", "buy", 5000.0, 99.0)  # 495,000 notional on 100,000 at 3x
    with pytest.raises(ccxt.BadSymbol):
        m.px.create_order("DOGE/USDT", "market", "buy", 1.0)
    with pytest.raises(ccxt.OrderNotFound):
        m.px.cancel_order("12345")
    assert m.px.stats()["rejected"] == 5


def test_cancel_returns_the_rest() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    o = m.px.create_order(BTC, "limit", "buy", 1.0, 99.0)
    m.trade(98.9, 0.25)
    c = m.px.cancel_order(o["id"])
    assert c["status"] == "canceled" and c["filled"] == 0.25
    assert m.px.fetch_open_orders() == []


@given(
    st.lists(
        st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 300), st.floats(-0.02, 0.02)),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=100, deadline=None)
def test_equity_is_conserved_minus_fees(trades: list[tuple[str, int, float]]) -> None:
    """Cash + position value changes only by the fees paid: no money is made or lost by the accounting."""
    m = Market(taker_fee=0.0007, leverage=100.0)
    price = 100.0
    fees = 0.0
    cash = 100_000.0  # cash of a plain ledger: pays for buys, receives sales, pays fees
    qty = 0.0
    for side, lots, move in trades:
        price = round(price * (1 + move), 2)
        m.bbo(price - 0.01, price, bid_sz=1e9, ask_sz=1e9)
        size = lots * 0.01
        try:
            o = m.px.create_order(BTC, "market", side, size)
        except ccxt.InsufficientFunds:
            continue
        fill = o["average"]
        fee = fill * size * 0.0007
        fees += fee
        sign = 1 if side == "buy" else -1
        qty += sign * size
        cash -= sign * size * fill + fee
    m.bbo(price - 0.01, price, bid_sz=1e9, ask_sz=1e9)
    mark = m.px.last_price(BTC)
    bal = m.px.fetch_balance()
    equity = bal["total"]["USDT"]
    assert m.px.position(BTC)[0] == pytest.approx(qty, abs=1e-9)
    assert equity == pytest.approx(cash + qty * mark, rel=1e-9, abs=1e-6)
    assert bal["info"]["fees"] == pytest.approx(fees, rel=1e-9, abs=1e-9)


def test_reduce_only_is_checked_when_it_fills_not_only_when_it_arrives() -> None:
    """A resting reduce-only sell of 1 is taken while long 1; the position is closed by another order first: when the
    market reaches the reduce-only order, it expires instead of opening a short."""
    m = Market()
    m.bbo(100.0, 100.5)
    m.px.create_order(BTC, "market", "buy", 1.0)
    rest = m.px.create_order(BTC, "limit", "sell", 1.0, price=102.0, params={"reduceOnly": True})
    assert rest["status"] == "open"
    m.px.create_order(BTC, "market", "sell", 1.0)  # flat now
    m.reports()
    m.trade(103.0)  # trades through the resting sell's price
    assert m.px.position(BTC)[0] == 0.0
    assert m.px.fetch_order(rest["id"])["status"] == "expired"
    assert m.px.stats()["reject_reduce_only"] == 1


def test_reduce_only_fills_only_what_reduces_when_the_position_shrank() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    m.px.create_order(BTC, "market", "buy", 2.0)
    rest = m.px.create_order(BTC, "limit", "sell", 2.0, price=102.0, params={"reduceOnly": True})
    m.px.create_order(BTC, "market", "sell", 1.5)  # 0.5 left to reduce
    m.trade(103.0, size=5.0)
    assert m.px.position(BTC)[0] == 0.0  # never short
    o = m.px.fetch_order(rest["id"])
    assert o["filled"] == pytest.approx(0.5) and o["status"] == "expired"


def bar(m: Market, o: float, h: float, lo: float, c: float) -> None:
    t = np.zeros(1, TICK_DTYPE)
    m.ts += 60_000_000_000
    t["kind"], t["ts_exch_ns"], t["price"], t["size"] = TICK_BAR, m.ts, c, 10.0
    t["bid_px"], t["ask_px"], t["bid_sz"] = lo, h, o
    assert m.px.on_ticks(t) == 1


def test_bars_fill_market_orders_at_the_next_bars_open() -> None:
    m = Market()
    bar(m, 100.0, 101.0, 99.0, 100.5)
    o = m.px.create_order(BTC, "market", "buy", 1.0)
    assert o["status"] == "open"  # a bar has no book to take: it waits for the next bar
    bar(m, 100.8, 102.0, 100.2, 101.5)
    o = m.px.fetch_order(o["id"])
    assert o["status"] == "closed" and o["average"] == 100.8


def test_bars_trigger_stops_on_their_range_and_fill_limits_through_them() -> None:
    m = Market()
    bar(m, 100.0, 101.0, 99.0, 100.5)
    m.px.create_order(BTC, "market", "buy", 1.0)
    bar(m, 100.5, 101.0, 100.0, 100.8)
    stop = m.px.create_order(BTC, "stop_market", "sell", 1.0, params={"stopPrice": 99.5, "reduceOnly": True})
    limit = m.px.create_order(BTC, "limit", "buy", 1.0, price=98.0)
    bar(m, 100.0, 100.2, 97.5, 98.5)  # trades down through both
    assert m.px.fetch_order(stop["id"])["average"] == 99.5  # at its stop: the bar opened above it
    assert m.px.fetch_order(limit["id"])["average"] == 98.0  # at its limit: the low went through it
    gap = m.px.create_order(BTC, "stop_market", "sell", 1.0, params={"stopPrice": 97.0, "reduceOnly": True})
    bar(m, 95.0, 96.0, 94.0, 95.5)  # opens below the stop: filled at the open
    assert m.px.fetch_order(gap["id"])["average"] == 95.0


def test_an_outlier_print_is_refused_and_a_confirmed_level_taken() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    m.trade(100.2)
    resting = m.px.create_order(BTC, "limit", "sell", 1.0, price=150.0)
    m.trade(60_000_000.0)  # one absurd print: no fill at it, no mark at it
    assert m.px.fetch_order(resting["id"])["status"] == "open"
    assert m.px.last_price(BTC) == 100.2
    for _ in range(5):
        m.trade(200.0)  # the market really is there now: taken after five prints agree
    assert m.px.last_price(BTC) == 200.0
    assert m.px.fetch_order(resting["id"])["status"] == "closed"


def test_a_reduce_only_market_order_that_finds_the_position_gone_ends_once() -> None:
    """Both sells arrive while long; the plain one matches first and closes the position, so the reduce-only one
    expires at its fill: one report, and the venue's list of open orders stays whole (it was unlisted twice once)."""
    m = Market(latency_ms=1.0)
    m.bbo(100.0, 100.5)
    m.px.create_order(BTC, "market", "buy", 1.0)
    m.bbo(100.0, 100.5)
    assert m.px.position(BTC)[0] == 1.0
    rest = m.px.create_order(BTC, "limit", "buy", 1.0, price=90.0)  # stays open throughout
    m.px.create_order(BTC, "market", "sell", 1.0)
    ro = m.px.create_order(BTC, "market", "sell", 1.0, params={"reduceOnly": True})
    m.reports()
    m.bbo(100.0, 100.5)
    assert m.px.position(BTC)[0] == 0.0
    expired = [r for r in m.reports() if r[0] == EXEC_EXPIRED]
    assert len(expired) == 1 and m.px.fetch_order(ro["id"])["status"] == "expired"
    assert m.px.fetch_order(rest["id"])["status"] == "open"
    assert [o["id"] for o in m.px.fetch_open_orders(BTC)] == [rest["id"]]


def test_an_order_on_a_working_orders_table_slot_is_refused_and_the_working_order_stays() -> None:
    m = Market()
    m.bbo(100.0, 100.5)
    o = m.px.create_order(BTC, "limit", "buy", 1.0, 99.5)
    coid = int(o["id"])
    m.reports()
    rec = np.zeros(1, ORDER_DTYPE)
    rec[0] = m.px.state.orders[coid & TABLE_MASK]
    rec["client_order_id"] = coid + TABLE_SIZE  # another id on the same table slot (a core and venue out of step)
    rec["price"] = 99.0
    assert paper_submit_nb(m.px.state, rec, 0, m.px._rep_ctrl, m.px._rep_buf) == VENUE_TABLE_FULL
    out = np.zeros(8, FILL_DTYPE)
    n = m.px.reports.pop_many(out)
    assert n == 1 and out[0]["kind"] == EXEC_REJECTED and out[0]["client_order_id"] == coid + TABLE_SIZE
    assert out[0]["reason"] == VENUE_TABLE_FULL
    still = m.px.fetch_order(o["id"])  # the working order is untouched, listed once, and fills as before
    assert still["status"] == "open" and still["price"] == 99.5
    assert int(m.px.state.venue[0]["live"]) == 1
    m.trade(99.0, 5.0)
    assert m.px.fetch_order(o["id"])["status"] == "closed"
    assert int(m.px.state.venue[0]["live"]) == 0 and (m.px.state.live_pos < 0).all()
