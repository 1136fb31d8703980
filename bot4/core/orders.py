"""Orders out of the core: every order checked, recorded in the pool and pushed to execution, or refused and logged.

``emit_order_nb`` is the one way an order leaves the core: the pre-trade checks (timed into the risk histogram), a
pool record, a slot in the execution ring, the pending sizes. A refusal is counted by reason and appended to the
rejects ring. Cancels are pushed once per order (``FLAG_CANCEL_SENT``); ``cancel_all_nb`` reports what the full ring
left unsent, for the next step to retry.
"""

from __future__ import annotations

import numpy as np

from bot4.core.atomics import monotonic_ns
from bot4.core.histogram import hist_record_nb
from bot4.core.jit import helper, routine
from bot4.core.pool import SLOT_IN_USE, pool_acquire_nb, pool_release_nb
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    FLAG_CANCEL_SENT,
    FLAG_KILL,
    FLAG_MANUAL,
    FLAG_REDUCE_ONLY,
    FLAG_STOP_EXIT,
    ORDER_MARKET,
    REASON_OK,
    REASON_POOL_EXHAUSTED,
    REASON_RING_FULL,
    REASON_VENUE,
    STATUS_ACCEPTED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_IOC,
)
from bot4.core.ring import ring_claim_nb, ring_publish_nb
from bot4.core.risk import order_reduces_nb, other_failures_nb, risk_check_nb
from bot4.core.state import ORDER_SLOT_BITS, SDK_REFUSED_DROPPED, SDK_REFUSED_N, STRAT_SDK, EngineState
from bot4.core.stats import (
    C_CANCELS_OUT,
    C_ENTRIES,
    C_EXITS,
    C_ORDER_RING_FULL,
    C_ORDERS_OUT,
    C_POOL_OVERFLOWS,
    C_RISK_REJECTS,
    H_RISK,
    H_TICK_TO_ORDER,
    count_reject_nb,
    counter_add_nb,
    hist_base_nb,
)

EXIT_FLAGS = FLAG_STOP_EXIT | FLAG_KILL | FLAG_REDUCE_ONLY
EXIT_RETRY_NS = 100_000_000  # a refused exit is sent again after this much market time, or at the next report


@helper
def write_order_nb(
    orders: np.ndarray,
    i: int,
    coid: int,
    now: int,
    ts_in: int,
    s: int,
    venue: int,
    side: int,
    otype: int,
    tif: int,
    flags: int,
    status: int,
    reason: int,
    price: float,
    stop: float,
    tp: float,
    size: float,
) -> None:
    rec = orders[i]
    rec.client_order_id = coid
    rec.ts_created_ns = now
    rec.ts_in_ns = ts_in
    rec.symbol_id = s
    rec.venue_id = venue
    rec.side = side
    rec.order_type = otype
    rec.tif = tif
    rec.flags = flags
    rec.action = ACTION_SUBMIT
    rec.status = status
    rec.reject_reason = reason
    rec.price = price
    rec.stop_px = stop
    rec.take_profit_px = tp
    rec.size = size
    rec.filled = 0.0
    rec.avg_px = np.nan
    rec.risk_value = np.nan
    rec.risk_limit = np.nan


@helper
def note_refusal_nb(st: EngineState, s: int, side: int, reason: int) -> None:
    n = st.strat.sdk_ctl[SDK_REFUSED_N]
    if n >= st.strat.refused.shape[0]:
        st.strat.sdk_ctl[SDK_REFUSED_DROPPED] += 1
        return
    st.strat.refused[n].symbol_id = s
    st.strat.refused[n].side = side
    st.strat.refused[n].reason = reason
    st.strat.sdk_ctl[SDK_REFUSED_N] = n + 1


