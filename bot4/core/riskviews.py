"""The views the correlation and VaR rules read: return samples, correlation, historical VaR, and their O(1) forms.

Correlation: the Pearson correlation of per-interval log returns (sampled on the market clock) over the last
``correlation_window`` samples, refreshed at each sample. A new position is refused when, for any open position,
corr * side_new * side_open >= max_correlation: adding to the same bet through a correlated market is refused,
a hedge is not. With fewer than ``correlation_min_samples`` samples the check cannot judge and admits.

VaR: historical, over the last ``var_window`` samples: the portfolio's PnL per sample is sum(position value *
return); the VaR is minus its k-th worst value, k = floor((1 - confidence) * window) (at least 1).

What the check reads for these two rules is kept current off the order path (``refresh_risk_views_nb`` at each
sample, the correlation extremes at each fill, the VaR envelopes at the next dry run after a fill): one comparison for
correlation, a count over an envelope's breakpoints for VaR, instead of loops over the positions and the window.
"""

from __future__ import annotations

import math

import numpy as np

from bot4.core.jit import helper, kernel, routine
from bot4.core.state import RiskViews

ENV_BLOCK = 8  # breakpoints per block of the VaR envelope's two-level index (one cache line of float64)


@helper
def window_start_nb(count: int, window: int, cap: int) -> tuple[int, int]:
    """(samples in the window, ring column of its oldest sample) after ``count`` samples into a ring of ``cap``."""
    n = count if count < window else window
    return n, (count - n) % cap


@helper
def window_age_nb(col: int, col0: int, cap: int) -> int:
    """Position of ring column ``col`` in the window that starts at column ``col0`` (0 = oldest)."""
    t = col - col0
    return t + cap if t < 0 else t


@kernel
def rebuild_var_base_nb(rets: np.ndarray, sym: np.ndarray, count: int, window: int, var_base: np.ndarray) -> int:
    """var_base[t] = sum over symbols of position value * return, for the last min(count, window) samples."""
    cap = rets.shape[1]
    n, col = window_start_nb(count, window, cap)
    for t in range(n):
        total = 0.0
        for j in range(sym.shape[0]):
            q = sym[j].qty
            if q != 0.0:
                px = sym[j].last_px
                if px == px:
                    total += q * px * rets[j, col]
        var_base[t] = total
        col += 1
        if col == cap:
            col = 0
    return n


@helper
def shift_var_base_nb(
    rets: np.ndarray, var_base: np.ndarray, count: int, window: int, s: int, delta_value: float
) -> None:
    """One symbol's position value changed by ``delta_value``: var_base[t] += delta_value * its return at t.

    O(window) for the one symbol, where a rebuild is O(window x symbols) with a modulo per step: a fill keeps the
    VaR base current without the rebuild that once set the risk check's p99.
    """
    cap = rets.shape[1]
    n, col = window_start_nb(count, window, cap)
    first = cap - col
    if first > n:
        first = n
    for u in range(first):
        var_base[u] += delta_value * rets[s, col + u]
    for u in range(n - first):
        var_base[first + u] += delta_value * rets[s, u]


@routine
def var_with_nb(
    rets: np.ndarray, var_base: np.ndarray, scratch: np.ndarray, n: int, count: int, k: int, s: int, delta_value: float
) -> float:
    """VaR (a positive loss, quote units) of the portfolio plus ``delta_value`` of symbol ``s``."""
    cap = rets.shape[1]
    col = (count - n) % cap
    if k == 1:
        # the common case (99 % over up to 199 samples): the worst outcome, as two straight loops over the ring
        first = cap - col
        if first > n:
            first = n
        worst = np.inf
        for u in range(first):
            pnl = var_base[u] + delta_value * rets[s, col + u]
            worst = pnl if pnl < worst else worst
        for u in range(n - first):
            pnl = var_base[first + u] + delta_value * rets[s, u]
            worst = pnl if pnl < worst else worst
        return -worst if worst < 0.0 else 0.0
    filled = 0
    for t in range(n):
        pnl = var_base[t] + delta_value * rets[s, col]
        col += 1
        if col == cap:
            col = 0
        # keep the k smallest outcomes, sorted ascending, in scratch[:k]
        if filled < k:
            j = filled
            filled += 1
        elif pnl < scratch[k - 1]:
            j = k - 1
        else:
            continue
        while j > 0 and scratch[j - 1] > pnl:
            scratch[j] = scratch[j - 1]
            j -= 1
        scratch[j] = pnl
    if filled < k:
        return 0.0
    loss = -scratch[k - 1]
    return loss if loss > 0.0 else 0.0


