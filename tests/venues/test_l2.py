"""L2 depth: the order book kernels (levels, a full side, sequence gaps and stale messages), the depth file loader
(diffs that wait for the snapshot), the book rebuilt from the shipped capture against its own best bid/ask stream,
and a limit order's place in the queue on the paper venue, through the engine: a strategy reads the book
(``on_book``) and joins the bid; prints at its price and levels shrinking ahead of it decide when it fills."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from bot4.core.book import (
    APPLY_DROPPED,
    APPLY_END,
    APPLY_LEVEL,
    DEPTH_CLEAR,
    DEPTH_END,
    DEPTH_SNAPSHOT,
    best_nb,
    book_counts,
    book_levels,
    depth_apply_nb,
    level_qty_nb,
    new_book,
    set_level_nb,
)
from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    EXEC_FILL,
    FILL_DTYPE,
    LIQUIDITY_MAKER,
    ORDER_LIMIT,
    SIDE_BUY,
    SIDE_SELL,
    TICK_DEPTH,
    TICK_DTYPE,
    TICK_TRADE,
)
from bot4.core.runner import Core
from bot4.ui.render import market_markup, money
from bot4.ui.source import View
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperConfig, PaperExchange
from bot4.venues.replay import load_csv, merge_by_time, sample_path

DEPTH = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_depth.csv.gz"
TRADES = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz"
BBO = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_bbo.csv.gz"
BID, ASK = SIDE_BUY, SIDE_SELL
SNAP0 = DEPTH_SNAPSHOT | DEPTH_CLEAR


def apply(book, side, price, qty, first, last, flags):  # type: ignore[no-untyped-def]
    return depth_apply_nb(book, 0, side, price, qty, float(first), float(last), flags)


def test_levels_are_kept_sorted_best_first_and_a_zero_deletes() -> None:
    book = new_book(1)
    assert apply(book, BID, 100.0, 1.0, 10, 10, SNAP0) == APPLY_LEVEL
    apply(book, BID, 99.0, 2.0, 10, 10, DEPTH_SNAPSHOT)
    apply(book, ASK, 102.0, 4.0, 10, 10, DEPTH_SNAPSHOT)
    assert apply(book, ASK, 101.0, 3.0, 10, 10, DEPTH_SNAPSHOT | DEPTH_END) == APPLY_END
    bids, asks = book_levels(book, 0)
    assert bids.tolist() == [[100.0, 1.0], [99.0, 2.0]]
    assert asks.tolist() == [[101.0, 3.0], [102.0, 4.0]]
    apply(book, BID, 99.5, 5.0, 11, 11, 0)  # a new level between two
    apply(book, BID, 100.0, 0.0, 11, 11, 0)  # the best bid goes
    apply(book, ASK, 102.0, 7.0, 11, 11, DEPTH_END)  # a size changes
    bids, asks = book_levels(book, 0)
    assert bids.tolist() == [[99.5, 5.0], [99.0, 2.0]]
    assert asks.tolist() == [[101.0, 3.0], [102.0, 7.0]]
    assert best_nb(book, 0, 0) == (99.5, 5.0) and best_nb(book, 0, 1) == (101.0, 3.0)
    assert level_qty_nb(book, 0, 1, 102.0) == 7.0 and level_qty_nb(book, 0, 1, 103.0) == 0.0
    apply(book, ASK, 150.0, 0.0, 12, 12, DEPTH_END)  # deleting a level it never had: nothing
    assert book_counts(book, 0)["messages"] == 3 and book_counts(book, 0)["snapshots"] == 1


def test_a_full_side_keeps_the_levels_nearest_the_touch() -> None:
    book = new_book(1, levels=3)
    for i, px in enumerate((100.0, 99.0, 98.0)):
        apply(book, BID, px, 1.0, 1, 1, SNAP0 if i == 0 else DEPTH_SNAPSHOT)
    apply(book, BID, 97.0, 1.0, 2, 2, 0)  # deeper than all held: dropped
    apply(book, BID, 99.5, 2.0, 2, 2, DEPTH_END)  # inside: the deepest (98) makes room
    assert book_levels(book, 0)[0][:, 0].tolist() == [100.0, 99.5, 99.0]
    assert book_counts(book, 0)["levels_dropped_full"] == 2


@settings(max_examples=200, deadline=None)
@given(
    levels=st.sampled_from([4, 16, 64, 256]),
    ops=st.lists(st.tuples(st.integers(1, 60), st.sampled_from([0.0, 0.0, 1.0, 2.5]), st.booleans()), max_size=300),
)
def test_the_book_is_a_sorted_map_of_the_levels_it_keeps(levels: int, ops: list[tuple[int, float, bool]]) -> None:
    """Against a dict: every level the book holds has the size last set for it, in price order, best first; with room
    for every price, it holds exactly the dict's levels (the holes levels leave behind never show)."""
    book = new_book(1, levels=levels)
    ref: dict[bool, dict[float, float]] = {True: {}, False: {}}
    for price, qty, bid in ops:
        set_level_nb(book, 0, 0 if bid else 1, float(price) if bid else -float(price), qty)
        if qty > 0:
            ref[bid][float(price)] = qty
        else:
            ref[bid].pop(float(price), None)
    bids, asks = book_levels(book, 0, 10**6)
    for got, want, best_first in ((bids, ref[True], True), (asks, ref[False], False)):
        pairs = [(p, q) for p, q in got.tolist()]
        assert pairs == sorted(pairs, reverse=best_first)
        assert all(want.get(p) == q for p, q in pairs)
        if levels >= 60:
            assert pairs == sorted(want.items(), reverse=best_first)
    if ref[True]:
        assert best_nb(book, 0, 0) == (max(ref[True]), ref[True][max(ref[True])]) or levels < 60


