"""A position a person opened is theirs: the strategy's signals leave it alone (counted), its stop still protects it,
and once it is flat the strategy trades the symbol again; ``manage_manual = true`` hands it to the strategy."""

from __future__ import annotations

import pytest

from bot4.core.config import StrategyConfig
from bot4.core.records import SIDE_BUY, SIDE_SELL
from tests.core.test_stops import BIG
from tests.harness import Harness, make_core

FALL = [100.0 - 0.2 * i for i in range(1, 15)]  # 99.8 .. 97.2: the fast EMA crosses under the slow one at once


def opened_by_hand(manage_manual: bool) -> Harness:
    core = make_core(
        StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01, manage_manual=manage_manual),
        **BIG,
    )
    h = Harness(core)
    for _ in range(6):
        h.tick(0, 100.0)
    assert not len(h.take_orders())  # a flat market: no signal
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=96.0)
    core.drain()
    assert len(h.fill_all(price=100.0)) == 1
    assert int(core.state.sym["manual_pos"][0]) == 1
    return h


def test_the_strategy_leaves_a_persons_long_alone_until_its_stop_takes_it() -> None:
    h = opened_by_hand(manage_manual=False)
    core = h.core
    for px in FALL:
        h.tick(0, px)
        assert not len(h.fill_all()), f"the strategy traded a person's position at {px}"
    assert core.snapshot().positions()[0].qty == 1.0
    assert core.snapshot().stats.counter("signals_manual_held") >= 1
    h.tick(0, 95.9)  # through the person's stop: the stop exit still runs
    exits = h.fill_all()
    assert len(exits) == 1 and core.snapshot().positions()[0].qty == 0.0
    assert int(core.state.sym["manual_pos"][0]) == 0
    for px in (96.5, 97.5, 98.5, 99.5, 100.5):  # flat again: the strategy's next signal trades
        h.tick(0, px)
        if len(h.fill_all()):
            break
    assert core.snapshot().positions()[0].qty > 0.0
    assert int(core.state.sym["manual_pos"][0]) == 0  # the strategy's own position


def test_manage_manual_lets_the_strategy_exit_and_flip_a_persons_position() -> None:
    h = opened_by_hand(manage_manual=True)
    core = h.core
    for px in FALL:
        h.tick(0, px)
        h.fill_all()
    assert core.snapshot().positions()[0].qty < 0.0  # exited, then short on its own signal
    assert core.snapshot().stats.counter("signals_manual_held") == 0
    assert int(core.state.sym["manual_pos"][0]) == 0


def test_a_person_flipping_the_strategys_position_cancels_its_wish_to_be_flat() -> None:
    """The strategy's long waits to be closed (a refused exit, sent again at each tick); a person sells through zero:
    the short is theirs, and the old wish to be flat must not close it."""
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01), **BIG)
    h = Harness(core)
    for _ in range(6):
        h.tick(0, 100.0)
    for px in (100.5, 101.0, 101.5):  # the fast EMA over the slow one: the strategy goes long
        h.tick(0, px)
        h.fill_all()
    assert core.snapshot().positions()[0].qty > 0.0 and int(core.state.sym["manual_pos"][0]) == 0
    row = core.state.sym[0]
    row["exit_wanted"], row["exit_flags"] = 1, 0  # an exit the venue refused, to be sent again at the next tick
    row["exit_retry_clock"] = 2**62  # not yet
    qty = core.snapshot().positions()[0].qty
    core.manual_order("BTC/USDT", SIDE_SELL, qty + 1.0, stop_px=101.7)
    core.drain()
    assert len(h.fill_all(price=101.5)) == 1
    assert core.snapshot().positions()[0].qty == pytest.approx(-1.0)
    assert int(core.state.sym["manual_pos"][0]) == 1 and int(core.state.sym["exit_wanted"][0]) == 0
    row["exit_retry_clock"] = 0
    h.tick(0, 101.4)
    assert not len(h.take_orders())  # nothing sent to close the person's short
