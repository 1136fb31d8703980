"""Correlation and VaR kernels against numpy on the same windows (including ring wrap-around)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot4.core.risk import correlation_matrix_nb, rebuild_var_base_nb, shift_var_base_nb, var_with_nb
from bot4.core.state import N_SYM, S_LAST_PX, S_QTY


def _ring_fill(series: np.ndarray, capacity: int) -> np.ndarray:
    """Write a [symbols, T] series into a [symbols, capacity] ring as the engine does (sample t at t % capacity)."""
    rets = np.zeros((series.shape[0], capacity))
    for t in range(series.shape[1]):
        rets[:, t % capacity] = series[:, t]
    return rets


@pytest.mark.parametrize("count", [30, 60, 157])
def test_correlation_matches_numpy_over_the_last_window(count: int) -> None:
    rng = np.random.default_rng(count)
    base = rng.normal(0, 0.01, count)
    series = np.vstack([base + rng.normal(0, 0.005, count), -base + rng.normal(0, 0.02, count), rng.normal(0, 0.01, count)])
    window, capacity = 40, 64
    rets = _ring_fill(series, capacity)
    out = np.zeros((3, 3))
    used = correlation_matrix_nb(rets, count, window, 20, out)
    n = min(count, window)
    assert used == n
    expected = np.corrcoef(series[:, count - n :])
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)


def test_correlation_unknown_with_few_samples_or_a_flat_series() -> None:
    out = np.zeros((2, 2))
    rets = np.zeros((2, 16))
    rets[0, :10] = np.arange(10) * 0.001
    assert correlation_matrix_nb(rets, 10, 16, 12, out) == 10
    assert np.isnan(out).all()
    assert correlation_matrix_nb(rets, 16, 16, 12, out) == 16
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 1])  # the second series is flat


@pytest.mark.parametrize(("confidence", "window"), [(0.99, 100), (0.95, 100), (0.99, 250)])
def test_historical_var_matches_numpy(confidence: float, window: int) -> None:
    rng = np.random.default_rng(int(confidence * 1000) + window)
    count = window + 37
    series = rng.standard_t(4, size=(3, count)) * 0.01
    capacity = 256
    rets = _ring_fill(series, capacity)
    sym = np.zeros((3, N_SYM))
    sym[:, S_QTY] = [2.0, -1.0, 0.0]
    sym[:, S_LAST_PX] = [100.0, 50.0, 10.0]
    base = np.zeros(window)
    n = rebuild_var_base_nb(rets, sym, count, window, base)
    assert n == window
    k = max(1, math.floor((1 - confidence) * window))
    scratch = np.zeros(k + 1)
    delta = 3.0 * 10.0  # buy 3 of symbol 2 at 10
    got = var_with_nb(rets, base, scratch, n, count, k, 2, delta)
    last = series[:, count - window :]
    pnl = 2.0 * 100.0 * last[0] - 1.0 * 50.0 * last[1] + delta * last[2]
    expected = max(0.0, -np.sort(pnl)[k - 1])
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(max(0.0, -np.partition(pnl, k - 1)[k - 1]), rel=1e-12)


@pytest.mark.parametrize("count", [40, 100, 300])
def test_a_fill_shifts_the_var_base_as_a_rebuild_would(count: int) -> None:
    """The engine updates the VaR base on a fill (one symbol's part) instead of rebuilding it: the same series."""
    rng = np.random.default_rng(count)
    window, capacity = 100, 256
    rets = _ring_fill(rng.normal(0, 0.01, size=(3, count)), capacity)
    sym = np.zeros((3, N_SYM))
    sym[:, S_QTY] = [2.0, -1.0, 0.0]
    sym[:, S_LAST_PX] = [100.0, 50.0, 10.0]
    shifted = np.zeros(window)
    rebuild_var_base_nb(rets, sym, count, window, shifted)
    sym[1, S_QTY] += 3.5  # a buy of 3.5 at 50 flips the short
    shift_var_base_nb(rets, shifted, count, window, 1, 3.5 * 50.0)
    rebuilt = np.zeros(window)
    n = rebuild_var_base_nb(rets, sym, count, window, rebuilt)
    np.testing.assert_allclose(shifted[:n], rebuilt[:n], rtol=1e-12, atol=1e-12)