def test_gaps_stale_messages_and_crossings_are_counted() -> None:
    book = new_book(1)
    apply(book, BID, 100.0, 1.0, 50, 50, SNAP0)
    apply(book, ASK, 101.0, 1.0, 50, 50, DEPTH_SNAPSHOT | DEPTH_END)
    apply(book, BID, 100.0, 2.0, 51, 55, DEPTH_END)  # follows on: U = last + 1
    assert apply(book, BID, 100.0, 9.0, 40, 45, DEPTH_END) == APPLY_DROPPED  # older than the book
    assert book_levels(book, 0)[0].tolist() == [[100.0, 2.0]]
    apply(book, BID, 101.5, 1.0, 60, 61, DEPTH_END)  # ids 56-59 never came; and now bid >= ask
    counts = book_counts(book, 0)
    assert counts["gaps"] == 1 and counts["stale_rows"] == 1 and counts["crossed"] == 1
    apply(book, BID, 90.0, 1.0, 70, 70, SNAP0 | DEPTH_END)  # a snapshot starts over
    assert book_levels(book, 0)[0].tolist() == [[90.0, 1.0]] and len(book_levels(book, 0)[1]) == 0


HEADER = "local_ts_ns,exch_ts_ms,event,side,price,qty,first_update_id,last_update_id,prev_last_update_id\n"


