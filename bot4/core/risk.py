"""Pre-trade risk: sizing, every check with its reason code, and the correlation / VaR kernels behind two of them.

``risk_check_nb`` looks at the trading state first, then the order's own sanity, then the limits, and returns the
first reason that refuses the order (``REASON_OK`` when it passes). Orders that only reduce exposure (exits, stop
and kill exits) skip the entry rules (stop, risk per trade, exposure, correlation, VaR) but never the state, sanity,
band and venue checks; protective exits (a crossed stop, the kill switch) are also exempt from the order-rate
bucket and pass in HALTED, so an open position is never left without its stop.

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

from bot4.core.jit import helper, kernel
from bot4.core.records import (
    BREAKER_OPEN,
    FLAG_KILL,
    FLAG_MANUAL,
    FLAG_REDUCE_ONLY,
    FLAG_STOP_EXIT,
    REASON_BAD_PRICE,
    REASON_BAD_SIZE,
    REASON_COOLDOWN,
    REASON_CORRELATION,
    REASON_FEED_STALE,
    REASON_GROSS_EXPOSURE,
    REASON_HALTED,
    REASON_MAX_NOTIONAL,
    REASON_NO_MARKET_PRICE,
    REASON_OK,
    REASON_ORDER_RATE,
    REASON_PAUSED,
    REASON_PRICE_BAND,
    REASON_REDUCE_ONLY,
    REASON_REDUCING,
    REASON_RISK_PER_TRADE,
    REASON_STOP_MISSING,
    REASON_STOP_WRONG_SIDE,
    REASON_SYMBOL_EXPOSURE,
    REASON_UNKNOWN_SYMBOL,
    REASON_VAR,
    REASON_VENUE_BREAKER,
    STATE_HALTED,
    STATE_REDUCING,
)
from bot4.core.state import EngineState, RiskViews

LIMIT_TOLERANCE = 1e-9  # relative slack so that a value exactly at a limit is inside it despite rounding
ENV_BLOCK = 8  # breakpoints per block of the VaR envelope's two-level index (one cache line of float64)


@kernel
def effective_position_nb(sym: np.ndarray, s: int) -> float:
    """Position including working orders: what it will be if every open order fills."""
    return sym[s].qty + sym[s].pending_buy - sym[s].pending_sell


@kernel
def order_reduces_nb(sym: np.ndarray, s: int, side: int, size: float) -> bool:
    """True when the order only shrinks the position (never flips it), working orders included."""
    eff = effective_position_nb(sym, s)
    return eff * side < 0.0 and size <= abs(eff) * (1.0 + LIMIT_TOLERANCE)


@kernel
def size_for_signal_nb(st: EngineState, s: int, side: int, entry: float, stop: float) -> float:
    """(risk fraction x equity) / |entry - stop|, clipped by the notional and exposure limits, floored to the step.

    Returns 0 when the result is under the instrument's minimum size (the signal is then dropped).
    """
    dist = abs(entry - stop)
    if not (dist > 0.0) or not (entry > 0.0):
        return 0.0
    equity = st.acct[0].equity
    size = st.params[0].risk_frac * equity / dist
    cap = st.params[0].max_notional / entry
    if size > cap:
        size = cap
    eff = effective_position_nb(st.sym, s)
    room_symbol = st.sym[s].max_exposure / entry - abs(eff)
    if eff * side < 0.0:
        room_symbol = st.sym[s].max_exposure / entry  # a flip: the exit in flight brings it to zero first
    if size > room_symbol:
        size = room_symbol
    room_gross = (st.params[0].max_gross - st.acct[0].gross) / entry
    if size > room_gross:
        size = room_gross
    step = st.sym[s].size_step
    size = math.floor(size / step + 1e-9) * step
    if size < st.sym[s].min_size or size <= 0.0:
        return 0.0
    return size


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


@kernel
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


@helper
def take_token_nb(venue_tokens: np.ndarray, params: np.ndarray, venue: int, now_mkt: int) -> bool:
    """Order-rate token bucket of ``venue`` on the market clock."""
    tokens = venue_tokens[venue].tokens
    last = venue_tokens[venue].refill_ns
    if now_mkt > last:
        tokens += (now_mkt - last) * params[0].rate_per_ns
        if tokens > params[0].burst:
            tokens = params[0].burst
        venue_tokens[venue].refill_ns = now_mkt
    if tokens < 1.0:
        venue_tokens[venue].tokens = tokens
        return False
    venue_tokens[venue].tokens = tokens - 1.0
    return True


@kernel
def risk_check_nb(
    sym: np.ndarray,
    core: np.ndarray,
    acct: np.ndarray,
    params: np.ndarray,
    brk: np.ndarray,
    risk: RiskViews,
    s: int,
    side: int,
    price: float,
    size: float,
    stop: float,
    flags: int,
) -> int:
    """Every pre-trade check for one order; the first failing REASON_*, or REASON_OK.

    It takes the tables and the risk views it reads rather than the EngineState tuple: measured in a tight loop, the
    same checks reading ``st.<field>`` inside an inlined helper cost 1.0-1.3 us per entry order, with the arrays
    0.18-0.19 us (numba handles the whole state tuple as one aggregate value, and every field access paid for it).
    The correlation and VaR rules read per-symbol views kept current off the order path
    (``refresh_risk_views_nb``): an O(1) comparison and a branch-free count over the envelope's breakpoints instead of
    loops over the positions and the window; when an envelope is not built (a fill since the last refresh, VaR at
    k > 1) the window is scanned as before.
    """
    corr, rets, var_base, var_scratch = risk.corr, risk.rets, risk.var_base, risk.var_scratch
    risk_aux, var_env, venue_tokens = risk.aux, risk.var_env, risk.tokens
    n_sym = sym.shape[0]
    if s < 0 or s >= n_sym:
        return REASON_UNKNOWN_SYMBOL
    reduces = order_reduces_nb(sym, s, side, size)
    protective = (flags & (FLAG_STOP_EXIT | FLAG_KILL)) != 0
    state = core[0].trading_state
    if state == STATE_HALTED and not (protective and reduces):
        return REASON_HALTED
    if state == STATE_REDUCING and not reduces:
        return REASON_REDUCING
    if (flags & FLAG_REDUCE_ONLY) != 0 and not reduces:
        return REASON_REDUCE_ONLY
    if not (size > 0.0) or math.isinf(size):
        return REASON_BAD_SIZE
    last = sym[s].last_px
    if not (last > 0.0):
        return REASON_NO_MARKET_PRICE
    if not (price > 0.0) or math.isinf(price):
        return REASON_BAD_PRICE
    if abs(price - last) > params[0].price_band * last * (1.0 + LIMIT_TOLERANCE):
        return REASON_PRICE_BAND
    venue = sym[s].venue
    if brk[venue].state == BREAKER_OPEN:
        return REASON_VENUE_BREAKER
    if not reduces:
        if core[0].paused != 0 and (flags & FLAG_MANUAL) == 0:
            return REASON_PAUSED
        if core[0].clock_ns < core[0].entry_cooldown_until:
            return REASON_COOLDOWN
        n_venues = venue_tokens.shape[0]
        if brk[n_venues + venue].state == BREAKER_OPEN:
            return REASON_FEED_STALE
        if not (stop > 0.0):
            return REASON_STOP_MISSING
        if side * (price - stop) <= 0.0:
            return REASON_STOP_WRONG_SIDE
        equity = acct[0].equity
        if abs(price - stop) * size > params[0].max_risk_frac * equity * (1.0 + LIMIT_TOLERANCE):
            return REASON_RISK_PER_TRADE
        notional = price * size
        if notional > params[0].max_notional * (1.0 + LIMIT_TOLERANCE):
            return REASON_MAX_NOTIONAL
        eff = effective_position_nb(sym, s)
        new_exposure = abs(eff + side * size) * price
        if new_exposure > sym[s].max_exposure * (1.0 + LIMIT_TOLERANCE):
            return REASON_SYMBOL_EXPOSURE
        gross = acct[0].gross - abs(sym[s].qty) * last + new_exposure
        if gross > params[0].max_gross * (1.0 + LIMIT_TOLERANCE):
            return REASON_GROSS_EXPOSURE
        count = core[0].ret_count
        window = params[0].var_window
        if core[0].var_dirty != 0:  # positions were set from outside the fill path (journal restore, tests)
            rebuild_var_base_nb(rets, sym, count, window, var_base)
            correlation_extremes_nb(sym, corr, risk_aux)
            for j in range(n_sym):
                risk_aux[j].env_lines = 0
            core[0].var_dirty = 0
            core[0].env_stale = 1
        if eff + side * size > 0.0:
            if risk_aux[s].corr_hi >= params[0].max_corr:
                return REASON_CORRELATION
        elif -risk_aux[s].corr_lo >= params[0].max_corr:
            return REASON_CORRELATION
        if count >= params[0].corr_min:
            n = count if count < window else window
            delta = side * size * price
            lines = risk_aux[s].env_lines
            k = params[0].var_k
            if lines > 0 and k == 1:
                worst = envelope_min_nb(var_env, s, lines, delta)
                var = -worst if worst < 0.0 else 0.0
            else:
                var = var_with_nb(rets, var_base, var_scratch, n, count, k, s, delta)
            if var > params[0].max_var_frac * equity * (1.0 + LIMIT_TOLERANCE):
                return REASON_VAR
    if not protective and not take_token_nb(venue_tokens, params, venue, core[0].clock_ns):
        return REASON_ORDER_RATE
    return REASON_OK


@helper
def check_order_nb(st: EngineState, s: int, side: int, price: float, size: float, stop: float, flags: int) -> int:
    """:func:`risk_check_nb` on the engine's state, positions taken as set by hand (views rebuilt first)."""
    st.core[0].var_dirty = 1
    return risk_check_nb(st.sym, st.core, st.acct, st.params, st.brk, st.risk, s, side, price, size, stop, flags)
