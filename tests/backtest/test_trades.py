"""Round trips against the fills they come from: hand-made fills with known answers, and real runs where the sum of
the trades' net PnL must be the account's equity change and their count the core's round trips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot4.backtest.data import load_ticks, with_data
from bot4.backtest.run import run_one
from bot4.backtest.trades import EXIT_OPEN, EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, build_trades
from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import EXEC_ACK, EXEC_FILL, FILL_DTYPE, FLAG_REDUCE_ONLY, FLAG_STOP_EXIT, ORDER_DTYPE
from bot4.runtime.config import load_config


def fills(rows: list[tuple[int, int, float, float, float, int]]) -> np.ndarray:
    """(coid, side, size, price, fee, ts) rows as execution reports, with an ack in between to be ignored."""
    out = np.zeros(2 * len(rows), FILL_DTYPE)
    for i, (coid, side, size, price, fee, ts) in enumerate(rows):
        out[2 * i] = (coid, ts, 0, 0, 0, EXEC_ACK, side, 0, 0, np.nan, 0.0, 0.0, size)
        out[2 * i + 1] = (coid, ts, 0, 0, 0, EXEC_FILL, side, 2, 0, price, size, fee, 0.0)
    return out


def orders(rows: list[tuple[int, int, float]]) -> np.ndarray:
    """(coid, flags, take_profit_px) rows."""
    out = np.zeros(len(rows), ORDER_DTYPE)
    for i, (coid, flags, tp) in enumerate(rows):
        out[i]["client_order_id"], out[i]["flags"], out[i]["take_profit_px"] = coid, flags, tp
    return out


STEP = np.array([1e-5])


def test_scaling_in_then_out_is_one_trade_at_the_average_entry() -> None:
    rep = fills(
        [
            (1, 1, 1.0, 100.0, 0.1, 10),
            (2, 1, 1.0, 110.0, 0.1, 20),
            (3, -1, 0.5, 120.0, 0.05, 30),
            (3, -1, 1.5, 121.0, 0.15, 40),
        ]
    )
    t = build_trades(
        orders([(1, 0, np.nan), (2, 0, np.nan), (3, FLAG_REDUCE_ONLY, np.nan)]), rep, np.array([121.0]), STEP, 50
    )
    assert len(t) == 1
    (tr,) = t
    assert tr["side"] == 1 and tr["size"] == 2.0
    assert tr["entry_px"] == pytest.approx(105.0)
    assert tr["exit_px"] == pytest.approx((0.5 * 120 + 1.5 * 121) / 2)
    assert tr["gross"] == pytest.approx(0.5 * 15 + 1.5 * 16)
    assert tr["fees"] == pytest.approx(0.4)
    assert tr["net"] == pytest.approx(0.5 * 15 + 1.5 * 16 - 0.4)
    assert (tr["ts_entry_ns"], tr["ts_exit_ns"], tr["exit_reason"]) == (10, 40, EXIT_SIGNAL)


def test_a_fill_through_zero_closes_one_trade_and_opens_the_next_with_its_share_of_the_fee() -> None:
    rep = fills([(1, 1, 2.0, 100.0, 0.2, 10), (2, -1, 3.0, 90.0, 0.3, 20)])
    t = build_trades(orders([(1, 0, np.nan), (2, 0, np.nan)]), rep, np.array([80.0]), STEP, 30)
    assert len(t) == 2
    first, second = t
    assert (first["side"], first["gross"], first["exit_reason"]) == (1, pytest.approx(-20.0), EXIT_SIGNAL)
    assert first["fees"] == pytest.approx(0.2 + 0.2)
    assert (second["side"], second["size"], second["entry_px"], second["exit_reason"]) == (-1, 1.0, 90.0, EXIT_OPEN)
    assert second["gross"] == pytest.approx(10.0)  # marked at 80: short from 90
    assert second["fees"] == pytest.approx(0.1)
    assert second["exit_coid"] == -1 and second["ts_exit_ns"] == 30


def test_stop_exits_are_named_by_the_side_they_left_on() -> None:
    o = orders(
        [
            (1, 0, 130.0),
            (2, FLAG_STOP_EXIT | FLAG_REDUCE_ONLY, np.nan),
            (3, 0, 130.0),
            (4, FLAG_STOP_EXIT | FLAG_REDUCE_ONLY, np.nan),
        ]
    )
    rep = fills(
        [
            (1, 1, 1.0, 100.0, 0.0, 1),
            (2, -1, 1.0, 95.0, 0.0, 2),
            (3, 1, 1.0, 100.0, 0.0, 3),
            (4, -1, 1.0, 131.0, 0.0, 4),
        ]
    )
    t = build_trades(o, rep, np.array([131.0]), STEP, 5)
    assert [int(r) for r in t["exit_reason"]] == [EXIT_STOP_LOSS, EXIT_TAKE_PROFIT]


@pytest.mark.parametrize("data", ["tick_data", "bar_data", "sample"])
def test_trades_add_up_to_the_accounts_equity_change_and_round_trips(
    data: str, small_config: Path, request: pytest.FixtureRequest
) -> None:
    if data == "sample":  # the shipped two-symbol sample, default risk but no loss-streak pause
        cfg = load_config(None, env={})
        core = replace(
            cfg.core,
            risk=RiskConfig(loss_streak_max=1000),
            strategies=(StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26),),
        )
        cfg = replace(cfg, core=core)
    else:
        cfg = with_data(load_config(small_config, env={}), request.getfixturevalue(data))
    assert isinstance(cfg.core, CoreConfig)
    result = run_one(cfg, load_ticks(cfg))
    t = build_trades(result.orders, result.reports, result.last_px, result.size_step, result.ts_end)
    closed = t[t["exit_reason"] != EXIT_OPEN]
    assert len(closed) >= 10
    assert t["net"].sum() == pytest.approx(result.final_equity - result.initial_equity, rel=1e-9, abs=1e-6)
    f = result.reports[result.reports["kind"] == EXEC_FILL]
    assert t["fees"].sum() == pytest.approx(f["fee"].sum(), rel=1e-12)
    assert closed["gross"].sum() == pytest.approx(result.realized, rel=1e-9, abs=1e-6)
    assert len(closed) == result.round_trips  # the core counts the same round trips
    assert (t["ts_exit_ns"] >= t["ts_entry_ns"]).all()
    for s in range(len(cfg.core.symbols)):  # a closed trade ends exactly where the running position returns to zero
        mine = f[f["symbol_id"] == s]
        pos = np.cumsum(mine["side"] * mine["size"])
        flat_at = mine["ts_exch_ns"][np.abs(pos) < 1e-9]
        assert sorted(closed[closed["symbol_id"] == s]["ts_exit_ns"].tolist()) == flat_at.tolist()
        assert (t["size"] > 0).all() and (t["entry_px"] > 0).all() and (t["exit_px"] > 0).all()
