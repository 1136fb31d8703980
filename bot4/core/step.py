"""The engine's step: one pass drains commands, execution reports and market data and turns them into orders.

``engine_step_nb`` is one pass: every queued command first (a kill never waits behind market data), then up to
``batch_max`` execution reports, then up to ``batch_max`` ticks. Per tick: sanity, mark to market, drawdown state,
live stops, the strategy, sizing, risk, order out; then return sampling (correlation, VaR) on the market clock.
The per-event handlers are helpers (inlined): a call passing the EngineState tuple pushes its arrays on the stack.
"""

from __future__ import annotations

import math

import numpy as np

from bot4.core.atomics import load_acquire, monotonic_ns
from bot4.core.book import APPLY_END, best_nb, depth_apply_nb
from bot4.core.commands import apply_kill_nb, kill_requested_nb, on_command_nb, update_risk_state_nb
from bot4.core.histogram import hist_record_nb
from bot4.core.jit import helper, kernel, routine
from bot4.core.orders import (
    EXIT_RETRY_NS,
    cancel_all_nb,
    cancel_entries_nb,
    emit_order_nb,
    exit_position_nb,
    finish_order_nb,
    log_reject_nb,
    reduce_pending_nb,
    want_flat_nb,
)
from bot4.core.pool import SLOT_IN_USE
from bot4.core.positions import apply_fill_nb, mark_symbol_nb
from bot4.core.prints import outlier_nb
from bot4.core.records import (
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_FILL,
    EXEC_REJECTED,
    FLAG_KILL,
    FLAG_MANUAL,
    FLAG_STOP_EXIT,
    ORDER_MARKET,
    REASON_OK,
    REASON_REDUCE_ONLY,
    REASON_SIZE_ZERO,
    REASON_VENUE,
    STATUS_ACCEPTED,
    STATUS_CANCELED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TICK_BAR,
    TICK_BBO,
    TICK_DEPTH,
    TIF_IOC,
)
from bot4.core.ring import ring_advance_nb, ring_available_nb, ring_slot_nb
from bot4.core.risk import effective_position_nb, risk_check_nb, size_for_signal_nb
from bot4.core.riskviews import (
    build_var_envelopes_nb,
    correlation_extremes_nb,
    correlation_matrix_nb,
    rebuild_var_base_nb,
    refresh_risk_views_nb,
    shift_var_base_nb,
    var_with_nb,
)
from bot4.core.sdkstep import sdk_after_exec_nb, sdk_on_fill_nb, sdk_on_tick_nb
from bot4.core.state import ORDER_SLOT_MASK, STRAT_SDK, W_KILL, EngineState, UserArrays
from bot4.core.stats import (
    C_BAD_TICKS,
    C_BATCHES,
    C_EXEC_REPORTS,
    C_FILLS,
    C_OUT_OF_ORDER,
    C_OUTLIER_TICKS,
    C_SIGNALS,
    C_SIGNALS_DEFERRED,
    C_SIGNALS_MANUAL_HELD,
    C_STOP_EXITS,
    C_TICKS_IN,
    C_TRADES_CLOSED,
    C_UNKNOWN_EXEC,
    C_UNPROTECTED,
    C_VENUE_REJECTS,
    H_DECISION,
    H_ORDER_TO_ACK,
    counter_add_nb,
    hist_base_nb,
)
from bot4.core.strategy import SIG_FLAT, SIG_NONE, stop_price_nb, strategy_on_price_nb, take_profit_price_nb


