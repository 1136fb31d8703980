"""A user strategy's glue inside the step: call its handlers, then turn what they asked for into orders.

``build_glue`` returns the three hook implementations (``sdkstep.py``) for one registered strategy, as closures over
its compiled handlers: the handler set is fixed when the step compiles, so a missing handler costs nothing. After a
handler returns, ``apply_intents_nb`` acts on each intent through the same code as the built-in strategies' signals:
a market entry sets the symbol's stop (and take-profit) distance and goes through ``on_signal_nb`` (flip as exit then
entry, deferral behind working orders, sizing, pre-trade risk), an exit through ``want_flat_nb``. Limit entries,
targets and cancels use ``emit_order_nb`` / ``cancel_entries_nb``, the paths manual orders and stop exits take.
Refusals (from the checks or the venue) of its orders are queued by ``log_reject_nb`` (``Strategies.refused``) and
told to ``on_reject`` after the handler that caused them, or at the next event.

In debug mode the handlers run as plain Python: the glue calls one ``debug_*_nb`` trampoline per event, which
leaves the compiled code (numba's object mode) for :func:`debug_call`; an exception raised in a handler comes out of
the engine's step with its traceback at the user's line.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, objmode

from bot4.core.atomics import monotonic_ns
from bot4.core.book import best_nb, fill_view_nb
from bot4.core.histogram import hist_record_nb
from bot4.core.intents import (
    INTENT_CANCEL,
    INTENT_ENTER,
    INTENT_ENTER_LIMIT,
    INTENT_EXIT,
    INTENT_FLATTEN,
    INTENT_TARGET,
    Intents,
)
from bot4.core.jit import helper, routine
from bot4.core.orders import cancel_entries_nb, emit_order_nb, log_reject_nb, want_flat_nb
from bot4.core.records import (
    FLAG_REDUCE_ONLY,
    ORDER_LIMIT,
    ORDER_MARKET,
    REASON_BAD_PRICE,
    REASON_BAD_SIZE,
    REASON_POST_ONLY,
    REASON_SIZE_ZERO,
    REASON_STOP_MISSING,
    REASON_STOP_WRONG_SIDE,
    TICK_BAR,
    TICK_BBO,
    TICK_DEPTH,
    TICK_TRADE,
    TIF_IOC,
)
from bot4.core.risk import size_for_signal_nb
from bot4.core.sdkstep import MARKER_PREFIX, REGISTRY, Registered
from bot4.core.state import SDK_REFUSED_N, EngineState, UserArrays
from bot4.core.stats import C_SIGNALS, H_DECISION, counter_add_nb, hist_base_nb
from bot4.core.step import manual_held_nb, on_signal_nb
from bot4.core.strategy import SIG_FLAT

EV_TRADE, EV_BBO, EV_BAR, EV_FILL, EV_REJECT, EV_TIMER, EV_BOOK = 1, 2, 3, 4, 5, 6, 7
EVENT_HANDLERS = {
    EV_TRADE: "on_trade",
    EV_BBO: "on_bbo",
    EV_BAR: "on_bar",
    EV_FILL: "on_fill",
    EV_REJECT: "on_reject",
    EV_TIMER: "on_timer",
    EV_BOOK: "on_book",
}
debug_jit = njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]


@helper
def distance_frac_nb(side: int, ref: float, absolute: float, frac: float) -> float:
    """A stop or take-profit as a fraction of ``ref``: ``frac`` when given, else from the ``absolute`` price (a
    stop on the wrong side comes out <= 0); NaN when neither is given."""
    if frac == frac and frac != 0.0:
        return frac
    if absolute > 0.0 and not math.isinf(absolute) and ref > 0.0:
        return side * (ref - absolute) / ref
    return np.nan


@helper
def refuse_nb(st: EngineState, s: int, side: int, otype: int, price: float, reason: int, ts_in: int, now: int) -> None:
    log_reject_nb(st, s, side, otype, TIF_IOC, 0, price, np.nan, np.nan, 0.0, reason, ts_in, now, 0, 0, np.nan, np.nan)


@helper
def stop_for_nb(
    st: EngineState, s: int, side: int, otype: int, ref: float, stop: float, frac: float, ts_in: int, now: int
) -> float:
    """The stop distance (fraction of ``ref``) of an entry; NaN after refusing the entry (missing or wrong side)."""
    d = distance_frac_nb(side, ref, stop, frac)
    if d != d:
        refuse_nb(st, s, side, otype, ref, REASON_STOP_MISSING, ts_in, now)
        return np.nan
    if d <= 0.0:
        refuse_nb(st, s, side, otype, ref, REASON_STOP_WRONG_SIDE, ts_in, now)
        return np.nan
    return d


@helper
def tp_frac_nb(side: int, ref: float, tp: float, frac: float) -> float:
    d = distance_frac_nb(-side, ref, tp, np.nan) if frac != frac else frac  # a take-profit lies the other way
    return d if d > 0.0 else 0.0


@helper
def enter_market_nb(st: EngineState, s: int, it: Any, price: float, ts_in: int, now: int) -> None:
    side = it.side
    d = stop_for_nb(st, s, side, ORDER_MARKET, price, it.stop, it.stop_frac, ts_in, now)
    if d != d:
        return
    st.strat.params[s].stop_frac = d  # the signal path derives the stop from these, at the price it enters on
    st.strat.params[s].tp_frac = tp_frac_nb(side, price, it.tp, it.tp_frac)
    on_signal_nb(st, s, side, price, ts_in, now)


@helper
def enter_limit_nb(st: EngineState, s: int, it: Any, ts_in: int, now: int) -> None:
    side = it.side
    px = it.price
    row = st.sym[s]
    if not (px > 0.0) or math.isinf(px):
        refuse_nb(st, s, side, ORDER_LIMIT, px, REASON_BAD_PRICE, ts_in, now)
        return
    d = stop_for_nb(st, s, side, ORDER_LIMIT, px, it.stop, it.stop_frac, ts_in, now)
    if d != d:
        return
    if it.post_only != 0:
        far = row.ask if side > 0 else row.bid
        if not (far > 0.0):
            far = row.last_px
        if far > 0.0 and (px >= far if side > 0 else px <= far):
            refuse_nb(st, s, side, ORDER_LIMIT, px, REASON_POST_ONLY, ts_in, now)
            return
    stop = px * (1.0 - side * d)
    tpf = tp_frac_nb(side, px, it.tp, it.tp_frac)
    tp = px * (1.0 + side * tpf) if tpf > 0.0 else np.nan
    size = size_for_signal_nb(st, s, side, px, stop)
    if size <= 0.0:
        log_reject_nb(
            st, s, side, ORDER_LIMIT, it.tif, 0, px, stop, tp, 0.0, REASON_SIZE_ZERO, ts_in, now, 0, 0, np.nan, np.nan
        )
        return
    emit_order_nb(st, s, side, ORDER_LIMIT, it.tif, px, px, size, stop, tp, 0, ts_in)


@helper
def target_nb(st: EngineState, s: int, it: Any, price: float, ts_in: int, now: int) -> None:
    row = st.sym[s]
    if row.exit_pending != 0 or row.pending_buy > 0.0 or row.pending_sell > 0.0:
        return  # an order on the symbol is working: its outcome decides what is left to do
    q = row.qty
    want = it.qty
    step = row.size_step
    if abs(want - q) < 0.5 * step:
        return
    if q != 0.0 and (want == 0.0 or want * q < 0.0):
        want_flat_nb(st, s, 0, ts_in)  # a change of side: the exit first
        return
    if abs(want) < abs(q):
        side = -1 if q > 0.0 else 1
        size = math.floor((abs(q) - abs(want)) / step + 1e-9) * step
        if size > 0.0:
            emit_order_nb(
                st, s, side, ORDER_MARKET, TIF_IOC, np.nan, price, size, np.nan, np.nan, FLAG_REDUCE_ONLY, ts_in
            )
        return
    side = 1 if want > 0.0 else -1
    d = stop_for_nb(st, s, side, ORDER_MARKET, price, it.stop, it.stop_frac, ts_in, now)
    if d != d:
        return
    size = math.floor((abs(want) - abs(q)) / step + 1e-9) * step
    if size < row.min_size or size <= 0.0:
        log_reject_nb(
            st, s, side, ORDER_MARKET, TIF_IOC, 0, np.nan, np.nan, np.nan, size, REASON_SIZE_ZERO, ts_in, now, 0, 0,
            np.nan, np.nan,
        )
        return
    tpf = tp_frac_nb(side, price, it.tp, it.tp_frac)
    tp = price * (1.0 + side * tpf) if tpf > 0.0 else np.nan
    emit_order_nb(st, s, side, ORDER_MARKET, TIF_IOC, np.nan, price, size, price * (1.0 - side * d), tp, 0, ts_in)


@routine
def apply_intents_nb(st: EngineState, s: int, price: float, ts_in: int, now: int) -> None:
    """Act on every intent the last handler call left for symbol ``s`` (``price``: the reference for market ones)."""
    out = st.strat.intents
    n = out.n[0]
    out.n[0] = 0
    for i in range(n):
        it = out.buf[i]
        kind = it.kind
        counter_add_nb(st.stats, C_SIGNALS, 1)
        if kind != INTENT_CANCEL and manual_held_nb(st, s):
            continue  # a person's position: the strategy may cancel its own orders, not trade it
        if kind in (INTENT_ENTER, INTENT_ENTER_LIMIT) and it.side != 1 and it.side != -1:
            refuse_nb(st, s, it.side, ORDER_MARKET, price, REASON_BAD_SIZE, ts_in, now)  # a side is BUY or SELL
        elif kind == INTENT_ENTER:
            enter_market_nb(st, s, it, price, ts_in, now)
        elif kind == INTENT_ENTER_LIMIT:
            enter_limit_nb(st, s, it, ts_in, now)
        elif kind == INTENT_EXIT:
            on_signal_nb(st, s, SIG_FLAT, price, ts_in, now)
        elif kind == INTENT_FLATTEN:
            st.sym[s].deferred_sig = 0
            cancel_entries_nb(st, s, 1, now)
            cancel_entries_nb(st, s, -1, now)
            want_flat_nb(st, s, 0, ts_in)
        elif kind == INTENT_TARGET:
            target_nb(st, s, it, price, ts_in, now)
        elif kind == INTENT_CANCEL:
            if it.side >= 0:
                cancel_entries_nb(st, s, 1, now)
            if it.side <= 0:
                cancel_entries_nb(st, s, -1, now)


# --- debug mode: the handlers as plain Python -----------------------------------------------------------------------
def _registered_by_dtype(state: np.ndarray) -> Registered:
    for name in state.dtype.names or ():
        if name.startswith(MARKER_PREFIX) and name[len(MARKER_PREFIX) :] in REGISTRY:
            return REGISTRY[name[len(MARKER_PREFIX) :]]
    raise LookupError("no registered user strategy for this state array")


def debug_call(
    event: int,
    params: np.ndarray,
    state: np.ndarray,
    sym: np.ndarray,
    buf: np.ndarray,
    n: np.ndarray,
    book_top: np.ndarray,
    s: int,
    f0: float,
    f1: float,
    f2: float,
    f3: float,
    f4: float,
    i0: int,
    i1: int,
) -> None:
    """Run one handler as plain Python on the engine's own arrays (debug mode); its exceptions propagate."""
    reg = _registered_by_dtype(state)
    name = EVENT_HANDLERS[event]
    fn = reg.python[name]
    p = params.view(np.recarray)[s]
    st = state.view(np.recarray)[s]
    before = sym[s].tobytes()
    pos = sym.view(np.recarray)[s]
    out = Intents(buf, n)
    # the records' fields are numpy scalars, which divide by zero to inf; compiled, the handler raises: so here too
    with np.errstate(divide="raise"):
        try:
            if event == EV_TRADE:
                fn(p, st, pos, out, f0, f1, int(i0), int(i1))
            elif event == EV_BBO:
                fn(p, st, pos, out, f0, f1, f2, f3, int(i1))
            elif event == EV_BAR:
                fn(p, st, pos, out, f0, f1, f2, f3, f4, int(i1))
            elif event == EV_FILL:
                fn(p, st, pos, out, int(i0), f0, f1, int(i1))
            elif event == EV_BOOK:
                fn(p, st, pos, out, book_top[0], book_top[1], int(i1))
            elif event == EV_REJECT:
                fn(p, st, pos, out, int(i0), int(f0), int(i1))
            else:
                fn(p, st, pos, out, int(i1))
        except FloatingPointError as exc:
            raise ZeroDivisionError(str(exc)).with_traceback(exc.__traceback__) from None
    if sym[s].tobytes() != before:
        changed = [f for f in sym.dtype.names or () if np.frombuffer(before, sym.dtype)[0][f] != sym[s][f]]
        raise AttributeError(f"{reg.loaded.name}.{name} wrote the position row ({', '.join(changed)}): it is read only")


