"""One absurd print cannot move equity, the drawdown peak or the trading state; a confirmed new level is taken."""

from __future__ import annotations

import pytest

from bot4.core.records import SIDE_BUY
from tests.harness import Harness, make_core


def test_one_absurd_print_moves_nothing_and_is_counted() -> None:
    core = make_core(no_strategy=True, max_order_notional_usd=1e9, max_symbol_exposure_usd=1e9, max_var_frac=1.0)
    h = Harness(core)
    h.tick(0, 60_000.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 0.5, stop_px=59_000.0)
    core.drain()
    h.fill_all(price=60_000.0)
    before = core.snapshot()
    h.tick(0, 60_000_000.0)  # the print that once sent the engine HALTED on a 99.8 % "drawdown"
    h.tick(0, 0.06)
    after = core.snapshot()
    assert after.equity == before.equity and after.peak_equity == before.peak_equity
    assert after.trading_state == "ACTIVE" and after.positions()[0].last_px == 60_000.0
    assert after.stats.counter("outlier_ticks") == 2 and len(h.take_orders()) == 0  # and no stop exit at 0.06


def test_a_level_confirmed_by_consecutive_prints_is_taken() -> None:
    core = make_core(no_strategy=True, outlier_frac=0.2, outlier_confirm=3)
    h = Harness(core)
    h.tick(0, 100.0)
    for _ in range(2):
        h.tick(0, 150.0)
        assert core.snapshot().positions()[0].last_px == 100.0
    h.tick(0, 150.5)  # the third in a row near the same level: the market moved
    assert core.snapshot().positions()[0].last_px == pytest.approx(150.5)
    assert core.snapshot().stats.counter("outlier_ticks") == 2
    h.tick(0, 125.0)  # inside the band around the new level: taken at once
    assert core.snapshot().positions()[0].last_px == 125.0


def test_outlier_runs_that_do_not_agree_never_become_a_level() -> None:
    core = make_core(no_strategy=True, outlier_frac=0.2, outlier_confirm=3)
    h = Harness(core)
    h.tick(0, 100.0)
    for px in (200.0, 10.0, 300.0, 5.0, 250.0, 1.0):
        h.tick(0, px)
    assert core.snapshot().positions()[0].last_px == 100.0
    assert core.snapshot().stats.counter("outlier_ticks") == 6