def test_diffs_before_the_snapshot_wait_for_it(tmp_path: Path) -> None:
    rows = [
        "1000,1,update,bid,99.0,1.0,5,8,",  # the snapshot (id 10) holds it: dropped
        "1001,1,update,ask,101.0,2.0,9,12,",  # newer than the snapshot: applied after it
        "1002,1,update,ask,101.0,2.0,9,12,",
        "2000,2,snapshot,bid,100.0,3.0,,10,",
        "2000,2,snapshot,ask,101.0,1.0,,10,",
        "3000,3,update,bid,100.0,abc,13,14,",  # malformed: skipped, counted
        "3000,3,update,bid,100.5,1.0,13,14,",
        "3000,3,update,ask,101.0,0,13,14,",
    ]
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(HEADER + "\n".join(rows) + "\n")
    ticks, report = load_csv(path, 0)
    assert report.kind == "depth"
    assert report.skipped["before_snapshot"] == 1 and report.skipped["malformed"] == 1
    assert np.all(ticks["kind"] == TICK_DEPTH)
    assert ticks["ask_px"].tolist() == [10, 10, 12, 12, 14, 14]  # snapshot, the waiting diff, then the rest
    assert ticks["ts_exch_ns"].tolist() == [2000, 2000, 2000, 2000, 3000, 3000]
    flags = ticks["bid_sz"].astype(int).tolist()
    assert flags == [SNAP0, DEPTH_SNAPSHOT | DEPTH_END, 0, DEPTH_END, 0, DEPTH_END]
    book = new_book(1)
    for t in ticks:
        depth_apply_nb(book, 0, int(t["side"]), t["price"], t["size"], t["bid_px"], t["ask_px"], int(t["bid_sz"]))
    bids, asks = book_levels(book, 0)
    assert bids.tolist() == [[100.5, 1.0], [100.0, 3.0]] and len(asks) == 0


@njit(nogil=True)
def _tops(book, ticks, out):  # type: ignore[no-untyped-def]
    m = 0
    for i in range(len(ticks)):
        t = ticks[i]
        r = depth_apply_nb(book, 0, t.side, t.price, t.size, t.bid_px, t.ask_px, np.int64(t.bid_sz))
        if r == APPLY_END:
            out[m, 0] = t.ts_exch_ns
            out[m, 1] = best_nb(book, 0, 0)[0]
            out[m, 2] = best_nb(book, 0, 1)[0]
            m += 1
    return m


def test_the_shipped_book_matches_the_captures_best_bid_and_ask() -> None:
    ticks, _ = load_csv(sample_path(DEPTH), 0)
    bbo, _ = load_csv(sample_path(BBO), 0)
    book = new_book(1)
    out = np.zeros((len(ticks), 3))
    m = _tops(book, ticks, out)
    counts = book_counts(book, 0)
    assert m == counts["messages"] > 6000 and counts["snapshots"] == 1
    assert counts["gaps"] == 0 and counts["crossed"] == 0
    tops = out[:m]
    i = np.searchsorted(bbo["ts_exch_ns"], tops[:, 0].astype(np.int64), side="right") - 1
    ok = i >= 0
    same = (bbo["bid_px"][i[ok]] == tops[ok, 1]) & (bbo["ask_px"][i[ok]] == tops[ok, 2])
    assert same.mean() > 0.995  # the bookTicker stream, received independently, agrees after every message


def book_config(**params: float) -> CoreConfig:
    strat = StrategyConfig(
        kind="bot4.strategies.book_imbalance:BookImbalance", params=params, symbols=("BTC/USDT",)
    )
    return CoreConfig(strategies=(strat,), risk=RiskConfig(loss_streak_max=1000, risk_per_trade_frac=0.001))


def tick(ts: int, kind: int, side: int, price: float, size: float, first: int = 0, last: int = 0,
         flags: int = 0) -> tuple:
    return (ts, 0, 0, 0, kind, side, price, size, float(first), float(flags), float(last), 0.0)