@kernel
def sample_returns_nb(st: EngineState) -> None:
    """Take one return sample of every symbol on the market-clock grid; refresh correlation and VaR."""
    clock = st.core[0].clock_ns
    interval = st.params[0].sample_ns
    first = st.core[0].next_sample_ns == 0
    st.core[0].next_sample_ns = clock - clock % interval + interval
    cap = st.risk.rets.shape[1]
    col = st.core[0].ret_count % cap
    for j in range(st.sym.shape[0]):
        px = st.sym[j].last_px
        prev = st.sym[j].sample_px
        if px > 0.0:
            if not first:
                st.risk.rets[j, col] = math.log(px / prev) if prev > 0.0 else 0.0
            st.sym[j].sample_px = px
        elif not first:
            st.risk.rets[j, col] = 0.0
    if first:
        return
    count = st.core[0].ret_count + 1
    st.core[0].ret_count = count
    correlation_matrix_nb(st.risk.rets, count, st.params[0].corr_window, st.params[0].corr_min, st.risk.corr)
    window = st.params[0].var_window
    n = rebuild_var_base_nb(st.risk.rets, st.sym, count, window, st.risk.var_base)
    st.core[0].var_dirty = 0
    refresh_risk_views_nb(st.sym, st.core, st.params, st.risk, True)
    st.core[0].env_stale = 0
    risk = st.risk
    st.acct[0].var = var_with_nb(risk.rets, risk.var_base, risk.var_scratch, n, count, st.params[0].var_k, 0, 0.0)


@helper
def check_stops_nb(st: EngineState, s: int, lo: float, hi: float, ts_in: int, now: int) -> None:
    """A crossed stop or take profit sends the position's exit at once (``lo``/``hi``: the tick's range, a bar's
    low and high, else its price).

    An exit the checks refuse is not sent again on every tick (a burst of identical refusals), but after
    EXIT_RETRY_NS of market time or at the symbol's next execution report, whichever comes first. When what refuses
    it is an entry the other way still working (the exit plus that entry could flip the position), the entry is
    cancelled so the exit can follow.
    """
    row = st.sym[s]
    q = row.qty
    if q == 0.0 or row.exit_pending != 0:
        return
    if q > 0.0:
        hit = lo <= row.stop_px or hi >= row.tp_px
    else:
        hit = hi >= row.stop_px or lo <= row.tp_px
    if not hit or st.core[0].clock_ns < row.exit_retry_clock:
        return
    reason = exit_position_nb(st, s, FLAG_STOP_EXIT, ts_in)
    if reason == REASON_OK:
        counter_add_nb(st.stats, C_STOP_EXITS, 1)
        return
    row.exit_retry_clock = st.core[0].clock_ns + EXIT_RETRY_NS
    if reason == REASON_REDUCE_ONLY:
        cancel_entries_nb(st, s, -1 if q > 0.0 else 1, now)


@helper
def manual_held_nb(st: EngineState, s: int) -> bool:
    """True (and counted) when symbol ``s`` holds a position a person opened and its strategy may not manage it
    (``manage_manual`` off): the strategy's signal is not acted on. Stops, take-profits and the kill still are."""
    if st.sym[s].manual_pos == 0 or st.strat.params[s].manage_manual != 0:
        return False
    counter_add_nb(st.stats, C_SIGNALS_MANUAL_HELD, 1)
    return True


@routine
def on_signal_nb(st: EngineState, s: int, sig: int, price: float, ts_in: int, now: int) -> None:
    """Act on a strategy signal: enter, flip (exit, then enter) or go flat.

    A flip is an exit, then an entry: the exit goes first, and the entry is held until the exit has ended, so the
    position passes through zero before the new side opens with its own entry's stop. A signal against an order
    still working on the symbol (an entry the other way, or an exit the venue has not answered yet) is held too:
    the position it would change is not known until that order ends. It is taken at the symbol's first tick after
    those orders ended (filled, expired or cancelled); a newer signal replaces it. A position a person opened is
    left alone (``manual_held_nb``).
    """
    row = st.sym[s]
    row.deferred_sig = 0
    if manual_held_nb(st, s):
        return
    q = row.qty
    if sig == SIG_FLAT:
        want_flat_nb(st, s, 0, ts_in)
        return
    side = sig
    if (row.exit_flags & (FLAG_KILL | FLAG_STOP_EXIT)) == 0:
        row.exit_wanted = 0  # a new view replaces an earlier wish to be flat (not a kill's, not a protective exit's)
    if row.exit_pending != 0 or (row.pending_sell if side > 0 else row.pending_buy) > 0.0:
        row.deferred_sig = side  # an order whose outcome decides the position is working: wait for it
        counter_add_nb(st.stats, C_SIGNALS_DEFERRED, 1)
        return
    if q * side > 0.0 or effective_position_nb(st.sym, s) * side > 0.0:
        return  # already positioned (or an entry is working) on that side
    if q * side < 0.0:
        if want_flat_nb(st, s, 0, ts_in) == REASON_OK:
            row.deferred_sig = side  # the entry follows once the exit has ended
            counter_add_nb(st.stats, C_SIGNALS_DEFERRED, 1)
        return
    stop = stop_price_nb(st.strat.params, s, side, price)
    tp = take_profit_price_nb(st.strat.params, s, side, price)
    size = size_for_signal_nb(st, s, side, price, stop)
    if size <= 0.0:
        log_reject_nb(
            st, s, side, ORDER_MARKET, TIF_IOC, 0, np.nan, stop, tp, 0.0, REASON_SIZE_ZERO, ts_in, now, 0, 0,
            np.nan, np.nan,
        )
        return
    emit_order_nb(st, s, side, ORDER_MARKET, TIF_IOC, np.nan, price, size, stop, tp, 0, ts_in)