@kernel
def correlation_matrix_nb(rets: np.ndarray, count: int, window: int, min_samples: int, out: np.ndarray) -> int:
    """Pearson correlation of every symbol pair over the last min(count, window) samples into ``out``.

    Pairs with too few samples or a flat series get NaN. Returns the number of samples used.
    """
    n_sym = rets.shape[0]
    cap = rets.shape[1]
    n = count if count < window else window
    if n < min_samples:
        for i in range(n_sym):
            for j in range(n_sym):
                out[i, j] = np.nan
        return n
    first = count - n
    for i in range(n_sym):
        mi = 0.0
        for t in range(n):
            mi += rets[i, (first + t) % cap]
        mi /= n
        for j in range(i, n_sym):
            mj = 0.0
            for t in range(n):
                mj += rets[j, (first + t) % cap]
            mj /= n
            sxy = 0.0
            sxx = 0.0
            syy = 0.0
            for t in range(n):
                x = rets[i, (first + t) % cap] - mi
                y = rets[j, (first + t) % cap] - mj
                sxy += x * y
                sxx += x * x
                syy += y * y
            if sxx > 0.0 and syy > 0.0:
                c = sxy / math.sqrt(sxx * syy)
                if c > 1.0:
                    c = 1.0
                elif c < -1.0:
                    c = -1.0
            else:
                c = np.nan
            out[i, j] = c
            out[j, i] = c
    return n


@kernel
def correlation_extremes_nb(sym: np.ndarray, corr: np.ndarray, risk_aux: np.ndarray) -> None:
    """Per symbol, the extremes of corr[s, j] * sign(position j) over the open positions j != s.

    The correlation rule refuses a new position in direction d when some open position has corr * d * sign >=
    max_correlation, i.e. when d = +1 and the maximum reaches it, or d = -1 and minus the minimum does: the same
    comparison as a loop over the positions, read in O(1). Refreshed whenever the correlation matrix or the set of
    open positions (and their signs) changes.
    """
    n_sym = sym.shape[0]
    for s in range(n_sym):
        hi = -np.inf
        lo = np.inf
        for j in range(n_sym):
            q = sym[j].qty
            if j != s and q != 0.0:
                c = corr[s, j]
                if c == c:
                    v = c if q > 0.0 else -c
                    hi = v if v > hi else hi
                    lo = v if v < lo else lo
        risk_aux[s].corr_hi = hi
        risk_aux[s].corr_lo = lo


@kernel
def sort_var_order_nb(rets: np.ndarray, count: int, window: int, var_order: np.ndarray, risk_aux: np.ndarray) -> None:
    """Keep var_order[s] = the window's ring columns sorted by symbol s's return, largest first.

    After one new sample the previous order minus the column that left is still sorted, so the new column is
    inserted in O(window); otherwise (first samples, a restart) the window is sorted from scratch.
    """
    cap = rets.shape[1]
    n, col0 = window_start_nb(count, window, cap)
    new_col = (count - 1) % cap
    for s in range(rets.shape[0]):
        prev = risk_aux[s].order_len
        kept = 0
        for idx in range(prev):
            c = var_order[s, idx]
            if window_age_nb(c, col0, cap) < n and c != new_col:
                var_order[s, kept] = c
                kept += 1
        if kept + 1 == n:
            var_order[s, kept] = new_col
            start = kept
        else:
            for t in range(n):
                c = col0 + t
                var_order[s, t] = c - cap if c >= cap else c
            start = 1
        for idx in range(start, n):  # insertion sort, descending by return
            c = var_order[s, idx]
            r = rets[s, c]
            j = idx
            while j > 0 and rets[s, var_order[s, j - 1]] < r:
                var_order[s, j] = var_order[s, j - 1]
                j -= 1
            var_order[s, j] = c
        risk_aux[s].order_len = n


