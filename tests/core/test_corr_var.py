"""Correlation and VaR kernels against numpy on the same windows (including ring wrap-around)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot4.core.riskviews import (
    build_var_envelopes_nb,
    correlation_extremes_nb,
    correlation_matrix_nb,
    envelope_min_nb,
    rebuild_var_base_nb,
    shift_var_base_nb,
    sort_var_order_nb,
    var_with_nb,
)
from bot4.core.state import RISK_AUX_DTYPE, SYMBOL_DTYPE


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
    sym = np.zeros(3, SYMBOL_DTYPE)
    sym["qty"] = [2.0, -1.0, 0.0]
    sym["last_px"] = [100.0, 50.0, 10.0]
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
    sym = np.zeros(3, SYMBOL_DTYPE)
    sym["qty"] = [2.0, -1.0, 0.0]
    sym["last_px"] = [100.0, 50.0, 10.0]
    shifted = np.zeros(window)
    rebuild_var_base_nb(rets, sym, count, window, shifted)
    sym["qty"][1] += 3.5  # a buy of 3.5 at 50 flips the short
    shift_var_base_nb(rets, shifted, count, window, 1, 3.5 * 50.0)
    rebuilt = np.zeros(window)
    n = rebuild_var_base_nb(rets, sym, count, window, rebuilt)
    np.testing.assert_allclose(shifted[:n], rebuilt[:n], rtol=1e-12, atol=1e-12)


# --- the views the risk check reads instead of looping ----------------------------------------------------------------


def _views(n_sym: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(n_sym, RISK_AUX_DTYPE), np.zeros((n_sym, 4, window)), np.zeros((n_sym, window), np.int64)


def _loop_min(rets: np.ndarray, base: np.ndarray, count: int, window: int, s: int, d: float) -> float:
    """The window scan the envelope replaces, written out in Python: min_t base[t] + d * return_t."""
    cap = rets.shape[1]
    n = min(count, window)
    col0 = (count - n) % cap
    return min(base[t] + d * rets[s, (col0 + t) % cap] for t in range(n))


@pytest.mark.parametrize(("window", "capacity", "ties"), [(100, 100, False), (60, 100, False), (100, 100, True)])
def test_var_envelopes_give_the_window_minimum_sample_after_sample(window: int, capacity: int, ties: bool) -> None:
    """Samples arrive one by one (ring wrap-around included); after each, the envelope's minimum equals the scan's
    for order sizes on both sides, at and around every breakpoint; positions change between samples (fills)."""
    rng = np.random.default_rng(window + capacity + ties)
    n_sym, total = 4, 260
    series = rng.standard_t(3, size=(n_sym, total)) * 0.01
    if ties:
        series = np.round(series, 3)  # many equal returns: equal slopes in the envelope
    rets = np.zeros((n_sym, capacity))
    sym = np.zeros(n_sym, SYMBOL_DTYPE)
    sym["qty"] = [2.0, -1.0, 0.0, 0.5]
    sym["last_px"] = [100.0, 50.0, 10.0, 300.0]
    aux, env, order = _views(n_sym, window)
    base = np.zeros(window)
    checked = 0
    for t in range(total):
        rets[:, t % capacity] = series[:, t]
        count = t + 1
        if t % 7 == 3:
            sym["qty"][t % n_sym] += rng.normal(0, 2.0)
        rebuild_var_base_nb(rets, sym, count, window, base)
        sort_var_order_nb(rets, count, window, order, aux)
        build_var_envelopes_nb(rets, base, count, window, order, aux, env)
        n = min(count, window)
        for s in range(n_sym):
            cols = order[s, :n]
            assert sorted(cols.tolist()) == sorted(((count - n + np.arange(n)) % capacity).tolist())
            assert np.all(np.diff(rets[s, cols]) <= 0.0)  # sorted by return, largest first
            lines = int(aux["env_lines"][s])
            assert 1 <= lines <= n
            probes = [0.0, 1e-3, -1e-3, 1e6, -1e6, *rng.normal(0, 3e3, 6)]
            probes += [float(x) for x in env[s, 0, : lines - 1]]  # exactly on the breakpoints
            for d in probes:
                got = envelope_min_nb(env, s, lines, d)
                assert got == pytest.approx(_loop_min(rets, base, count, window, s, d), rel=1e-12, abs=1e-12)
                checked += 1
    assert checked > 10_000


def test_correlation_extremes_match_the_rule_over_open_positions() -> None:
    rng = np.random.default_rng(11)
    n_sym = 6
    corr = rng.uniform(-1, 1, size=(n_sym, n_sym))
    corr = (corr + corr.T) / 2
    corr[2, 4] = corr[4, 2] = np.nan  # unknown pair: never refuses
    sym = np.zeros(n_sym, SYMBOL_DTYPE)
    sym["qty"] = [1.0, -2.0, 0.0, 3.0, -0.5, 0.0]
    aux, _env, _order = _views(n_sym, 8)
    correlation_extremes_nb(sym, corr, aux)
    for s in range(n_sym):
        vals = [
            corr[s, j] * math.copysign(1.0, sym["qty"][j])
            for j in range(n_sym)
            if j != s and sym["qty"][j] != 0.0 and not math.isnan(corr[s, j])
        ]
        assert aux["corr_hi"][s] == (max(vals) if vals else -math.inf)
        assert aux["corr_lo"][s] == (min(vals) if vals else math.inf)
    sym["qty"] = 0.0
    correlation_extremes_nb(sym, corr, aux)
    assert (aux["corr_hi"] == -math.inf).all() and (aux["corr_lo"] == math.inf).all()
