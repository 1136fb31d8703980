"""Strategy kernels: one price in, at most one directional decision out.

Each strategy keeps its state in one row of ``strat_state`` (and, for windowed ones, of ``px_hist``) and reads its
typed parameters from a row of ``strat_params``. ``strategy_on_price_nb`` returns ``SIG_BUY``/``SIG_SELL`` (enter or
flip to that side), ``SIG_FLAT`` (close) or ``SIG_NONE``. A strategy only speaks when its view changes, so a steady
trend does not produce a stream of duplicate signals. Entry, stop-loss and take-profit prices are derived by
``signal_prices_nb`` from the same parameters: every signal carries a stop.

- EMA cross: fast and slow EMAs (alpha = 2 / (n + 1), seeded with the first price); after ``slow_period`` prices,
  the side is the sign of fast - slow (no side while they are equal), and a change of side is a signal.
- Breakout: a price above the highest (below the lowest) of the previous ``lookback`` prices.
- Z-score mean reversion: z of the price against the mean/std of the previous ``window`` prices; z <= -entry_z buys,
  z >= entry_z sells, |z| <= exit_z closes an open view.
"""

from __future__ import annotations

import math

import numpy as np

from bot4.core.jit import helper
from bot4.core.state import STRAT_BREAKOUT, STRAT_EMA_CROSS, STRAT_ZSCORE

SIG_NONE = 0
SIG_BUY = 1
SIG_SELL = -1
SIG_FLAT = 2


@helper
def ema_cross_nb(sp: np.ndarray, ss: np.ndarray, s: int, price: float) -> int:
    count = ss[s].count + 1
    ss[s].count = count
    if count == 1:
        ss[s].ema_fast = price
        ss[s].ema_slow = price
    else:
        af = 2.0 / (sp[s].fast + 1.0)
        aslow = 2.0 / (sp[s].slow + 1.0)
        ss[s].ema_fast += af * (price - ss[s].ema_fast)
        ss[s].ema_slow += aslow * (price - ss[s].ema_slow)
    if count < sp[s].slow:
        return SIG_NONE
    diff = ss[s].ema_fast - ss[s].ema_slow
    if diff == 0.0:
        return SIG_NONE  # the averages meet: no side, and the last view stands
    side = SIG_BUY if diff > 0.0 else SIG_SELL
    if side != ss[s].last_dir:
        ss[s].last_dir = side
        return side
    return SIG_NONE


@helper
def breakout_nb(sp: np.ndarray, ss: np.ndarray, hist: np.ndarray, s: int, price: float) -> int:
    n = sp[s].lookback
    count = ss[s].count
    pos = ss[s].hist_pos
    sig = SIG_NONE
    if count >= n:
        hi = -np.inf
        lo = np.inf
        for k in range(n):
            v = hist[s, k]
            if v > hi:
                hi = v
            if v < lo:
                lo = v
        side = SIG_NONE
        if price > hi:
            side = SIG_BUY
        elif price < lo:
            side = SIG_SELL
        if side != SIG_NONE and side != ss[s].last_dir:
            ss[s].last_dir = side
            sig = side
    hist[s, pos] = price
    ss[s].hist_pos = (pos + 1) % n
    ss[s].count = count + 1
    return sig


@helper
def zscore_nb(sp: np.ndarray, ss: np.ndarray, hist: np.ndarray, s: int, price: float) -> int:
    n = sp[s].window
    count = ss[s].count
    pos = ss[s].hist_pos
    sig = SIG_NONE
    if count >= n:
        mean = ss[s].sum / n
        var = ss[s].sumsq / n - mean * mean
        if var > 1e-18 * mean * mean:
            z = (price - mean) / math.sqrt(var)
            last = ss[s].last_dir
            side = SIG_NONE
            if z <= -sp[s].entry_z:
                side = SIG_BUY
            elif z >= sp[s].entry_z:
                side = SIG_SELL
            elif abs(z) <= sp[s].exit_z and last != 0:
                side = SIG_FLAT
            if side == SIG_FLAT:
                ss[s].last_dir = 0
                sig = SIG_FLAT
            elif side != SIG_NONE and side != last:
                ss[s].last_dir = side
                sig = side
        old = hist[s, pos]
        ss[s].sum += price - old
        ss[s].sumsq += price * price - old * old
    else:
        ss[s].sum += price
        ss[s].sumsq += price * price
    hist[s, pos] = price
    pos = (pos + 1) % n
    ss[s].hist_pos = pos
    ss[s].count = count + 1
    if pos == 0 and count >= n:
        # re-derive the running sums from the window once per lap so rounding never accumulates
        total = 0.0
        total_sq = 0.0
        for k in range(n):
            total += hist[s, k]
            total_sq += hist[s, k] * hist[s, k]
        ss[s].sum = total
        ss[s].sumsq = total_sq
    return sig


@helper
def strategy_on_price_nb(kind: int, sp: np.ndarray, ss: np.ndarray, hist: np.ndarray, s: int, price: float) -> int:
    """Feed one price to symbol ``s``'s strategy; a SIG_* code."""
    if kind == STRAT_EMA_CROSS:
        return ema_cross_nb(sp, ss, s, price)
    if kind == STRAT_BREAKOUT:
        return breakout_nb(sp, ss, hist, s, price)
    if kind == STRAT_ZSCORE:
        return zscore_nb(sp, ss, hist, s, price)
    return SIG_NONE


@helper
def stop_price_nb(sp: np.ndarray, s: int, side: int, entry: float) -> float:
    """The stop-loss for an entry on ``side`` at ``entry`` (below for buys, above for sells)."""
    return entry * (1.0 - side * sp[s].stop_frac)


@helper
def take_profit_price_nb(sp: np.ndarray, s: int, side: int, entry: float) -> float:
    """The take-profit for an entry, NaN when the strategy sets none."""
    frac = sp[s].tp_frac
    if frac <= 0.0:
        return np.nan
    return entry * (1.0 + side * frac)
