"""Strategy kernels against plain-Python reference implementations on real recorded prices."""

from __future__ import annotations

import csv
import gzip
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from bot4.core.state import STRAT_BREAKOUT, STRAT_EMA_CROSS, STRAT_PARAMS_DTYPE, STRAT_STATE_DTYPE, STRAT_ZSCORE
from bot4.core.strategy import SIG_BUY, SIG_FLAT, SIG_NONE, SIG_SELL, stop_price_nb, strategy_on_price_nb
from bot4.venues.replay import sample_path


def trade_prices() -> np.ndarray:
    """Every BTC/USDT trade price of the package's sample (the hftbacktest capture, 19,904 trades)."""
    path = sample_path("binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz")
    with gzip.open(path, "rt") as fh:
        return np.array([float(r["price"]) for r in csv.DictReader(fh)])


def bar_closes(path: Path) -> np.ndarray:
    with open(path) as fh:
        return np.array([float(r["close"]) for r in csv.DictReader(fh)])


def ref_ema_cross(prices: np.ndarray, fast: int, slow: int) -> list[tuple[int, int]]:
    out = []
    ef = es = 0.0
    last = 0
    for i, p in enumerate(prices):
        if i == 0:
            ef = es = p
        else:
            ef = ef + 2.0 / (fast + 1.0) * (p - ef)
            es = es + 2.0 / (slow + 1.0) * (p - es)
        if i + 1 < slow:
            continue
        if ef == es:
            continue  # equal averages: no side
        side = 1 if ef > es else -1
        if side != last:
            out.append((i, side))
            last = side
    return out


def ref_breakout(prices: np.ndarray, lookback: int) -> list[tuple[int, int]]:
    out = []
    window: deque[float] = deque(maxlen=lookback)
    last = 0
    for i, p in enumerate(prices):
        if len(window) == lookback:
            side = 1 if p > max(window) else (-1 if p < min(window) else 0)
            if side and side != last:
                out.append((i, side))
                last = side
        window.append(p)
    return out


def ref_zscore(prices: np.ndarray, window: int, entry: float, exit_z: float) -> list[tuple[int, int]]:
    out = []
    buf: deque[float] = deque(maxlen=window)
    last = 0
    for i, p in enumerate(prices):
        if len(buf) == window:
            mean = sum(buf) / window
            var = sum((x - mean) ** 2 for x in buf) / window
            if var > 1e-18 * mean * mean:
                z = (p - mean) / math.sqrt(var)
                if z <= -entry:
                    side = 1
                elif z >= entry:
                    side = -1
                elif abs(z) <= exit_z and last != 0:
                    side = 2
                else:
                    side = 0
                if side == 2:
                    out.append((i, 2))
                    last = 0
                elif side and side != last:
                    out.append((i, side))
                    last = side
        buf.append(p)
    return out


def run_kernel(kind: int, prices: np.ndarray, **params: float) -> list[tuple[int, int]]:
    sp = np.zeros(1, STRAT_PARAMS_DTYPE)
    ss = np.zeros(1, STRAT_STATE_DTYPE)
    names = {
        "fast": "fast", "slow": "slow", "lookback": "lookback", "window": "window", "entry": "entry_z", "exit": "exit_z"
    }
    for key, value in params.items():
        sp[names[key]][0] = value
    hist = np.zeros((1, int(max(sp["lookback"][0], sp["window"][0], 2))))
    out = []
    for i, p in enumerate(prices):
        sig = strategy_on_price_nb(kind, sp, ss, hist, 0, float(p))
        if sig != SIG_NONE:
            out.append((i, int(sig)))
    return out


@pytest.mark.parametrize(("fast", "slow"), [(12, 26), (50, 200)])
def test_ema_cross_on_real_trades(fast: int, slow: int) -> None:
    prices = trade_prices()
    got = run_kernel(STRAT_EMA_CROSS, prices, fast=fast, slow=slow)
    assert got == ref_ema_cross(prices, fast, slow)
    assert len(got) > 10 and {s for _, s in got} == {SIG_BUY, SIG_SELL}


@pytest.mark.parametrize(
    ("data", "rel", "bars", "lookback"),
    [
        # one day of LEAN's Binance BTC/BUSD 1-minute bars, shipped: 39 breakouts at lookback 20
        ("test_data", "binance_spot_BTCBUSD_1m_20221213.norm.csv", 1440, 20),
        # lookback 300 breaks out only 3 times in one day; 8,000 bars of the shared Binance.US set give 24
        ("shared_data", "ohlcv/binanceus_BTCUSDT_1m_20230301_20230321.norm.csv", 8000, 300),
    ],
)
def test_breakout_on_real_bars(request: pytest.FixtureRequest, data: str, rel: str, bars: int, lookback: int) -> None:
    prices = bar_closes(request.getfixturevalue(data) / rel)[:bars]
    got = run_kernel(STRAT_BREAKOUT, prices, lookback=lookback)
    assert got == ref_breakout(prices, lookback)
    assert len(got) > 5


def test_zscore_on_real_trades() -> None:
    prices = trade_prices()
    got = run_kernel(STRAT_ZSCORE, prices, window=200, entry=2.0, exit=0.5)
    ref = ref_zscore(prices, 200, 2.0, 0.5)
    assert got == ref
    assert {s for _, s in got} == {SIG_BUY, SIG_SELL, SIG_FLAT}


def test_every_signal_has_a_stop_on_the_losing_side() -> None:
    sp = np.zeros(1, STRAT_PARAMS_DTYPE)
    sp["stop_frac"][0] = 0.01
    sp["tp_frac"][0] = 0.0
    assert stop_price_nb(sp, 0, SIG_BUY, 100.0) == pytest.approx(99.0)
    assert stop_price_nb(sp, 0, SIG_SELL, 100.0) == pytest.approx(101.0)


def test_ema_cross_equal_averages_are_no_side() -> None:
    """A flat price series keeps both EMAs equal: no view, no signal (an EMA difference of 0 is not a buy)."""
    assert run_kernel(STRAT_EMA_CROSS, np.full(200, 100.0), fast=5, slow=20) == []
    # equal after a move back to the seed: the last view stands until the averages part again
    prices = np.concatenate([np.full(30, 100.0), np.linspace(100, 101, 20), np.full(400, 101.0)])
    got = run_kernel(STRAT_EMA_CROSS, prices, fast=5, slow=20)
    assert got == ref_ema_cross(prices, 5, 20) and got[0][1] == 1 and len(got) == 1