@routine
def log_reject_nb(
    st: EngineState,
    s: int,
    side: int,
    otype: int,
    tif: int,
    flags: int,
    price: float,
    stop: float,
    tp: float,
    size: float,
    reason: int,
    ts_in: int,
    now: int,
    coid: int,
    t_risk: int,
    value: float,
    limit: float,
) -> None:
    """Count a refused order by reason and append it to the rejects ring (dropped, counted, when full).

    ``t_risk`` is when the refusing checks began (0 when no check ran), so a trace can show the check's own time;
    ``value`` and ``limit`` are the figure that failed and its limit (``records.REASON_FIGURES``; NaN when none)."""
    count_reject_nb(st.stats, reason)
    if 0 <= s < st.sym.shape[0] and st.sym[s].strategy == STRAT_SDK and (flags & FLAG_MANUAL) == 0:
        note_refusal_nb(st, s, side, reason)  # for the user strategy's on_reject (sdkapply.py)
    if reason != REASON_VENUE:
        counter_add_nb(st.stats, C_RISK_REJECTS, 1)
    slot = ring_claim_nb(st.rings.rejects.ctrl)
    if slot >= 0:
        venue = st.sym[s].venue if 0 <= s < st.sym.shape[0] else -1
        write_order_nb(
            st.rings.rejects.buf, slot, coid, now, ts_in, s, venue, side, otype, tif, flags, STATUS_REJECTED, reason,
            price, stop, tp, size,
        )
        st.rings.rejects.buf[slot].ts_risk_ns = t_risk
        st.rings.rejects.buf[slot].ts_mkt_ns = st.core[0].clock_ns  # when, on the market clock (replay: data time)
        st.rings.rejects.buf[slot].risk_value = value
        st.rings.rejects.buf[slot].risk_limit = limit
        st.rings.rejects.buf[slot].also_failed = st.core[0].refusal_also  # set by emit_order_nb's refusal only
        ring_publish_nb(st.rings.rejects.ctrl, 1)
    st.core[0].refusal_also = 0


@routine
def emit_order_nb(
    st: EngineState,
    s: int,
    side: int,
    otype: int,
    tif: int,
    price: float,
    ref_px: float,
    size: float,
    stop: float,
    tp: float,
    flags: int,
    ts_in: int,
) -> int:
    """Risk-check one order and, if it passes, record it and push it to execution; the REASON_* code."""
    # the arrays first, then the clock: the histogram times the checks, not the state tuple's unpacking
    sym, core, acct, params, brk, risk = st.sym, st.core, st.acct, st.params, st.brk, st.risk
    t0 = monotonic_ns()
    reason = risk_check_nb(sym, core, acct, params, brk, risk, s, side, ref_px, size, stop, flags)
    t1 = monotonic_ns()
    hist_record_nb(st.stats, hist_base_nb(H_RISK), t1 - t0)
    if reason != REASON_OK:
        value, limit = core[0].refusal_value, core[0].refusal_limit  # the failing check's figure and limit
        core[0].refusal_also = other_failures_nb(sym, core, acct, params, s, side, ref_px, size, stop, flags, reason)
        log_reject_nb(st, s, side, otype, tif, flags, price, stop, tp, size, reason, ts_in, t1, 0, t0, value, limit)
        return reason
    reduces = order_reduces_nb(st.sym, s, side, size)
    slot = pool_acquire_nb(st.pool.free, st.pool.slot_state, st.pool.ctrl)
    if slot < 0:
        counter_add_nb(st.stats, C_POOL_OVERFLOWS, 1)
        log_reject_nb(
            st, s, side, otype, tif, flags, price, stop, tp, size, REASON_POOL_EXHAUSTED, ts_in, t1, 0, t0, np.nan, np.nan,
        )
        return REASON_POOL_EXHAUSTED
    out = ring_claim_nb(st.rings.orders.ctrl)
    if out < 0:
        pool_release_nb(st.pool.free, st.pool.slot_state, st.pool.ctrl, slot)
        counter_add_nb(st.stats, C_ORDER_RING_FULL, 1)
        log_reject_nb(
            st, s, side, otype, tif, flags, price, stop, tp, size, REASON_RING_FULL, ts_in, t1, 0, t0, np.nan, np.nan,
        )
        return REASON_RING_FULL
    seq = st.core[0].order_seq + 1
    st.core[0].order_seq = seq
    coid = (seq << ORDER_SLOT_BITS) | slot
    venue = st.sym[s].venue
    write_order_nb(
        st.pool.records, slot, coid, t1, ts_in, s, venue, side, otype, tif, flags, STATUS_NEW, 0, price, stop, tp, size
    )
    st.pool.records[slot].ts_mkt_ns = st.core[0].clock_ns  # a simulated venue matches it from this market time on
    st.pool.records[slot].ts_risk_ns = t0  # the clock read the checks already took: traces split decision from risk
    st.rings.orders.buf[out] = st.pool.records[slot]
    ring_publish_nb(st.rings.orders.ctrl, 1)
    if side > 0:
        st.sym[s].pending_buy += size
    else:
        st.sym[s].pending_sell += size
    st.core[0].open_orders += 1
    counter_add_nb(st.stats, C_ORDERS_OUT, 1)
    counter_add_nb(st.stats, C_EXITS if reduces else C_ENTRIES, 1)
    if ts_in > 0:
        hist_record_nb(st.stats, hist_base_nb(H_TICK_TO_ORDER), monotonic_ns() - ts_in)
    return REASON_OK