@debug_jit
def debug_event_nb(
    st: EngineState,
    user: UserArrays,
    event: int,
    s: int,
    f0: float,
    f1: float,
    f2: float,
    f3: float,
    f4: float,
    i0: int,
    i1: int,
) -> None:
    params, state, sym = user.params, user.state, st.sym
    buf, n = st.strat.intents.buf, st.strat.intents.n
    book_top = st.l2.top
    with objmode():
        debug_call(event, params, state, sym, buf, n, book_top, s, f0, f1, f2, f3, f4, i0, i1)


# --- the glue ------------------------------------------------------------------------------------------------------
def _noop(*args: Any) -> None:
    return None


def build_glue(reg: Registered) -> tuple[Any, Any, Any]:
    """The (tick, fill, after_exec) hook implementations for ``reg``: static calls of its handlers."""
    debug = reg.debug
    defined = set(reg.python if debug else reg.compiled)
    has_trade, has_bbo, has_bar = "on_trade" in defined, "on_bbo" in defined, "on_bar" in defined
    has_fill, has_reject, has_timer = "on_fill" in defined, "on_reject" in defined, "on_timer" in defined
    has_book = "on_book" in defined
    timer_ns = max(1, reg.loaded.timer_ns)
    noop = helper(_noop)
    c = reg.compiled
    on_trade = c.get("on_trade", noop)
    on_bbo = c.get("on_bbo", noop)
    on_bar = c.get("on_bar", noop)
    on_fill = c.get("on_fill", noop)
    on_reject = c.get("on_reject", noop)
    on_timer = c.get("on_timer", noop)
    on_book = c.get("on_book", noop)

    @helper
    def tell_rejects(st: EngineState, user: UserArrays, now: int) -> None:
        """Tell on_reject of each queued refusal (oldest first); refusals its own intents cause wait for the next."""
        ctl = st.strat.sdk_ctl
        n = ctl[SDK_REFUSED_N]
        for i in range(n):
            r = st.strat.refused[i]
            k = r.symbol_id
            side = r.side
            reason = r.reason
            st.strat.intents.n[0] = 0
            ts = st.core[0].clock_ns
            if debug:
                debug_event_nb(st, user, EV_REJECT, k, float(reason), 0.0, 0.0, 0.0, 0.0, side, ts)
            else:
                on_reject(
                    user.params[k], user.state[k], st.sym[k], st.strat.intents, side, reason, ts
                )
            apply_intents_nb(st, k, st.sym[k].last_px, 0, now)
        left = ctl[SDK_REFUSED_N] - n  # refused while on_reject ran: to the front, for the next event
        for j in range(left):
            st.strat.refused[j] = st.strat.refused[n + j]
        ctl[SDK_REFUSED_N] = left

    def tick(st, user, s, slot, price, t0):  # type: ignore[no-untyped-def]  # the hook's argument names, unannotated
        tk = st.rings.md.buf[slot]
        kind = tk.kind
        ts = tk.ts_exch_ns
        out = st.strat.intents
        if has_timer and ts >= user.state[s].sdk_next_timer_ns:
            user.state[s].sdk_next_timer_ns = ts - ts % timer_ns + timer_ns
            out.n[0] = 0
            if debug:
                debug_event_nb(st, user, EV_TIMER, s, 0.0, 0.0, 0.0, 0.0, 0.0, 0, ts)
            else:
                on_timer(user.params[s], user.state[s], st.sym[s], out, ts)
            apply_intents_nb(st, s, price, tk.ts_in_ns, t0)
        out.n[0] = 0
        called = False
        if kind == TICK_TRADE:
            if has_trade:
                called = True
                if debug:
                    debug_event_nb(st, user, EV_TRADE, s, price, tk.size, 0.0, 0.0, 0.0, tk.side, ts)
                else:
                    on_trade(
                        user.params[s],
                        user.state[s],
                        st.sym[s],
                        out,
                        price,
                        tk.size,
                        np.int64(tk.side),
                        ts,
                    )
        elif kind == TICK_BBO:
            if has_bbo:
                called = True
                if debug:
                    debug_event_nb(st, user, EV_BBO, s, tk.bid_px, tk.bid_sz, tk.ask_px, tk.ask_sz, 0.0, 0, ts)
                else:
                    on_bbo(
                        user.params[s],
                        user.state[s],
                        st.sym[s],
                        out,
                        tk.bid_px,
                        tk.bid_sz,
                        tk.ask_px,
                        tk.ask_sz,
                        ts,
                    )
        elif kind == TICK_DEPTH:  # the step calls this only after a whole book message
            if has_book:
                called = True
                book = st.l2
                fill_view_nb(book, s)
                if debug:
                    debug_event_nb(st, user, EV_BOOK, s, 0.0, 0.0, 0.0, 0.0, 0.0, 0, ts)
                else:
                    on_book(user.params[s], user.state[s], st.sym[s], out, book.top[0], book.top[1], ts)
            elif has_bbo:  # a strategy written for top-of-book data sees the book's top
                called = True
                bid, bid_sz = best_nb(st.l2, s, 0)
                ask, ask_sz = best_nb(st.l2, s, 1)
                if debug:
                    debug_event_nb(st, user, EV_BBO, s, bid, bid_sz, ask, ask_sz, 0.0, 0, ts)
                else:
                    on_bbo(user.params[s], user.state[s], st.sym[s], out, bid, bid_sz, ask, ask_sz, ts)
        elif kind == TICK_BAR and has_bar:
            called = True
            if debug:
                debug_event_nb(st, user, EV_BAR, s, tk.bid_sz, tk.ask_px, tk.bid_px, price, tk.size, 0, ts)
            else:
                on_bar(
                    user.params[s],
                    user.state[s],
                    st.sym[s],
                    out,
                    tk.bid_sz,
                    tk.ask_px,
                    tk.bid_px,
                    price,
                    tk.size,
                    ts,
                )
        if called:
            hist_record_nb(st.stats, hist_base_nb(H_DECISION), monotonic_ns() - t0)
            if out.n[0] > 0:
                apply_intents_nb(st, s, price, tk.ts_in_ns, t0)
        if has_reject and st.strat.sdk_ctl[SDK_REFUSED_N] > 0:
            tell_rejects(st, user, t0)

    def fill(st, user, s, side, price, size, ts_in, now):  # type: ignore[no-untyped-def]
        if has_fill:
            st.strat.intents.n[0] = 0
            ts = st.core[0].clock_ns
            if debug:
                debug_event_nb(st, user, EV_FILL, s, price, size, 0.0, 0.0, 0.0, side, ts)
            else:
                on_fill(
                    user.params[s], user.state[s], st.sym[s], st.strat.intents, side, price, size, ts
                )
            apply_intents_nb(st, s, st.sym[s].last_px, ts_in, now)
        if has_reject and st.strat.sdk_ctl[SDK_REFUSED_N] > 0:
            tell_rejects(st, user, now)

    def after_exec(st, user, now):  # type: ignore[no-untyped-def]
        if has_reject and st.strat.sdk_ctl[SDK_REFUSED_N] > 0:
            tell_rejects(st, user, now)

    return tick, fill, after_exec