@helper
def depth_tick_nb(st: EngineState, s: int, tk: np.ndarray) -> bool:
    """One L2 row into the core's book of symbol ``s``; True when it ended a message (the book is whole)."""
    qty = tk.size
    if not (tk.price > 0.0) or math.isinf(tk.price) or not (qty >= 0.0) or math.isinf(qty):
        counter_add_nb(st.stats, C_BAD_TICKS, 1)
        st.sym[s].bad_ticks += 1
        return False
    return depth_apply_nb(st.l2, s, tk.side, tk.price, qty, tk.bid_px, tk.ask_px, np.int64(tk.bid_sz)) == APPLY_END


@helper
def on_tick_nb(st: EngineState, user: UserArrays, slot: int, t0: int) -> None:
    """The tick in md ring ``slot``, its handling starting at ``t0`` (monotonic ns: the clock read that led here)."""
    tk = st.rings.md.buf[slot]
    s = tk.symbol_id
    if s < 0 or s >= st.sym.shape[0]:
        counter_add_nb(st.stats, C_BAD_TICKS, 1)
        return
    row = st.sym[s]
    kind = tk.kind
    if kind == TICK_BBO:
        bid = tk.bid_px
        ask = tk.ask_px
        if not (bid > 0.0 and ask >= bid) or math.isinf(ask):
            counter_add_nb(st.stats, C_BAD_TICKS, 1)
            row.bad_ticks += 1
            return
        price = 0.5 * (bid + ask)
    elif kind == TICK_DEPTH:
        if not depth_tick_nb(st, s, tk):
            return  # within a book message, or a row the book dropped: the book is not whole yet
        bid = best_nb(st.l2, s, 0)[0]
        ask = best_nb(st.l2, s, 1)[0]
        if not (bid > 0.0 and ask > bid):
            return  # one-sided or crossed after this message: nothing to price on (the book counts crossings)
        price = 0.5 * (bid + ask)
    else:
        price = tk.price
        if not (price > 0.0) or math.isinf(price) or not (tk.size >= 0.0):
            counter_add_nb(st.stats, C_BAD_TICKS, 1)
            row.bad_ticks += 1
            return
    ts = tk.ts_exch_ns
    if ts < row.last_ts:
        counter_add_nb(st.stats, C_OUT_OF_ORDER, 1)
        return
    if outlier_nb(row, row.last_px, price, st.params[0].outlier_frac, st.params[0].outlier_confirm):
        counter_add_nb(st.stats, C_OUTLIER_TICKS, 1)
        row.bad_ticks += 1
        return
    row.last_ts = ts
    if ts > st.core[0].clock_ns:
        st.core[0].clock_ns = ts
    lo = price
    hi = price
    if kind == TICK_BBO:
        row.bid = tk.bid_px
        row.ask = tk.ask_px
    elif kind == TICK_DEPTH:
        row.bid = best_nb(st.l2, s, 0)[0]
        row.ask = best_nb(st.l2, s, 1)[0]
    elif kind == TICK_BAR and tk.bid_px <= price <= tk.ask_px:
        lo = tk.bid_px  # a bar's low and high: its stops are judged on the whole range it traded
        hi = tk.ask_px
    row.last_px = price
    row.ticks += 1
    mark_symbol_nb(st.sym, st.acct, s)
    update_risk_state_nb(st, t0)
    check_stops_nb(st, s, lo, hi, tk.ts_in_ns, t0)
    if row.exit_wanted != 0 and row.exit_pending == 0 and st.core[0].clock_ns >= row.exit_retry_clock:
        want_flat_nb(st, s, row.exit_flags, tk.ts_in_ns)  # what an earlier exit left: send it again
    deferred = row.deferred_sig
    if deferred != 0 and row.exit_pending == 0 and (row.pending_sell if deferred > 0 else row.pending_buy) == 0.0:
        on_signal_nb(st, s, deferred, price, tk.ts_in_ns, t0)  # the orders it waited on have ended
    strat = row.strategy
    if strat != 0:
        st.core[0].warm_symbol = s  # the dry runs check orders where orders come from
    if strat == STRAT_SDK:
        sdk_on_tick_nb(st, user, s, slot, price, t0)  # a user strategy, compiled in (sdkstep.py)
    elif strat != 0 and kind != TICK_BBO and kind != TICK_DEPTH:  # the built-ins decide on prints and bars
        sig = strategy_on_price_nb(strat, st.strat.params, st.strat.state, st.strat.hist, s, price)
        hist_record_nb(st.stats, hist_base_nb(H_DECISION), monotonic_ns() - t0)
        if sig != SIG_NONE:
            counter_add_nb(st.stats, C_SIGNALS, 1)
            on_signal_nb(st, s, sig, price, tk.ts_in_ns, t0)
    if st.core[0].clock_ns >= st.core[0].next_sample_ns:
        sample_returns_nb(st)  # after the decision: a sample refreshes correlation and VaR for the next one


