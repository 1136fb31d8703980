"""The summary figures against a reference written apart from bot4 (plain Python loops and the statistics module,
following empyrical's definitions), on generated equity curves and trade lists."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot4.backtest.metrics import compute_metrics, exposure_fraction
from bot4.backtest.trades import EXIT_OPEN, EXIT_SIGNAL, TRADE_DTYPE

S = 1_000_000_000
DAY = 86_400 * S


def ref_sharpe(eq: list[float], ppy: float) -> float | None:
    r = [eq[i] / eq[i - 1] - 1 for i in range(1, len(eq))]
    if len(r) < 2 or statistics.stdev(r) == 0:
        return None
    return statistics.mean(r) / statistics.stdev(r) * math.sqrt(ppy)


def ref_sortino(eq: list[float], ppy: float) -> float | None:
    r = [eq[i] / eq[i - 1] - 1 for i in range(1, len(eq))]
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r)) if r else 0.0
    if len(r) < 2 or down == 0:
        return None
    return statistics.mean(r) / down * math.sqrt(ppy)


def ref_drawdown(ts: list[int], eq: list[float]) -> tuple[float, float]:
    """Worst fall from a running peak, and the longest time from a peak to the first sample back at or above it."""
    peak_i, worst, longest, below = 0, 0.0, 0, False
    for i, v in enumerate(eq):
        if v >= eq[peak_i]:
            if below:
                longest = max(longest, ts[i] - ts[peak_i])
            peak_i, below = i, False
        else:
            below = True
            worst = max(worst, (eq[peak_i] - v) / eq[peak_i])
    if below:
        longest = max(longest, ts[-1] - ts[peak_i])
    return worst, longest / S


def make_trades(rng: np.random.Generator, n: int, t0: int, t1: int) -> np.ndarray:
    t = np.zeros(n, TRADE_DTYPE)
    for i in range(n):
        a = int(rng.integers(t0, t1))
        b = int(min(t1, a + int(rng.integers(1, (t1 - t0) // 5 + 2))))
        net = float(rng.normal(0, 50))
        t[i] = (0, 1, EXIT_SIGNAL if i < n - 1 else EXIT_OPEN, a, b, 100, 101, 1, net + 1, 1.0, net, i, i)
    return t


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 400), st.sampled_from([1, 60, 3600]), st.integers(1, 30))
def test_metrics_match_the_reference(seed: int, n: int, bar_s: int, n_trades: int) -> None:
    rng = np.random.default_rng(seed)
    eq = 10_000 * np.cumprod(1 + rng.normal(0.0002, 0.01, n))
    eq[0] = 10_000.0
    if seed % 5 == 0:
        eq[n // 2 :] = eq[n // 2]  # a flat stretch
    ts = np.arange(n, dtype=np.int64) * bar_s * S + 1_700_000_000 * S
    trades = make_trades(rng, n_trades, int(ts[0]), int(ts[-1]))
    m = compute_metrics(ts, eq, trades, 10_000.0, 12.5, int(ts[0]), int(ts[-1]), bar_s * S)
    ppy = 365 * 86_400 / bar_s
    eql, tsl = eq.tolist(), ts.tolist()
    for got, want in ((m.sharpe, ref_sharpe(eql, ppy)), (m.sortino, ref_sortino(eql, ppy))):
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9)
    dd, dd_s = ref_drawdown(tsl, eql)
    assert m.max_drawdown == pytest.approx(dd, rel=1e-12, abs=1e-15)
    assert m.max_drawdown_duration_s == pytest.approx(dd_s)
    closed = [float(x) for x in trades["net"][:-1]]
    wins = sum(x for x in closed if x > 0)
    losses = -sum(x for x in closed if x < 0)
    assert m.trades == len(closed) and m.open_trades == 1
    if closed:
        assert m.expectancy == pytest.approx(sum(closed) / len(closed))
        assert m.win_rate == pytest.approx(sum(1 for x in closed if x > 0) / len(closed))
    assert (m.profit_factor is None) == (losses == 0)
    if losses:
        assert m.profit_factor == pytest.approx(wins / losses)
    assert m.net_pnl == pytest.approx(eql[-1] - 10_000.0)
    assert m.gross_pnl == pytest.approx(m.net_pnl + 12.5)
    span_days = (tsl[-1] - tsl[0]) / DAY
    if span_days >= 30:
        cagr = (eql[-1] / 10_000) ** (365 / span_days) - 1
        assert m.cagr == pytest.approx(cagr)
        assert m.calmar == (pytest.approx(cagr / dd) if dd > 0 else None)
    else:
        assert m.cagr is None and m.calmar is None
    # exposure: a second-by-second count of covered instants
    covered = 0
    grid = range(tsl[0], tsl[-1], max(1, (tsl[-1] - tsl[0]) // 2000))
    for x in grid:
        covered += any(
            a <= x < b for a, b in zip(trades["ts_entry_ns"].tolist(), trades["ts_exit_ns"].tolist(), strict=True)
        )
    assert m.exposure_time == pytest.approx(covered / len(grid), abs=0.01)


def test_drawdown_and_its_duration_on_a_known_curve() -> None:
    ts = np.arange(8, dtype=np.int64) * 60 * S
    eq = np.array([100, 110, 99, 88, 105, 111, 100, 112], dtype=float)
    m = compute_metrics(ts, eq, np.zeros(0, TRADE_DTYPE), 100.0, 0.0, 0, int(ts[-1]), 60 * S)
    assert m.max_drawdown == pytest.approx(0.2)  # 110 -> 88
    assert m.max_drawdown_duration_s == 4 * 60  # under 110 from sample 1 until 111 at sample 5
    assert m.trades == 0 and m.win_rate is None and m.expectancy is None and m.exposure_time == 0.0


def test_overlapping_trades_count_once_in_exposure() -> None:
    t = np.zeros(3, TRADE_DTYPE)
    t["ts_entry_ns"] = [0, 5, 50]
    t["ts_exit_ns"] = [10, 20, 60]
    assert exposure_fraction(t, 0, 100) == pytest.approx(0.3)
