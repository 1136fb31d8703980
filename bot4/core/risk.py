"""Pre-trade risk: sizing and every check with its reason code (the correlation and VaR views: riskviews.py).

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

from bot4.core.jit import helper, kernel, routine
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
from bot4.core.riskviews import correlation_extremes_nb, envelope_min_nb, rebuild_var_base_nb, var_with_nb
from bot4.core.state import EngineState, RiskViews

LIMIT_TOLERANCE = 1e-9  # relative slack so that a value exactly at a limit is inside it despite rounding


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


@helper
def refuse_nb(core: np.ndarray, reason: int, value: float, limit: float) -> int:
    """Return ``reason``, leaving the figure that failed and its limit in the core row for the reject record."""
    core[0].refusal_value = value
    core[0].refusal_limit = limit
    return reason


@routine
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

    A refusal with figures (``records.REASON_FIGURES``) leaves them in ``core[0].refusal_value`` / ``refusal_limit``
    (NaN otherwise), so the reject record can say "risk 2.31 % of equity > 2.00 %"; the accepting path writes nothing.

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
        return refuse_nb(core, REASON_UNKNOWN_SYMBOL, np.nan, np.nan)
    reduces = order_reduces_nb(sym, s, side, size)
    protective = (flags & (FLAG_STOP_EXIT | FLAG_KILL)) != 0
    state = core[0].trading_state
    if state == STATE_HALTED and not (protective and reduces):
        return refuse_nb(core, REASON_HALTED, np.nan, np.nan)
    if state == STATE_REDUCING and not reduces:
        return refuse_nb(core, REASON_REDUCING, np.nan, np.nan)
    if (flags & FLAG_REDUCE_ONLY) != 0 and not reduces:
        return refuse_nb(core, REASON_REDUCE_ONLY, np.nan, np.nan)
    if not (size > 0.0) or math.isinf(size):
        return refuse_nb(core, REASON_BAD_SIZE, size, np.nan)
    last = sym[s].last_px
    if not (last > 0.0):
        return refuse_nb(core, REASON_NO_MARKET_PRICE, np.nan, np.nan)
    if not (price > 0.0) or math.isinf(price):
        return refuse_nb(core, REASON_BAD_PRICE, price, np.nan)
    if abs(price - last) > params[0].price_band * last * (1.0 + LIMIT_TOLERANCE):
        return refuse_nb(core, REASON_PRICE_BAND, abs(price - last) / last, params[0].price_band)
    venue = sym[s].venue
    if brk[venue].state == BREAKER_OPEN:
        return refuse_nb(core, REASON_VENUE_BREAKER, np.nan, np.nan)
    if not reduces:
        if core[0].paused != 0 and (flags & FLAG_MANUAL) == 0:
            return refuse_nb(core, REASON_PAUSED, np.nan, np.nan)
        if core[0].clock_ns < core[0].entry_cooldown_until:
            left_s = (core[0].entry_cooldown_until - core[0].clock_ns) / 1e9
            return refuse_nb(core, REASON_COOLDOWN, left_s, np.nan)
        n_venues = venue_tokens.shape[0]
        if brk[n_venues + venue].state == BREAKER_OPEN:
            return refuse_nb(core, REASON_FEED_STALE, np.nan, np.nan)
        if not (stop > 0.0):
            return refuse_nb(core, REASON_STOP_MISSING, np.nan, np.nan)
        if side * (price - stop) <= 0.0:
            return refuse_nb(core, REASON_STOP_WRONG_SIDE, stop, price)
        equity = acct[0].equity
        if abs(price - stop) * size > params[0].max_risk_frac * equity * (1.0 + LIMIT_TOLERANCE):
            return refuse_nb(core, REASON_RISK_PER_TRADE, abs(price - stop) * size / equity, params[0].max_risk_frac)
        notional = price * size
        if notional > params[0].max_notional * (1.0 + LIMIT_TOLERANCE):
            return refuse_nb(core, REASON_MAX_NOTIONAL, notional, params[0].max_notional)
        eff = effective_position_nb(sym, s)
        new_exposure = abs(eff + side * size) * price
        if new_exposure > sym[s].max_exposure * (1.0 + LIMIT_TOLERANCE):
            return refuse_nb(core, REASON_SYMBOL_EXPOSURE, new_exposure, sym[s].max_exposure)
        gross = acct[0].gross - abs(sym[s].qty) * last + new_exposure
        if gross > params[0].max_gross * (1.0 + LIMIT_TOLERANCE):
            return refuse_nb(core, REASON_GROSS_EXPOSURE, gross, params[0].max_gross)
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
                return refuse_nb(core, REASON_CORRELATION, risk_aux[s].corr_hi, params[0].max_corr)
        elif -risk_aux[s].corr_lo >= params[0].max_corr:
            return refuse_nb(core, REASON_CORRELATION, -risk_aux[s].corr_lo, params[0].max_corr)
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
                return refuse_nb(core, REASON_VAR, var, params[0].max_var_frac * equity)
    if not protective and not take_token_nb(venue_tokens, params, venue, core[0].clock_ns):
        return refuse_nb(core, REASON_ORDER_RATE, np.nan, np.nan)
    return REASON_OK


@helper
def check_order_nb(st: EngineState, s: int, side: int, price: float, size: float, stop: float, flags: int) -> int:
    """:func:`risk_check_nb` on the engine's state, positions taken as set by hand (views rebuilt first)."""
    st.core[0].var_dirty = 1
    return risk_check_nb(st.sym, st.core, st.acct, st.params, st.brk, st.risk, s, side, price, size, stop, flags)