@helper
def set_position_stop_nb(st: EngineState, s: int, q_before: float, stop: float, tp: float, price: float) -> bool:
    """After a fill: the position's stop is the stop of the entry that opened it. True when the fill left a position
    with no stop of its own (the caller closes it at once; its stop is set at the fill meanwhile).

    A fill from flat or through zero opened the position: the filling order's stop and take profit take over (a
    short never keeps a long's stop). A fill that adds to the position keeps the opener's stop. A flat position has
    none.
    """
    row = st.sym[s]
    q = row.qty
    if q == 0.0:
        row.stop_px = np.nan
        row.tp_px = np.nan
        row.exit_wanted = 0
        return False
    if q_before != 0.0 and q_before * q > 0.0 and row.stop_px > 0.0:
        return False  # added to or reduced the same position: its stop stands
    if stop > 0.0 and not math.isinf(stop):
        row.stop_px = stop
        row.tp_px = tp if (tp - price) * q > 0.0 else np.nan
        return False
    row.stop_px = price  # no stop came with the fill that opened it: a stop at the fill, and the exit goes now
    row.tp_px = np.nan
    return True


@routine
def on_exec_nb(st: EngineState, user: UserArrays, slot: int, now: int) -> None:
    r = st.rings.fills.buf[slot]
    coid = r.client_order_id
    ps = coid & ORDER_SLOT_MASK
    pool = st.pool
    if ps >= pool.records.shape[0] or pool.slot_state[ps] != SLOT_IN_USE or pool.records[ps].client_order_id != coid:
        counter_add_nb(st.stats, C_UNKNOWN_EXEC, 1)
        st.core[0].unknown_exec += 1
        return
    counter_add_nb(st.stats, C_EXEC_REPORTS, 1)
    o = st.pool.records[ps]
    s = o.symbol_id
    st.sym[s].exit_retry_clock = 0  # a refused stop exit may go again at the next tick
    kind = r.kind
    if o.status == STATUS_NEW and (kind == EXEC_ACK or kind == EXEC_FILL):
        o.status = STATUS_ACCEPTED
        if r.ts_in_ns > 0:
            hist_record_nb(st.stats, hist_base_nb(H_ORDER_TO_ACK), r.ts_in_ns - o.ts_created_ns)
    if kind == EXEC_ACK:
        return
    if kind == EXEC_FILL:
        size = r.size
        price = r.price
        if not (size > 0.0) or not (price > 0.0):
            counter_add_nb(st.stats, C_UNKNOWN_EXEC, 1)
            return
        q_before = st.sym[s].qty
        pnl = apply_fill_nb(st.sym, st.acct, s, o.side, price, size, r.fee)
        counter_add_nb(st.stats, C_FILLS, 1)
        q_after = st.sym[s].qty
        if q_after == 0.0:
            st.sym[s].manual_pos = 0
        elif q_before == 0.0 or q_before * q_after < 0.0:  # opened (or flipped): by a person or by the strategy
            st.sym[s].manual_pos = 1 if (o.flags & FLAG_MANUAL) != 0 else 0
            if st.sym[s].manual_pos != 0 and (st.sym[s].exit_flags & FLAG_KILL) == 0:
                st.sym[s].exit_wanted = 0  # the strategy's wish to be flat was for its own position, not this one
                st.sym[s].deferred_sig = 0
        filled = o.filled + size
        o.avg_px = price if o.filled == 0.0 else (o.avg_px * o.filled + price * size) / filled
        o.filled = filled
        reduce_pending_nb(st, s, o.side, size)
        unprotected = set_position_stop_nb(st, s, q_before, o.stop_px, o.take_profit_px, price)
        if pnl == pnl:
            st.core[0].trades += 1
            counter_add_nb(st.stats, C_TRADES_CLOSED, 1)
            if pnl < 0.0:
                st.core[0].losses += 1
                st.core[0].loss_streak += 1
                if st.core[0].loss_streak >= st.params[0].streak_max:
                    st.core[0].entry_cooldown_until = st.core[0].clock_ns + st.params[0].streak_cooldown_ns
                    st.core[0].loss_streak = 0
            else:
                st.core[0].wins += 1
                st.core[0].loss_streak = 0
        if not (st.sym[s].last_px > 0.0):
            st.sym[s].last_px = price
        mark_symbol_nb(st.sym, st.acct, s)
        if st.core[0].var_dirty == 0:  # keep the VaR base current for the next risk check: this symbol's part only
            shift_var_base_nb(
                st.risk.rets, st.risk.var_base, st.core[0].ret_count, st.params[0].var_window, s, o.side * size * price
            )
            correlation_extremes_nb(st.sym, st.risk.corr, st.risk.aux)
            for j in range(st.sym.shape[0]):  # the envelopes' intercepts moved: scan until the next warm-up
                st.risk.aux[j].env_lines = 0
            st.core[0].env_stale = 1
        if r.leaves <= 1e-12 or filled >= o.size * (1.0 - 1e-9):
            o.status = STATUS_FILLED
            finish_order_nb(st, ps)
        else:
            o.status = STATUS_PARTIALLY_FILLED
        update_risk_state_nb(st, now)
        if unprotected:
            counter_add_nb(st.stats, C_UNPROTECTED, 1)
            want_flat_nb(st, s, FLAG_STOP_EXIT, r.ts_in_ns)
        if st.sym[s].strategy == STRAT_SDK:
            sdk_on_fill_nb(st, user, s, o.side, price, size, r.ts_in_ns, now)
        return
    reduce_pending_nb(st, s, o.side, o.size - o.filled)
    if kind == EXEC_REJECTED:
        o.status = STATUS_REJECTED
        counter_add_nb(st.stats, C_VENUE_REJECTS, 1)
        log_reject_nb(
            st, s, o.side, o.order_type, o.tif, o.flags, o.price, o.stop_px, o.take_profit_px, o.size, REASON_VENUE,
            o.ts_in_ns, now, coid, o.ts_risk_ns, np.nan, np.nan,
        )
    elif kind == EXEC_CANCELED:
        o.status = STATUS_CANCELED
    else:
        o.status = STATUS_EXPIRED
    finish_order_nb(st, ps)
    if st.sym[s].strategy == STRAT_SDK:
        sdk_after_exec_nb(st, user, now)  # a venue's refusal reaches the user strategy's on_reject


