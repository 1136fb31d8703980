"""Every open position has its own stop: the stop of the entry that opened it, at any interleaving of fills.

A venue here answers the core's orders in any order, in part or in full, late, or not at all (hypothesis draws the
sequence), as a real exchange can; the core must never hold a position whose stop is not its opener's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot4.core.config import StrategyConfig
from bot4.core.records import (
    ACTION_CANCEL,
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_EXPIRED,
    EXEC_FILL,
    FILL_DTYPE,
    FLAG_REDUCE_ONLY,
    SIDE_BUY,
    SIDE_SELL,
)
from bot4.core.ring import RING_HEAD
from tests.harness import Harness, make_core

BIG = dict(
    max_order_notional_usd=1e9, max_symbol_exposure_usd=1e9, max_gross_exposure_usd=1e9, max_var_frac=1.0,
    loss_streak_max=1000, order_burst=1_000_000, max_orders_per_s=1e6,
)


class AnyOrderVenue:
    """Holds the core's orders and answers them when and how the test says."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.open: list[dict[str, float | int]] = []
        self.stops: dict[int, tuple[int, float]] = {}  # coid -> (side, stop) of every order the core sent

    def collect(self) -> None:
        for o in self.h.take_orders():
            coid = int(o["client_order_id"])
            if int(o["action"]) == ACTION_CANCEL:
                for w in self.open:
                    if w["coid"] == coid:
                        w["cancel"] = 1
                continue
            self.stops[coid] = (int(o["side"]), float(o["stop_px"]))
            self.open.append({"coid": coid, "side": int(o["side"]), "left": float(o["size"]), "cancel": 0,
                              "sym": int(o["symbol_id"]), "acked": 0})

    def answer(self, pick: int, frac: float, end: bool) -> None:
        """Fill ``frac`` of open order ``pick`` (modulo) at the last price; ``end``: then expire (or cancel) it."""
        if not self.open:
            return
        w = self.open[pick % len(self.open)]
        reports = np.zeros(3, FILL_DTYPE)
        k = 0
        if not w["acked"]:
            r = reports[k]
            r["client_order_id"], r["symbol_id"], r["side"], r["kind"] = w["coid"], w["sym"], w["side"], EXEC_ACK
            w["acked"] = 1
            k += 1
        size = float(w["left"]) * frac
        if size > 1e-6:
            px = self.h.core.snapshot().positions()[int(w["sym"])].last_px
            r = reports[k]
            r["client_order_id"], r["symbol_id"], r["side"], r["kind"] = w["coid"], w["sym"], w["side"], EXEC_FILL
            r["price"], r["size"], r["leaves"] = px, size, float(w["left"]) - size
            w["left"] = float(w["left"]) - size
            k += 1
        if end or w["cancel"] or float(w["left"]) <= 1e-9:
            if float(w["left"]) > 1e-9:
                r = reports[k]
                r["client_order_id"], r["symbol_id"], r["side"] = w["coid"], w["sym"], w["side"]
                r["kind"] = EXEC_CANCELED if w["cancel"] else EXEC_EXPIRED
                r["leaves"] = w["left"]
                k += 1
            self.open.remove(w)
        assert self.h.core.parts.fills.push_many(reports[:k]) == k
        self.h.core.drain()


def check_stops(h: Harness, venue: AnyOrderVenue, opened_by: dict[int, int]) -> None:
    """Each non-zero position's stop is the stop of the order whose fill opened it (or, when that order had none,
    the fill's own price with the exit on its way)."""
    st_ = h.core.state
    for s in range(st_.sym.shape[0]):
        row = st_.sym[s]
        q = float(row["qty"])
        if q == 0.0:
            assert math.isnan(float(row["stop_px"]))
            continue
        stop = float(row["stop_px"])
        assert stop > 0.0, f"symbol {s}: position {q} without a stop"
        coid = opened_by.get(s)
        assert coid is not None
        side, order_stop = venue.stops[coid]
        assert side * q > 0, "the position's side is the side of the order that opened it"
        if order_stop > 0.0:
            assert stop == order_stop, f"symbol {s}: stop {stop}, its opener's {order_stop}"
        else:
            assert int(row["exit_wanted"]) == 1 or int(row["exit_pending"]) == 1


def run_sequence(actions: list[tuple[int, int, float, bool]]) -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01), **BIG)
    h = Harness(core)
    venue = AnyOrderVenue(h)
    opened_by: dict[int, int] = {}
    px = 100.0
    for kind, arg, frac, end in actions:
        before = [float(core.state.sym["qty"][s]) for s in range(2)]
        if kind == 0:  # the market moves
            px = max(50.0, px * (1.0 + (arg - 50) / 2000.0))
            h.tick(0, px)
        elif kind == 1:  # a person's order through one fill can take the position through zero
            side = SIDE_BUY if arg % 2 else SIDE_SELL
            core.manual_order("BTC/USDT", side, 0.5 + (arg % 7) * 0.5, stop_px=px * (1 - side * 0.02))
            core.drain()
        venue.collect()
        if kind == 2:
            venue.answer(arg, frac, end)
            venue.collect()  # what the core sent in reaction (an unprotected fill's exit, a held entry)
        for s in range(2):
            q = float(core.state.sym["qty"][s])
            if q != 0.0 and (before[s] == 0.0 or before[s] * q < 0.0):
                opened_by[s] = _filled_last(h, s)
        check_stops(h, venue, opened_by)