def test_a_resting_limit_fills_only_once_the_size_ahead_of_it_is_gone() -> None:
    cfg = book_config(enter_at=-0.99, exit_at=-1.0, patience=10_000)  # joins the bid on the first book, stays
    ms = 1_000_000
    t0 = 1_723_161_600_000_000_000
    rows = [
        tick(t0, TICK_DEPTH, BID, 60000.0, 0.5, 0, 10, SNAP0),
        tick(t0, TICK_DEPTH, BID, 59990.0, 2.0, 0, 10, DEPTH_SNAPSHOT),
        tick(t0, TICK_DEPTH, ASK, 60010.0, 0.5, 0, 10, DEPTH_SNAPSHOT),
        tick(t0, TICK_DEPTH, ASK, 60020.0, 2.0, 0, 10, DEPTH_SNAPSHOT | DEPTH_END),
        tick(t0 + 1 * ms, TICK_TRADE, SIDE_SELL, 60000.0, 0.3),  # 0.5 ahead -> 0.2
        tick(t0 + 2 * ms, TICK_DEPTH, BID, 60000.0, 0.4, 11, 11, DEPTH_END),  # still 0.2 ahead (0.2 joined behind)
        tick(t0 + 3 * ms, TICK_DEPTH, BID, 60000.0, 0.1, 12, 12, DEPTH_END),  # cancels ahead: 0.1 ahead
        tick(t0 + 4 * ms, TICK_TRADE, SIDE_BUY, 60000.0, 5.0),  # a buyer at our price does not reach a bid
        tick(t0 + 5 * ms, TICK_TRADE, SIDE_SELL, 60000.0, 0.15),  # uses up 0.1, fills 0.05
        tick(t0 + 6 * ms, TICK_TRADE, SIDE_SELL, 59990.0, 0.001),  # through our price, however small: all of it
    ]
    ticks = np.array(rows, dtype=TICK_DTYPE)
    core = Core(cfg)
    venue = PaperExchange(cfg, PaperConfig(latency_ms=0.0))
    orders, reports = Lockstep(core, venue).replay(ticks)
    limits = orders[(orders["action"] == ACTION_SUBMIT) & (orders["order_type"] == ORDER_LIMIT)]
    assert len(limits) == 1 and limits["price"][0] == 60000.0 and limits["side"][0] == SIDE_BUY
    size = float(limits["size"][0])
    assert size > 0.06
    fills = reports[reports["kind"] == EXEC_FILL]
    assert fills["ts_exch_ns"].tolist() == [t0 + 5 * ms, t0 + 6 * ms]  # nothing before the queue ahead was gone
    assert fills["size"][0] == pytest.approx(0.05)
    assert fills["size"].sum() == pytest.approx(size)
    assert np.all(fills["price"] == 60000.0) and np.all(fills["liquidity"] == LIQUIDITY_MAKER)
    assert core.snapshot().sym["qty"][0] == pytest.approx(size)


def test_an_l2_backtest_with_limit_orders_on_the_shipped_depth() -> None:
    cfg = book_config()
    depth, _ = load_csv(sample_path(DEPTH), 0)
    trades, _ = load_csv(sample_path(TRADES), 0)
    ticks = merge_by_time([depth, trades])
    core = Core(cfg)
    venue = PaperExchange(cfg)
    orders, reports = Lockstep(core, venue).replay(ticks)
    st = core.user.state[0]
    counts = book_counts(core.state.l2, 0)
    assert st["books"] == counts["messages"] > 6000  # on_book after every message
    assert book_counts(venue.state.l2, 0) == counts  # the venue rebuilt the same book from the same rows
    assert np.array_equal(core.state.l2.key, venue.state.l2.key)
    assert np.array_equal(core.state.l2.qty, venue.state.l2.qty)
    limits = orders[(orders["action"] == ACTION_SUBMIT) & (orders["order_type"] == ORDER_LIMIT)]
    assert len(limits) == st["entries"] >= 10
    assert (orders["action"] == ACTION_CANCEL).sum() >= 1  # some waited longer than their patience
    fills = reports[reports["kind"] == EXEC_FILL]
    maker = fills[fills["liquidity"] == LIQUIDITY_MAKER]
    assert len(maker) >= 5  # limits filled from the queue
    bid_at_entry = np.isin(limits["price"], depth["price"][depth["side"] == SIDE_BUY])
    assert bid_at_entry.all()  # each joined a bid price the book showed
    # the published book (what the workstation and the API show) is the core's best levels
    snap = core.snapshot()
    bids, asks = book_levels(core.state.l2, 0)
    shown = snap.book_levels("BTC/USDT")
    assert shown == {"bids": bids.tolist(), "asks": asks.tolist()} and len(shown["bids"]) == 10
    assert snap.book_levels("ETH/USDT") == {"bids": [], "asks": []}
    text = market_markup(View(snapshot=snap, symbols=snap.symbols, selected="BTC/USDT"), rows=22, cols=120)
    assert "book[/b] (best 5 a side)" in text and money(bids[0, 0]) in text and money(asks[0, 0]) in text
    assert "book[/b]" not in market_markup(View(snapshot=snap, symbols=snap.symbols, selected="ETH/USDT"))