@kernel
def build_var_envelopes_nb(
    rets: np.ndarray,
    var_base: np.ndarray,
    count: int,
    window: int,
    var_order: np.ndarray,
    risk_aux: np.ndarray,
    var_env: np.ndarray,
) -> None:
    """For every symbol, the lower envelope of the lines y_t(d) = var_base[t] + d * return_t over the VaR window.

    min_t y_t(d) is the worst window outcome after adding ``d`` of that symbol (the VaR rule at k = 1); as a
    function of d it is the lower envelope of these lines, a concave polyline. Built from var_order (slopes
    descending) in O(window) per symbol. var_env[s, 0, i] is the breakpoint between lines i and i + 1 (ascending),
    var_env[s, 1, i] and var_env[s, 2, i] line i's intercept and slope, var_env[s, 3, k] = var_env[s, 0, k * ENV_BLOCK]
    (the index the search starts from).
    """
    cap = rets.shape[1]
    n, col0 = window_start_nb(count, window, cap)
    for s in range(rets.shape[0]):
        if risk_aux[s].order_len != n:
            risk_aux[s].env_lines = 0
            continue
        h = 0
        for idx in range(n):
            c = var_order[s, idx]
            r = rets[s, c]
            b = var_base[window_age_nb(c, col0, cap)]
            if not (r == r and b == b):
                continue
            if h > 0 and var_env[s, 2, h - 1] == r:
                if var_env[s, 1, h - 1] <= b:
                    continue  # same slope, not lower: never the minimum
                h -= 1
            while h >= 2:
                b1 = var_env[s, 1, h - 2]
                r1 = var_env[s, 2, h - 2]
                b2 = var_env[s, 1, h - 1]
                r2 = var_env[s, 2, h - 1]
                # line h-1 is never the minimum when the new line crosses below line h-2 no later than it does
                if (b - b1) * (r1 - r2) <= (b2 - b1) * (r1 - r):
                    h -= 1
                else:
                    break
            var_env[s, 1, h] = b
            var_env[s, 2, h] = r
            h += 1
        for i in range(h - 1):
            var_env[s, 0, i] = (var_env[s, 1, i + 1] - var_env[s, 1, i]) / (var_env[s, 2, i] - var_env[s, 2, i + 1])
            if i % ENV_BLOCK == 0:
                var_env[s, 3, i // ENV_BLOCK] = var_env[s, 0, i]
        risk_aux[s].env_lines = h


@helper
def envelope_min_nb(var_env: np.ndarray, s: int, lines: int, d: float) -> float:
    """min over the window of var_base[t] + d * return_t, from symbol s's envelope.

    The line in force at ``d`` is the number of breakpoints below ``d`` (they ascend). It is counted on two levels
    without branches: first over every ENV_BLOCK-th breakpoint (row 3: 13 values, two cache lines, for a
    100-sample window), then inside the one block that holds the answer (one line). About five cache lines in all, with
    independent loads; a binary search chains seven dependent ones, a full count reads thirteen lines. Its
    neighbours are evaluated too, so a breakpoint rounded one way or the other cannot pick a line above the true
    minimum.
    """
    n_bp = lines - 1
    n_coarse = (n_bp + ENV_BLOCK - 1) // ENV_BLOCK
    c = 0
    for k in range(n_coarse):
        c += var_env[s, 3, k] < d
    i = 0
    if c > 0:
        first = (c - 1) * ENV_BLOCK + 1
        last = first + ENV_BLOCK - 1
        if last > n_bp:
            last = n_bp
        i = first
        for j in range(first, last):
            i += var_env[s, 0, j] < d
    best = var_env[s, 1, i] + d * var_env[s, 2, i]
    if i > 0:
        v = var_env[s, 1, i - 1] + d * var_env[s, 2, i - 1]
        best = v if v < best else best
    if i + 1 < lines:
        v = var_env[s, 1, i + 1] + d * var_env[s, 2, i + 1]
        best = v if v < best else best
    return best


@helper
def refresh_risk_views_nb(sym: np.ndarray, core: np.ndarray, params: np.ndarray, risk: RiskViews, resort: bool) -> None:
    """Rebuild what the risk check reads instead of looping: correlation extremes and VaR envelopes.

    ``resort`` after a new return sample (the window moved); a position change keeps the sort and only rebuilds the
    envelopes (their intercepts, the VaR base, moved).
    """
    correlation_extremes_nb(sym, risk.corr, risk.aux)
    count = core[0].ret_count
    window = params[0].var_window
    if resort:
        sort_var_order_nb(risk.rets, count, window, risk.var_order, risk.aux)
    build_var_envelopes_nb(risk.rets, risk.var_base, count, window, risk.var_order, risk.aux, risk.var_env)
