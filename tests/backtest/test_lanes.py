"""Lanes: several parameter sets walked through the data in one compiled pass trade exactly as each does alone, when
their taps fill mid-walk, and when their strategies' records differ in type (walked as separate groups)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot4.backtest import run as run_mod
from bot4.backtest.data import load_ticks
from bot4.backtest.run import Lane, LaneResult, group_lanes, run_lanes, run_one
from bot4.core.config import RiskConfig, StrategyConfig
from bot4.core.records import FLAG_REDUCE_ONLY
from bot4.runtime.config import AppConfig, load_config

WALL_CLOCK = {"ts_created_ns", "ts_in_ns", "ts_risk_ns"}  # when the host did it: differs run to run


def sample_config(strategy: StrategyConfig) -> AppConfig:
    cfg = load_config(None, env={})
    return replace(cfg, core=replace(cfg.core, risk=RiskConfig(loss_streak_max=1000), strategies=(strategy,)))


def assert_same(a: LaneResult, b: LaneResult) -> None:
    for got, want in ((a.orders, b.orders), (a.reports, b.reports)):
        assert len(got) == len(want)
        for name in want.dtype.names:
            if name not in WALL_CLOCK:
                assert np.array_equal(got[name], want[name], equal_nan=True), name
    assert np.array_equal(a.curve, b.curve)
    assert (a.final_equity, a.fees, a.realized, a.round_trips) == (b.final_equity, b.fees, b.realized, b.round_trips)


def test_lanes_in_one_pass_trade_as_each_alone_even_when_their_taps_fill_mid_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs = [sample_config(StrategyConfig(kind="ema_cross", fast_period=f, slow_period=26)) for f in (6, 12, 18)]
    ticks = load_ticks(configs[0])
    alone = [run_one(c, ticks) for c in configs]
    together = run_lanes(configs, ticks)
    for a, b in zip(together, alone, strict=True):
        assert_same(a, b)
    assert len({len(r.orders) for r in alone}) == 3  # three different runs, each trading
    assert min((r.orders["flags"] & FLAG_REDUCE_ONLY == 0).sum() for r in alone) >= 5

    # one compiled call for the whole pass, with taps far smaller than a lane's orders: the walk must stop at each
    # full tap, be drained and go on where it stopped, and still give the same runs
    monkeypatch.setattr(run_mod, "CHUNK", 1 << 40)
    monkeypatch.setattr(run_mod, "TAP_CAPACITY", 256)
    assert min(len(r.orders) for r in alone) > 4 * 256
    for a, b in zip(run_lanes(configs, ticks), alone, strict=True):
        assert_same(a, b)


def test_lanes_of_different_strategy_types_walk_as_groups_and_trade_alike() -> None:
    builtin = sample_config(StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26))
    sdk = sample_config(
        StrategyConfig(kind="bot4.strategies.ema_cross:EmaCross", params={"fast_period": 12, "slow_period": 26})
    )
    lanes = [Lane(builtin), Lane(sdk), Lane(builtin)]
    assert group_lanes(lanes) == [[0, 2], [1]]  # the SDK strategy's records are another type
    ticks = load_ticks(builtin)
    a, b, c = run_lanes([builtin, sdk, builtin], ticks)
    assert_same(a, c)
    assert_same(b, a)  # the SDK's EmaCross trades exactly as the built-in (tests/venues/test_sdk_lockstep.py)
    assert len(a.orders) >= 10


def test_no_ticks_is_a_clear_error() -> None:
    cfg = sample_config(StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26))
    with pytest.raises(ValueError, match="no ticks"):
        run_lanes([cfg], load_ticks(cfg)[:0])