@routine
def warm_nb(st: EngineState, s: int) -> None:
    """A dry run of every pre-trade check for a one-step entry on ``s``; then the VaR envelopes, if a fill moved them.

    Between two orders the core handles hundreds of ticks, which push the checks' code, branch history and data out
    of the nearest caches. The run loop calls this every ``warm_every_ticks`` ticks and when it goes idle, so the next
    order finds them warm. It leaves the state as it found it: the only state the checks write is the order-rate
    bucket (restored here) and a pending VaR base rebuild (which the next real check would do the same way).
    """
    st.core[0].warm_ticks = 0
    if 0 <= s < st.sym.shape[0] and st.sym[s].last_px > 0.0:
        last = st.sym[s].last_px
        venue = st.sym[s].venue
        tokens = st.risk.tokens[venue].tokens
        refill_ts = st.risk.tokens[venue].refill_ns
        risk_check_nb(
            st.sym, st.core, st.acct, st.params, st.brk, st.risk, s, 1, last, st.sym[s].size_step,
            last * (1.0 - 0.5 * st.params[0].price_band), 0,
        )
        st.risk.tokens[venue].tokens = tokens
        st.risk.tokens[venue].refill_ns = refill_ts
        st.core[0].warms += 1
    if st.core[0].env_stale != 0 and st.core[0].var_dirty == 0:
        st.core[0].env_stale = 0
        risk = st.risk
        build_var_envelopes_nb(
            risk.rets, risk.var_base, st.core[0].ret_count, st.params[0].var_window, risk.var_order, risk.aux,
            risk.var_env,
        )