@routine
def other_failures_nb(
    sym: np.ndarray,
    core: np.ndarray,
    acct: np.ndarray,
    params: np.ndarray,
    s: int,
    side: int,
    price: float,
    size: float,
    stop: float,
    flags: int,
    first: int,
) -> int:
    """A refused entry's other failing checks, as bits ``1 << REASON_*`` (``first``, the reason it was refused for,
    left out): the entry blocks (pause, loss-streak cool-down), its stop, and the limits its size is held to (risk per
    trade, notional, symbol and gross exposure, price band), so the trader sees every one at once, not one per try.

    Run only when an order is refused (out of line, off the accepting path); an order that only reduces, or one with
    no valid size or price, has nothing more to say (0). Correlation and VaR are not judged again here."""
    if s < 0 or s >= sym.shape[0] or not (size > 0.0) or not (price > 0.0) or math.isinf(size + price):
        return 0
    if order_reduces_nb(sym, s, side, size):
        return 0
    last = sym[s].last_px
    tol = 1.0 + LIMIT_TOLERANCE
    mask = 0
    if core[0].paused != 0 and (flags & FLAG_MANUAL) == 0:
        mask |= 1 << REASON_PAUSED
    if core[0].clock_ns < core[0].entry_cooldown_until:
        mask |= 1 << REASON_COOLDOWN
    if last > 0.0 and abs(price - last) > params[0].price_band * last * tol:
        mask |= 1 << REASON_PRICE_BAND
    if not (stop > 0.0):
        mask |= 1 << REASON_STOP_MISSING
    elif side * (price - stop) <= 0.0:
        mask |= 1 << REASON_STOP_WRONG_SIDE
    elif abs(price - stop) * size > params[0].max_risk_frac * acct[0].equity * tol:
        mask |= 1 << REASON_RISK_PER_TRADE
    if price * size > params[0].max_notional * tol:
        mask |= 1 << REASON_MAX_NOTIONAL
    new_exposure = abs(effective_position_nb(sym, s) + side * size) * price
    if new_exposure > sym[s].max_exposure * tol:
        mask |= 1 << REASON_SYMBOL_EXPOSURE
    if last > 0.0 and acct[0].gross - abs(sym[s].qty) * last + new_exposure > params[0].max_gross * tol:
        mask |= 1 << REASON_GROSS_EXPOSURE
    return mask & ~(1 << first) if 0 <= first < 63 else mask