class Depth:
    """A standalone paper venue fed L2 rows: one book message per call."""

    def __init__(self) -> None:
        self.px = PaperExchange(CoreConfig(), PaperConfig(latency_ms=0.0, taker_fee=0.001))
        self.ts = 1_000_000_000
        self.u = 0

    def message(self, levels: list[tuple[int, float, float]], snapshot: bool = False) -> None:
        self.ts += 1_000_000
        self.u += 1
        rows = []
        for i, (side, price, qty) in enumerate(levels):
            flags = (DEPTH_SNAPSHOT | (DEPTH_CLEAR if i == 0 else 0)) if snapshot else 0
            flags |= DEPTH_END if i == len(levels) - 1 else 0
            rows.append(tick(self.ts, TICK_DEPTH, side, price, qty, self.u, self.u, flags))
        assert self.px.on_ticks(np.array(rows, dtype=TICK_DTYPE)) == len(rows)

    def fills(self) -> list[tuple[float, float]]:
        out = np.zeros(256, FILL_DTYPE)
        n = self.px.reports.pop_many(out)
        return [(float(r["price"]), float(r["size"])) for r in out[:n] if r["kind"] == EXEC_FILL]


def book_of_three() -> Depth:
    d = Depth()
    d.message([(BID, 100.0, 1.0), (BID, 99.5, 2.0), (ASK, 100.5, 0.5), (ASK, 101.0, 1.0), (ASK, 102.0, 5.0)],
              snapshot=True)
    return d


def test_a_market_order_walks_the_book_level_by_level() -> None:
    d = book_of_three()
    o = d.px.create_order("BTC/USDT", "market", "buy", 2.0)
    assert d.fills() == [(100.5, 0.5), (101.0, 1.0), (102.0, 0.5)]
    assert o["status"] == "closed" and o["average"] == pytest.approx((100.5 * 0.5 + 101.0 + 102.0 * 0.5) / 2.0)
    d.message([(ASK, 100.5, 0.0)])  # the book is the market's: the next message, not our fill, changes it
    o = d.px.create_order("BTC/USDT", "market", "sell", 4.0)
    assert d.fills() == [(100.0, 1.0), (99.5, 2.0)] and o["status"] == "expired"  # IOC: the book had 3


def test_a_marketable_limit_takes_levels_up_to_its_price() -> None:
    d = book_of_three()
    fok = d.px.create_order("BTC/USDT", "limit", "buy", 2.0, price=101.0, params={"timeInForce": "FOK"})
    assert fok["status"] == "expired" and d.fills() == []  # 1.5 within 101: not all at once
    ioc = d.px.create_order("BTC/USDT", "limit", "buy", 2.0, price=101.0, params={"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and d.fills() == [(100.5, 0.5), (101.0, 1.0)]
    gtc = d.px.create_order("BTC/USDT", "limit", "buy", 2.0, price=101.0)
    assert d.fills() == [(100.5, 0.5), (101.0, 1.0)] and gtc["status"] == "open"  # the rest rests at 101


def test_the_opposite_best_at_a_queued_orders_price_fills_it_whole() -> None:
    d = book_of_three()
    o = d.px.create_order("BTC/USDT", "limit", "buy", 1.5, price=100.0)  # behind the 1.0 shown at 100
    d.message([(ASK, 100.5, 0.0), (ASK, 100.2, 0.4)])
    assert d.fills() == [] and d.px.fetch_order(o["id"])["status"] == "open"
    d.message([(BID, 100.0, 0.0), (ASK, 100.2, 0.0), (ASK, 100.0, 0.3)])  # a seller now rests at our price:
    assert d.fills() == [(100.0, 1.5)]  # every bid there, ours too, was taken first
    assert d.px.fetch_order(o["id"])["status"] == "closed"