@helper
def engine_step_inline_nb(st: EngineState, user: UserArrays) -> int:
    return engine_step_at_nb(st, user, monotonic_ns())


@helper
def engine_step_at_nb(st: EngineState, user: UserArrays, now: int) -> int:
    """One pass over the inbound rings at ``now`` (a clock read just taken: the lockstep replay shares its read with
    the tick it pushed). A clock read costs ~30 ns here, as much as the rest of a quiet tick's handling: the first
    tick of a pass starts at ``now`` unless commands or reports were handled before it."""
    if kill_requested_nb(st):  # first, every pass: a kill is a flag, never a queued command that a full ring drops
        st.core[0].kill_seen = load_acquire(st.sync, W_KILL)
        apply_kill_nb(st, now)
    n_cmd = ring_available_nb(st.rings.commands.ctrl)
    for k in range(n_cmd):
        on_command_nb(st, ring_slot_nb(st.rings.commands.ctrl, k), now)
    if n_cmd > 0:
        ring_advance_nb(st.rings.commands.ctrl, n_cmd)
    batch = st.params[0].batch_max
    n_exec = ring_available_nb(st.rings.fills.ctrl)
    if n_exec > batch:
        n_exec = batch
    for k in range(n_exec):
        on_exec_nb(st, user, ring_slot_nb(st.rings.fills.ctrl, k), now)
    if n_exec > 0:
        ring_advance_nb(st.rings.fills.ctrl, n_exec)
    n_md = ring_available_nb(st.rings.md.ctrl)
    if n_md > batch:
        n_md = batch
    warm_every = st.params[0].warm_ticks
    for k in range(n_md):
        slot = ring_slot_nb(st.rings.md.ctrl, k)
        on_tick_nb(st, user, slot, now if k == 0 and n_cmd + n_exec == 0 else monotonic_ns())
        if warm_every > 0:
            st.core[0].warm_ticks += 1
            if st.core[0].warm_ticks >= warm_every:
                warm_nb(st, st.core[0].warm_symbol)
    if n_md > 0:
        ring_advance_nb(st.rings.md.ctrl, n_md)
        counter_add_nb(st.stats, C_TICKS_IN, n_md)
    if st.core[0].cancel_all_pending != 0:
        cancel_all_nb(st, now, st.core[0].cancel_all_pending == 2)
    total = n_cmd + n_exec + n_md
    if total > 0:
        counter_add_nb(st.stats, C_BATCHES, 1)
    return total


@kernel
def engine_step_nb(st: EngineState, user: UserArrays) -> int:
    """One pass over the inbound rings; the number of records handled."""
    return engine_step_inline_nb(st, user)