def _filled_last(h: Harness, s: int) -> int:
    """The order whose fill was applied last for symbol ``s`` (its report is still in the fill ring's buffer)."""
    ring = h.core.parts.fills
    head = int(ring.ctrl[RING_HEAD])
    mask = ring.capacity - 1
    for k in range(head - 1, max(-1, head - ring.capacity), -1):
        r = ring.buf[k & mask]
        if int(r["kind"]) == EXEC_FILL and int(r["symbol_id"]) == s:
            return int(r["client_order_id"])
    raise AssertionError("no fill found")


actions_st = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 100), st.sampled_from([0.0, 0.3, 0.5, 1.0]), st.booleans()),
    min_size=10,
    max_size=80,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions_st)
def test_every_position_carries_its_openers_stop_at_any_interleaving(actions: list[tuple[int, int, float, bool]]) -> None:
    run_sequence(actions)


def test_a_short_opened_through_zero_never_keeps_the_longs_stop() -> None:
    """Long 1 with its stop at 98; a sell of 3 (its stop at 103) fills at once: the short of 2 carries 103."""
    core = make_core(no_strategy=True, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=98.0)
    core.drain()
    h.fill_all(price=100.0)
    assert core.snapshot().positions()[0].stop_px == 98.0
    core.manual_order("BTC/USDT", SIDE_SELL, 3.0, stop_px=103.0)
    core.drain()
    h.fill_all(price=100.0)
    pos = core.snapshot().positions()[0]
    assert pos.qty == pytest.approx(-2.0) and pos.stop_px == 103.0
    h.tick(0, 99.0)  # below the old long stop: nothing happens to the short
    assert len(h.take_orders()) == 0


def test_a_flip_sends_the_exit_first_and_the_entry_only_when_it_ended() -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01), **BIG)
    h = Harness(core)
    for p in [100.0, 101.0, 102.0, 103.0]:
        h.tick(0, p)
    h.fill_all()
    long_stop = core.snapshot().positions()[0].stop_px
    assert core.snapshot().positions()[0].qty > 0 and long_stop < 103.0
    for p in [99.0, 95.0]:
        h.tick(0, p)  # the EMAs cross down: flip to short
    orders = h.take_orders()
    assert [(int(o["side"]), bool(int(o["flags"]) & FLAG_REDUCE_ONLY)) for o in orders] == [(SIDE_SELL, True)]
    h.respond(orders, price=95.0)  # the exit fills: flat
    assert core.snapshot().positions()[0].qty == 0.0
    h.tick(0, 95.0)
    entry = h.take_orders()
    assert [(int(o["side"]), bool(int(o["flags"]) & FLAG_REDUCE_ONLY)) for o in entry] == [(SIDE_SELL, False)]
    h.respond(entry, price=95.0)
    pos = core.snapshot().positions()[0]
    assert pos.qty < 0 and pos.stop_px == pytest.approx(95.0 * 1.01)


def test_an_exit_filled_in_part_is_sent_again_until_flat() -> None:
    core = make_core(StrategyConfig(kind="zscore", window=10, entry_z=1.5, exit_z=0.5, stop_frac=0.05), **BIG)
    h = Harness(core)
    for p in [100.0] * 5 + [100.2, 99.8] * 5:
        h.tick(0, p)
    h.tick(0, 98.0)  # z far below: buy
    entry = h.take_orders()
    assert [int(o["side"]) for o in entry] == [SIDE_BUY]
    h.respond(entry, price=98.0)
    q = core.snapshot().positions()[0].qty
    h.tick(0, 100.0)  # back to the mean: flat
    exits = h.take_orders()
    assert [(int(o["side"]), bool(int(o["flags"]) & FLAG_REDUCE_ONLY)) for o in exits] == [(SIDE_SELL, True)]
    reports = np.zeros(2, FILL_DTYPE)
    o = exits[0]
    for r, kind, size, leaves in ((reports[0], EXEC_FILL, 0.4 * q, 0.6 * q), (reports[1], EXEC_EXPIRED, 0.0, 0.6 * q)):
        r["client_order_id"], r["symbol_id"], r["side"], r["kind"] = o["client_order_id"], 0, o["side"], kind
        r["price"], r["size"], r["leaves"] = 100.0, size, leaves
    core.parts.fills.push_many(reports)
    core.drain()
    assert core.snapshot().positions()[0].qty == pytest.approx(0.6 * q)
    h.tick(0, 100.0, dt_ns=200_000_000)
    again = h.take_orders()
    assert [(int(o["side"]), float(o["size"])) for o in again] == [(SIDE_SELL, pytest.approx(0.6 * q))]
    h.respond(again, price=100.0)
    assert core.snapshot().positions()[0].qty == 0.0
    h.tick(0, 100.0, dt_ns=200_000_000)
    assert len(h.take_orders()) == 0