@routine
def cancel_slot_nb(st: EngineState, slot: int, now: int) -> bool:
    """Push a cancel for the open order in pool ``slot`` (once); False when the execution ring is full."""
    o = st.pool.records[slot]
    if (o.flags & FLAG_CANCEL_SENT) != 0:
        return True
    out = ring_claim_nb(st.rings.orders.ctrl)
    if out < 0:
        counter_add_nb(st.stats, C_ORDER_RING_FULL, 1)
        return False
    st.rings.orders.buf[out] = o
    st.rings.orders.buf[out].action = ACTION_CANCEL
    st.rings.orders.buf[out].ts_created_ns = now
    st.rings.orders.buf[out].ts_mkt_ns = st.core[0].clock_ns
    ring_publish_nb(st.rings.orders.ctrl, 1)
    o.flags = o.flags | FLAG_CANCEL_SENT
    counter_add_nb(st.stats, C_CANCELS_OUT, 1)
    return True


@helper
def order_is_open_nb(st: EngineState, slot: int) -> bool:
    if st.pool.slot_state[slot] != SLOT_IN_USE:
        return False
    status = st.pool.records[slot].status
    return status == STATUS_NEW or status == STATUS_ACCEPTED or status == STATUS_PARTIALLY_FILLED


@routine
def cancel_all_nb(st: EngineState, now: int, keep_protective: bool) -> int:
    """Cancel every open order (but protective exits when ``keep_protective``); how many could not be sent yet.

    Unsent cancels are retried on the next step.
    """
    left = 0
    for slot in range(st.pool.records.shape[0]):
        if not order_is_open_nb(st, slot):
            continue
        if keep_protective and (st.pool.records[slot].flags & (FLAG_STOP_EXIT | FLAG_KILL)) != 0:
            continue
        if not cancel_slot_nb(st, slot, now):
            left += 1
    st.core[0].cancel_all_pending = (2 if keep_protective else 1) if left > 0 else 0
    return left


@routine
def cancel_entries_nb(st: EngineState, s: int, side: int, now: int) -> None:
    """Cancel symbol ``s``'s working entries on ``side`` (not its exits): they stand in the way of a stop exit."""
    for slot in range(st.pool.records.shape[0]):
        if not order_is_open_nb(st, slot):
            continue
        o = st.pool.records[slot]
        if o.symbol_id == s and o.side == side and (o.flags & EXIT_FLAGS) == 0:
            cancel_slot_nb(st, slot, now)


@helper
def exit_position_nb(st: EngineState, s: int, flags: int, ts_in: int) -> int:
    """A reduce-only market order closing symbol ``s``'s whole position (once at a time)."""
    q = st.sym[s].qty
    if q == 0.0 or st.sym[s].exit_pending != 0:
        return REASON_OK
    side = -1 if q > 0.0 else 1
    reason = emit_order_nb(
        st, s, side, ORDER_MARKET, TIF_IOC, np.nan, st.sym[s].last_px, abs(q), np.nan, np.nan,
        flags | FLAG_REDUCE_ONLY, ts_in,
    )
    if reason == REASON_OK:
        st.sym[s].exit_pending = 1
    return reason


@helper
def want_flat_nb(st: EngineState, s: int, flags: int, ts_in: int) -> int:
    """The position should go to zero: send its exit now, and again (``on_tick_nb``) until it is zero.

    An exit that fills in part, expires, or is refused leaves a remainder; the wish stays until the position is flat,
    so no residue is left behind a flat signal, a flip or a flatten.
    """
    row = st.sym[s]
    if row.qty == 0.0:
        row.exit_wanted = 0
        return REASON_OK
    row.exit_wanted = 1
    row.exit_flags = flags
    reason = exit_position_nb(st, s, flags, ts_in)
    if reason != REASON_OK:
        row.exit_retry_clock = st.core[0].clock_ns + EXIT_RETRY_NS
    return reason


@helper
def finish_order_nb(st: EngineState, slot: int) -> None:
    o = st.pool.records[slot]
    if (o.flags & EXIT_FLAGS) != 0:
        st.sym[o.symbol_id].exit_pending = 0
    pool_release_nb(st.pool.free, st.pool.slot_state, st.pool.ctrl, slot)
    st.core[0].open_orders -= 1


@helper
def reduce_pending_nb(st: EngineState, s: int, side: int, size: float) -> None:
    row = st.sym[s]
    if side > 0:
        left = row.pending_buy - size
        row.pending_buy = left if left > 1e-12 else 0.0
    else:
        left = row.pending_sell - size
        row.pending_sell = left if left > 1e-12 else 0.0
