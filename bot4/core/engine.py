"""The engine kernels: one step drains commands, execution reports and market data and turns them into orders.

``engine_step_nb`` is one pass: every queued command first (a kill never waits behind market data), then up to
``batch_max`` execution reports, then up to ``batch_max`` ticks. Per tick: sanity, mark to market, drawdown state,
return sampling (correlation, VaR), live stops, the strategy, sizing, risk, order out. ``engine_run_nb`` loops over
steps on the core thread with the GIL released, publishes the snapshot every ``publish_interval``, and when idle
spins briefly, yields, then sleeps on a futex until a producer wakes it (or a timeout), so an idle core costs no CPU
and a tick arriving at an idle core is picked up in microseconds rather than after a polling period.
"""

from __future__ import annotations

import math

import numpy as np

from bot4.core.atomics import (
    compare_exchange,
    eventfd_signal,
    fence_seq_cst,
    futex_wait_ns,
    futex_wake,
    load_acquire,
    monotonic_ns,
    sched_yield_now,
    store_release,
)
from bot4.core.histogram import hist_record_nb
from bot4.core.jit import helper, kernel
from bot4.core.pool import SLOT_IN_USE, pool_acquire_nb, pool_release_nb
from bot4.core.positions import apply_fill_nb, mark_symbol_nb, resync_account_nb
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    CMD_CANCEL,
    CMD_CANCEL_ALL,
    CMD_FLATTEN,
    CMD_KILL,
    CMD_MANUAL_ORDER,
    CMD_PAUSE,
    CMD_REARM,
    CMD_RESUME,
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_FILL,
    EXEC_REJECTED,
    FLAG_CANCEL_SENT,
    FLAG_KILL,
    FLAG_MANUAL,
    FLAG_REDUCE_ONLY,
    FLAG_STOP_EXIT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP_LIMIT,
    REASON_OK,
    REASON_POOL_EXHAUSTED,
    REASON_REARM_CONFIRM,
    REASON_REARM_COOLDOWN,
    REASON_REARM_NOT_HALTED,
    REASON_REDUCE_ONLY,
    REASON_RING_FULL,
    REASON_SIZE_ZERO,
    REASON_UNKNOWN_ORDER,
    REASON_UNKNOWN_SYMBOL,
    REASON_VENUE,
    STATE_ACTIVE,
    STATE_CAUSE_DRAWDOWN_HALT,
    STATE_CAUSE_DRAWDOWN_WARN,
    STATE_CAUSE_KILL,
    STATE_CAUSE_REARM,
    STATE_CAUSE_RECOVERED,
    STATE_HALTED,
    STATE_REDUCING,
    STATUS_ACCEPTED,
    STATUS_CANCELED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TICK_BBO,
    TICK_TRADE,
    TIF_GTC,
    TIF_IOC,
)
from bot4.core.ring import (
    RING_HEAD,
    RING_MASK,
    ring_advance_nb,
    ring_available_nb,
    ring_claim_nb,
    ring_publish_nb,
    ring_reserve_nb,
    ring_slot_nb,
)
from bot4.core.risk import (
    build_var_envelopes_nb,
    correlation_extremes_nb,
    correlation_matrix_nb,
    effective_position_nb,
    order_reduces_nb,
    rebuild_var_base_nb,
    refresh_risk_views_nb,
    risk_check_arrays_nb,
    shift_var_base_nb,
    size_for_signal_nb,
    var_with_nb,
)
from bot4.core.state import (
    A_DRAWDOWN,
    A_EQUITY,
    A_PEAK,
    A_VAR,
    I_CANCEL_ALL_PENDING,
    I_CLOCK_NS,
    I_ENTRY_COOLDOWN_UNTIL,
    I_ENV_STALE,
    I_HALT_SEQ,
    I_KILL_NS,
    I_KILLS,
    I_LAST_CMD_KIND,
    I_LAST_CMD_REASON,
    I_LAST_CMD_SEQ,
    I_LAST_PUBLISH_NS,
    I_LOOPS,
    I_LOSS_STREAK,
    I_LOSSES,
    I_NEXT_SAMPLE_NS,
    I_NOTIFIES,
    I_NOTIFY_ARMED,
    I_NOTIFY_FD,
    I_OPEN_ORDERS,
    I_ORDER_SEQ,
    I_OWNER,
    I_PAUSED,
    I_REARM_AFTER_NS,
    I_RET_COUNT,
    I_RUNNING,
    I_SLEEPING,
    I_SLEEPS,
    I_STATE_SINCE_NS,
    I_STEALS,
    I_STOP,
    I_TRADES,
    I_TRADING_STATE,
    I_UNKNOWN_EXEC,
    I_VAR_DIRTY,
    I_WAKE,
    I_WARM_SYMBOL,
    I_WARM_TICKS,
    I_WARMS,
    I_WINS,
    ORDER_SLOT_BITS,
    ORDER_SLOT_MASK,
    OWNER_CORE,
    OWNER_FREE,
    OWNER_PRODUCER,
    P_BATCH_MAX,
    P_CORR_MIN,
    P_CORR_WINDOW,
    P_DD_HALT,
    P_DD_RESUME,
    P_DD_WARN,
    P_FLATTEN_ON_KILL,
    P_PRICE_BAND,
    P_PUBLISH_NS,
    P_REARM_COOLDOWN_NS,
    P_SAMPLE_NS,
    P_STREAK_COOLDOWN_NS,
    P_STREAK_MAX,
    P_VAR_K,
    P_VAR_WINDOW,
    P_WARM_TICKS,
    RX_ENV_LINES,
    S_ASK,
    S_BAD_TICKS,
    S_BID,
    S_DEFERRED_SIG,
    S_EXIT_PENDING,
    S_EXIT_RETRY_CLOCK,
    S_LAST_PX,
    S_LAST_TS,
    S_PENDING_BUY,
    S_PENDING_SELL,
    S_QTY,
    S_SAMPLE_PX,
    S_SIZE_STEP,
    S_STOP_PX,
    S_STRATEGY,
    S_TICKS,
    S_TP_PX,
    S_VENUE,
    EngineState,
)
from bot4.core.stats import (
    COUNTER_INDEX,
    HEADER_TS_NS,
    HIST_INDEX,
    SEQ_WORD,
    copy_stats_nb,
    count_reject_nb,
    counter_add_nb,
    hist_base_nb,
)
from bot4.core.strategy import (
    SIG_FLAT,
    SIG_NONE,
    stop_price_nb,
    strategy_on_price_nb,
    take_profit_price_nb,
)

C_TICKS_IN = COUNTER_INDEX["ticks_in"]
C_SIGNALS = COUNTER_INDEX["signals"]
C_SIGNALS_DEFERRED = COUNTER_INDEX["signals_deferred"]
C_ORDERS_OUT = COUNTER_INDEX["orders_out"]
C_CANCELS_OUT = COUNTER_INDEX["cancels_out"]
C_EXEC_REPORTS = COUNTER_INDEX["exec_reports"]
C_FILLS = COUNTER_INDEX["fills"]
C_RISK_REJECTS = COUNTER_INDEX["risk_rejects"]
C_VENUE_REJECTS = COUNTER_INDEX["venue_rejects"]
C_COMMANDS = COUNTER_INDEX["commands"]
C_ORDER_RING_FULL = COUNTER_INDEX["order_ring_full"]
C_POOL_OVERFLOWS = COUNTER_INDEX["pool_overflows"]
C_BATCHES = COUNTER_INDEX["batches"]
C_PUBLISHES = COUNTER_INDEX["publishes"]
C_BAD_TICKS = COUNTER_INDEX["bad_ticks"]
C_STOP_EXITS = COUNTER_INDEX["stop_exits"]
C_ENTRIES = COUNTER_INDEX["entries"]
C_EXITS = COUNTER_INDEX["exits"]
C_KILLS = COUNTER_INDEX["kills"]
C_STATE_CHANGES = COUNTER_INDEX["state_changes"]
C_UNKNOWN_EXEC = COUNTER_INDEX["unknown_exec"]
C_OUT_OF_ORDER = COUNTER_INDEX["out_of_order_ticks"]
C_REARM_REFUSED = COUNTER_INDEX["rearm_refused"]
C_TRADES_CLOSED = COUNTER_INDEX["trades_closed"]
H_DECISION = HIST_INDEX["decision"]
H_RISK = HIST_INDEX["risk_check"]
H_TICK_TO_ORDER = HIST_INDEX["tick_to_order"]
H_ORDER_TO_ACK = HIST_INDEX["order_to_ack"]

SPIN_ROUNDS = 256  # empty steps spent polling before yielding (~25 us)
YIELD_ROUNDS = SPIN_ROUNDS + 32  # then a few yields before sleeping on the futex (an idle core costs no CPU)
MAX_SLEEP_NS = 50_000_000  # a sleeping core wakes at least this often (publishing, stale checks)
STEAL_MAX_STEPS = 64  # a producer running the step for a sleeping core stops after this many passes (batch_max each)
EXIT_FLAGS = FLAG_STOP_EXIT | FLAG_KILL | FLAG_REDUCE_ONLY
EXIT_RETRY_NS = 100_000_000  # a refused stop exit is sent again after this much market time, or at the next report


# --- trading state ---------------------------------------------------------------------------------------------------


@kernel
def set_trading_state_nb(st: EngineState, to: int, cause: int, now: int) -> None:
    frm = st.ist[I_TRADING_STATE]
    if frm == to:
        return
    st.ist[I_TRADING_STATE] = to
    st.ist[I_STATE_SINCE_NS] = now
    if to == STATE_HALTED:
        st.ist[I_HALT_SEQ] += 1
        st.ist[I_REARM_AFTER_NS] = now + int(st.params[P_REARM_COOLDOWN_NS])
    counter_add_nb(st.stats, C_STATE_CHANGES, 1)
    slot = ring_claim_nb(st.slog_ctrl)
    if slot >= 0:
        rec = st.slog_buf[slot]
        rec.ts_ns = now
        rec.ts_exch_ns = st.ist[I_CLOCK_NS]
        rec.from_state = frm
        rec.to_state = to
        rec.cause = cause
        rec.equity = st.acct[A_EQUITY]
        rec.drawdown = st.acct[A_DRAWDOWN]
        ring_publish_nb(st.slog_ctrl, 1)


# --- orders ---------------------------------------------------------------------------------------------------------


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


@kernel
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
) -> None:
    """Count a refused order by reason and append it to the rejects ring (dropped, counted, when full)."""
    count_reject_nb(st.stats, reason)
    if reason != REASON_VENUE:
        counter_add_nb(st.stats, C_RISK_REJECTS, 1)
    slot = ring_claim_nb(st.rej_ctrl)
    if slot >= 0:
        venue = int(st.sym[s, S_VENUE]) if 0 <= s < st.sym.shape[0] else -1
        write_order_nb(
            st.rej_buf, slot, coid, now, ts_in, s, venue, side, otype, tif, flags, STATUS_REJECTED, reason,
            price, stop, tp, size,
        )
        ring_publish_nb(st.rej_ctrl, 1)


@kernel
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
    sym, ist, acct, params, brk = st.sym, st.ist, st.acct, st.params, st.brk
    corr, rets, var_base, var_scratch, tokens = st.corr, st.rets, st.var_base, st.var_scratch, st.venue_tokens
    aux, env = st.risk_aux, st.var_env
    t0 = monotonic_ns()
    reason = risk_check_arrays_nb(
        sym, ist, acct, params, brk, corr, rets, var_base, var_scratch, aux, env, tokens, s, side, ref_px, size, stop,
        flags,
    )
    t1 = monotonic_ns()
    hist_record_nb(st.stats, hist_base_nb(H_RISK), t1 - t0)
    if reason != REASON_OK:
        log_reject_nb(st, s, side, otype, tif, flags, price, stop, tp, size, reason, ts_in, t1, 0)
        return reason
    reduces = order_reduces_nb(st.sym, s, side, size)
    slot = pool_acquire_nb(st.pool_free, st.pool_state, st.pool_ctrl)
    if slot < 0:
        counter_add_nb(st.stats, C_POOL_OVERFLOWS, 1)
        log_reject_nb(st, s, side, otype, tif, flags, price, stop, tp, size, REASON_POOL_EXHAUSTED, ts_in, t1, 0)
        return REASON_POOL_EXHAUSTED
    out = ring_claim_nb(st.out_ctrl)
    if out < 0:
        pool_release_nb(st.pool_free, st.pool_state, st.pool_ctrl, slot)
        counter_add_nb(st.stats, C_ORDER_RING_FULL, 1)
        log_reject_nb(st, s, side, otype, tif, flags, price, stop, tp, size, REASON_RING_FULL, ts_in, t1, 0)
        return REASON_RING_FULL
    seq = st.ist[I_ORDER_SEQ] + 1
    st.ist[I_ORDER_SEQ] = seq
    coid = (seq << ORDER_SLOT_BITS) | slot
    venue = int(st.sym[s, S_VENUE])
    write_order_nb(
        st.orders, slot, coid, t1, ts_in, s, venue, side, otype, tif, flags, STATUS_NEW, 0, price, stop, tp, size
    )
    st.orders[slot].ts_mkt_ns = st.ist[I_CLOCK_NS]  # a simulated venue matches it from this market time on
    st.out_buf[out] = st.orders[slot]
    ring_publish_nb(st.out_ctrl, 1)
    if side > 0:
        st.sym[s, S_PENDING_BUY] += size
    else:
        st.sym[s, S_PENDING_SELL] += size
    st.ist[I_OPEN_ORDERS] += 1
    counter_add_nb(st.stats, C_ORDERS_OUT, 1)
    counter_add_nb(st.stats, C_EXITS if reduces else C_ENTRIES, 1)
    if ts_in > 0:
        hist_record_nb(st.stats, hist_base_nb(H_TICK_TO_ORDER), monotonic_ns() - ts_in)
    return REASON_OK


@kernel
def cancel_slot_nb(st: EngineState, slot: int, now: int) -> bool:
    """Push a cancel for the open order in pool ``slot`` (once); False when the execution ring is full."""
    o = st.orders[slot]
    if (o.flags & FLAG_CANCEL_SENT) != 0:
        return True
    out = ring_claim_nb(st.out_ctrl)
    if out < 0:
        counter_add_nb(st.stats, C_ORDER_RING_FULL, 1)
        return False
    st.out_buf[out] = o
    st.out_buf[out].action = ACTION_CANCEL
    st.out_buf[out].ts_created_ns = now
    st.out_buf[out].ts_mkt_ns = st.ist[I_CLOCK_NS]
    ring_publish_nb(st.out_ctrl, 1)
    o.flags = o.flags | FLAG_CANCEL_SENT
    counter_add_nb(st.stats, C_CANCELS_OUT, 1)
    return True


@helper
def order_is_open_nb(st: EngineState, slot: int) -> bool:
    if st.pool_state[slot] != SLOT_IN_USE:
        return False
    status = st.orders[slot].status
    return status == STATUS_NEW or status == STATUS_ACCEPTED or status == STATUS_PARTIALLY_FILLED


@kernel
def cancel_all_nb(st: EngineState, now: int, keep_protective: bool) -> int:
    """Cancel every open order (but protective exits when ``keep_protective``); how many could not be sent yet.

    Unsent cancels are retried on the next step.
    """
    left = 0
    for slot in range(st.orders.shape[0]):
        if not order_is_open_nb(st, slot):
            continue
        if keep_protective and (st.orders[slot].flags & (FLAG_STOP_EXIT | FLAG_KILL)) != 0:
            continue
        if not cancel_slot_nb(st, slot, now):
            left += 1
    st.ist[I_CANCEL_ALL_PENDING] = (2 if keep_protective else 1) if left > 0 else 0
    return left


@kernel
def cancel_entries_nb(st: EngineState, s: int, side: int, now: int) -> None:
    """Cancel symbol ``s``'s working entries on ``side`` (not its exits): they stand in the way of a stop exit."""
    for slot in range(st.orders.shape[0]):
        if not order_is_open_nb(st, slot):
            continue
        o = st.orders[slot]
        if o.symbol_id == s and o.side == side and (o.flags & EXIT_FLAGS) == 0:
            cancel_slot_nb(st, slot, now)


@helper
def exit_position_nb(st: EngineState, s: int, flags: int, ts_in: int) -> int:
    """A reduce-only market order closing symbol ``s``'s whole position (once at a time)."""
    q = st.sym[s, S_QTY]
    if q == 0.0 or st.sym[s, S_EXIT_PENDING] != 0.0:
        return REASON_OK
    side = -1 if q > 0.0 else 1
    reason = emit_order_nb(
        st, s, side, ORDER_MARKET, TIF_IOC, np.nan, st.sym[s, S_LAST_PX], abs(q), np.nan, np.nan,
        flags | FLAG_REDUCE_ONLY, ts_in,
    )
    if reason == REASON_OK:
        st.sym[s, S_EXIT_PENDING] = 1.0
    return reason


@helper
def finish_order_nb(st: EngineState, slot: int) -> None:
    o = st.orders[slot]
    if (o.flags & EXIT_FLAGS) != 0:
        st.sym[o.symbol_id, S_EXIT_PENDING] = 0.0
    pool_release_nb(st.pool_free, st.pool_state, st.pool_ctrl, slot)
    st.ist[I_OPEN_ORDERS] -= 1


@helper
def reduce_pending_nb(st: EngineState, s: int, side: int, size: float) -> None:
    col = S_PENDING_BUY if side > 0 else S_PENDING_SELL
    left = st.sym[s, col] - size
    st.sym[s, col] = left if left > 1e-12 else 0.0


# --- risk state --------------------------------------------------------------------------------------------------------


@helper
def update_risk_state_nb(st: EngineState, now: int) -> None:
    """Drawdown -> trading state: warn level to REDUCING, breaker level to HALTED (cancel all), recovery to ACTIVE."""
    dd = st.acct[A_DRAWDOWN]
    state = st.ist[I_TRADING_STATE]
    if dd >= st.params[P_DD_HALT] * (1.0 - 1e-9):
        if state != STATE_HALTED:
            set_trading_state_nb(st, STATE_HALTED, STATE_CAUSE_DRAWDOWN_HALT, now)
            cancel_all_nb(st, now, True)  # entries go; the exits protecting open positions keep working
    elif dd >= st.params[P_DD_WARN] * (1.0 - 1e-9):
        if state == STATE_ACTIVE:
            set_trading_state_nb(st, STATE_REDUCING, STATE_CAUSE_DRAWDOWN_WARN, now)
    elif dd < st.params[P_DD_RESUME] and state == STATE_REDUCING:
        set_trading_state_nb(st, STATE_ACTIVE, STATE_CAUSE_RECOVERED, now)


@kernel
def sample_returns_nb(st: EngineState) -> None:
    """Take one return sample of every symbol on the market-clock grid; refresh correlation and VaR."""
    clock = st.ist[I_CLOCK_NS]
    interval = int(st.params[P_SAMPLE_NS])
    first = st.ist[I_NEXT_SAMPLE_NS] == 0
    st.ist[I_NEXT_SAMPLE_NS] = clock - clock % interval + interval
    cap = st.rets.shape[1]
    col = st.ist[I_RET_COUNT] % cap
    for j in range(st.sym.shape[0]):
        px = st.sym[j, S_LAST_PX]
        prev = st.sym[j, S_SAMPLE_PX]
        if px > 0.0:
            if not first:
                st.rets[j, col] = math.log(px / prev) if prev > 0.0 else 0.0
            st.sym[j, S_SAMPLE_PX] = px
        elif not first:
            st.rets[j, col] = 0.0
    if first:
        return
    count = st.ist[I_RET_COUNT] + 1
    st.ist[I_RET_COUNT] = count
    correlation_matrix_nb(st.rets, count, int(st.params[P_CORR_WINDOW]), int(st.params[P_CORR_MIN]), st.corr)
    window = int(st.params[P_VAR_WINDOW])
    n = rebuild_var_base_nb(st.rets, st.sym, count, window, st.var_base)
    st.ist[I_VAR_DIRTY] = 0
    refresh_risk_views_nb(
        st.sym, st.ist, st.params, st.corr, st.rets, st.var_base, st.risk_aux, st.var_env, st.var_order, True
    )
    st.ist[I_ENV_STALE] = 0
    st.acct[A_VAR] = var_with_nb(st.rets, st.var_base, st.var_scratch, n, count, int(st.params[P_VAR_K]), 0, 0.0)


# --- events ---------------------------------------------------------------------------------------------------------


@helper
def check_stops_nb(st: EngineState, s: int, ts_in: int, now: int) -> None:
    """A crossed stop or take profit sends the position's exit at once.

    An exit the checks refuse is not sent again on every tick (a burst of identical refusals), but after
    EXIT_RETRY_NS of market time or at the symbol's next execution report, whichever comes first. When what refuses
    it is an entry the other way still working (the exit plus that entry could flip the position), the entry is
    cancelled so the exit can follow.
    """
    q = st.sym[s, S_QTY]
    if q == 0.0 or st.sym[s, S_EXIT_PENDING] != 0.0:
        return
    px = st.sym[s, S_LAST_PX]
    stop = st.sym[s, S_STOP_PX]
    tp = st.sym[s, S_TP_PX]
    if q > 0.0:
        hit = px <= stop or px >= tp
    else:
        hit = px >= stop or px <= tp
    if not hit or st.ist[I_CLOCK_NS] < st.sym[s, S_EXIT_RETRY_CLOCK]:
        return
    reason = exit_position_nb(st, s, FLAG_STOP_EXIT, ts_in)
    if reason == REASON_OK:
        counter_add_nb(st.stats, C_STOP_EXITS, 1)
        return
    st.sym[s, S_EXIT_RETRY_CLOCK] = st.ist[I_CLOCK_NS] + EXIT_RETRY_NS
    if reason == REASON_REDUCE_ONLY:
        cancel_entries_nb(st, s, -1 if q > 0.0 else 1, now)


@helper
def on_signal_nb(st: EngineState, s: int, sig: int, price: float, ts_in: int, now: int) -> None:
    """Act on a strategy signal: enter, flip (exit, then enter) or go flat.

    A signal against an order still working on the symbol (an entry or an exit the venue has not answered yet) is
    held, not acted on: the position it would flip is not known until that order ends, and two entries the other
    way of each other would both fill. It is taken at the symbol's first tick after the orders against it ended
    (filled, expired or cancelled); a newer signal replaces it.
    """
    st.sym[s, S_DEFERRED_SIG] = 0.0
    q = st.sym[s, S_QTY]
    if sig == SIG_FLAT:
        exit_position_nb(st, s, 0, ts_in)
        return
    side = sig
    if (st.sym[s, S_PENDING_SELL] if side > 0 else st.sym[s, S_PENDING_BUY]) > 0.0:
        st.sym[s, S_DEFERRED_SIG] = side  # an order the other way is working: wait for its outcome
        counter_add_nb(st.stats, C_SIGNALS_DEFERRED, 1)
        return
    if q * side > 0.0 or effective_position_nb(st.sym, s) * side > 0.0:
        return  # already positioned (or an entry is working) on that side
    if q * side < 0.0 and exit_position_nb(st, s, 0, ts_in) != REASON_OK:
        return  # flip: close first, then enter; an exit refused leaves the entry out too
    stop = stop_price_nb(st.strat_params, s, side, price)
    tp = take_profit_price_nb(st.strat_params, s, side, price)
    size = size_for_signal_nb(st, s, side, price, stop)
    if size <= 0.0:
        log_reject_nb(st, s, side, ORDER_MARKET, TIF_IOC, 0, np.nan, stop, tp, 0.0, REASON_SIZE_ZERO, ts_in, now, 0)
        return
    emit_order_nb(st, s, side, ORDER_MARKET, TIF_IOC, np.nan, price, size, stop, tp, 0, ts_in)


@helper
def on_tick_nb(st: EngineState, slot: int) -> None:
    t0 = monotonic_ns()
    tk = st.md_buf[slot]
    s = tk.symbol_id
    if s < 0 or s >= st.sym.shape[0]:
        counter_add_nb(st.stats, C_BAD_TICKS, 1)
        return
    kind = tk.kind
    if kind == TICK_BBO:
        bid = tk.bid_px
        ask = tk.ask_px
        if not (bid > 0.0 and ask >= bid) or math.isinf(ask):
            counter_add_nb(st.stats, C_BAD_TICKS, 1)
            st.sym[s, S_BAD_TICKS] += 1
            return
        price = 0.5 * (bid + ask)
    else:
        price = tk.price
        if not (price > 0.0) or math.isinf(price) or not (tk.size >= 0.0):
            counter_add_nb(st.stats, C_BAD_TICKS, 1)
            st.sym[s, S_BAD_TICKS] += 1
            return
    ts = tk.ts_exch_ns
    if ts < st.sym[s, S_LAST_TS]:
        counter_add_nb(st.stats, C_OUT_OF_ORDER, 1)
        return
    st.sym[s, S_LAST_TS] = ts
    if ts > st.ist[I_CLOCK_NS]:
        st.ist[I_CLOCK_NS] = ts
    if kind == TICK_BBO:
        st.sym[s, S_BID] = tk.bid_px
        st.sym[s, S_ASK] = tk.ask_px
    st.sym[s, S_LAST_PX] = price
    st.sym[s, S_TICKS] += 1
    mark_symbol_nb(st.sym, st.acct, s)
    update_risk_state_nb(st, t0)
    check_stops_nb(st, s, tk.ts_in_ns, t0)
    deferred = int(st.sym[s, S_DEFERRED_SIG])
    if deferred != 0 and (st.sym[s, S_PENDING_SELL] if deferred > 0 else st.sym[s, S_PENDING_BUY]) == 0.0:
        on_signal_nb(st, s, deferred, price, tk.ts_in_ns, t0)  # the entry it waited on has ended
    strat = int(st.sym[s, S_STRATEGY])
    if strat != 0:
        st.ist[I_WARM_SYMBOL] = s  # the dry runs check orders where orders come from
    if strat != 0 and kind != TICK_BBO:
        sig = strategy_on_price_nb(strat, st.strat_params, st.strat_state, st.px_hist, s, price)
        hist_record_nb(st.stats, hist_base_nb(H_DECISION), monotonic_ns() - t0)
        if sig != SIG_NONE:
            counter_add_nb(st.stats, C_SIGNALS, 1)
            on_signal_nb(st, s, sig, price, tk.ts_in_ns, t0)
    if st.ist[I_CLOCK_NS] >= st.ist[I_NEXT_SAMPLE_NS]:
        sample_returns_nb(st)  # after the decision: a sample refreshes correlation and VaR for the next one


@helper
def on_exec_nb(st: EngineState, slot: int, now: int) -> None:
    r = st.fill_buf[slot]
    coid = r.client_order_id
    ps = coid & ORDER_SLOT_MASK
    if ps >= st.orders.shape[0] or st.pool_state[ps] != SLOT_IN_USE or st.orders[ps].client_order_id != coid:
        counter_add_nb(st.stats, C_UNKNOWN_EXEC, 1)
        st.ist[I_UNKNOWN_EXEC] += 1
        return
    counter_add_nb(st.stats, C_EXEC_REPORTS, 1)
    o = st.orders[ps]
    s = o.symbol_id
    st.sym[s, S_EXIT_RETRY_CLOCK] = 0.0  # a refused stop exit may go again at the next tick
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
        increases = st.sym[s, S_QTY] * o.side >= 0.0
        pnl = apply_fill_nb(st.sym, st.acct, s, o.side, price, size, r.fee)
        counter_add_nb(st.stats, C_FILLS, 1)
        filled = o.filled + size
        o.avg_px = price if o.filled == 0.0 else (o.avg_px * o.filled + price * size) / filled
        o.filled = filled
        reduce_pending_nb(st, s, o.side, size)
        if st.sym[s, S_QTY] == 0.0:
            st.sym[s, S_STOP_PX] = np.nan
            st.sym[s, S_TP_PX] = np.nan
        elif increases and o.stop_px > 0.0:
            st.sym[s, S_STOP_PX] = o.stop_px
            st.sym[s, S_TP_PX] = o.take_profit_px
        if pnl == pnl:
            st.ist[I_TRADES] += 1
            counter_add_nb(st.stats, C_TRADES_CLOSED, 1)
            if pnl < 0.0:
                st.ist[I_LOSSES] += 1
                st.ist[I_LOSS_STREAK] += 1
                if st.ist[I_LOSS_STREAK] >= st.params[P_STREAK_MAX]:
                    st.ist[I_ENTRY_COOLDOWN_UNTIL] = st.ist[I_CLOCK_NS] + int(st.params[P_STREAK_COOLDOWN_NS])
                    st.ist[I_LOSS_STREAK] = 0
            else:
                st.ist[I_WINS] += 1
                st.ist[I_LOSS_STREAK] = 0
        if not (st.sym[s, S_LAST_PX] > 0.0):
            st.sym[s, S_LAST_PX] = price
        mark_symbol_nb(st.sym, st.acct, s)
        if st.ist[I_VAR_DIRTY] == 0:  # keep the VaR base current for the next risk check: this symbol's part only
            shift_var_base_nb(
                st.rets, st.var_base, st.ist[I_RET_COUNT], int(st.params[P_VAR_WINDOW]), s, o.side * size * price
            )
            correlation_extremes_nb(st.sym, st.corr, st.risk_aux)
            for j in range(st.sym.shape[0]):  # the envelopes' intercepts moved: scan until the next warm-up
                st.risk_aux[j, RX_ENV_LINES] = 0.0
            st.ist[I_ENV_STALE] = 1
        if r.leaves <= 1e-12 or filled >= o.size * (1.0 - 1e-9):
            o.status = STATUS_FILLED
            finish_order_nb(st, ps)
        else:
            o.status = STATUS_PARTIALLY_FILLED
        update_risk_state_nb(st, now)
        return
    reduce_pending_nb(st, s, o.side, o.size - o.filled)
    if kind == EXEC_REJECTED:
        o.status = STATUS_REJECTED
        counter_add_nb(st.stats, C_VENUE_REJECTS, 1)
        log_reject_nb(
            st, s, o.side, o.order_type, o.tif, o.flags, o.price, o.stop_px, o.take_profit_px, o.size, REASON_VENUE,
            o.ts_in_ns, now, coid,
        )
    elif kind == EXEC_CANCELED:
        o.status = STATUS_CANCELED
    else:
        o.status = STATUS_EXPIRED
    finish_order_nb(st, ps)


@kernel
def apply_kill_nb(st: EngineState, now: int) -> None:
    set_trading_state_nb(st, STATE_HALTED, STATE_CAUSE_KILL, now)
    st.ist[I_KILLS] += 1
    counter_add_nb(st.stats, C_KILLS, 1)
    cancel_all_nb(st, now, False)
    st.ist[I_KILL_NS] = monotonic_ns()
    if st.params[P_FLATTEN_ON_KILL] != 0.0:
        for s in range(st.sym.shape[0]):
            exit_position_nb(st, s, FLAG_KILL, 0)


@kernel
def on_command_nb(st: EngineState, slot: int, now: int) -> None:
    c = st.cmd_buf[slot]
    kind = c.kind
    reason = REASON_OK
    if kind == CMD_KILL:
        apply_kill_nb(st, now)
    elif kind == CMD_REARM:
        if st.ist[I_TRADING_STATE] != STATE_HALTED:
            reason = REASON_REARM_NOT_HALTED
        elif c.arg != st.ist[I_HALT_SEQ]:
            reason = REASON_REARM_CONFIRM
        elif now < st.ist[I_REARM_AFTER_NS]:
            reason = REASON_REARM_COOLDOWN
        else:
            st.acct[A_PEAK] = st.acct[A_EQUITY]  # re-arming accepts the loss: drawdown is measured anew
            st.acct[A_DRAWDOWN] = 0.0
            st.ist[I_LOSS_STREAK] = 0
            st.ist[I_ENTRY_COOLDOWN_UNTIL] = 0
            set_trading_state_nb(st, STATE_ACTIVE, STATE_CAUSE_REARM, now)
        if reason != REASON_OK:
            counter_add_nb(st.stats, C_REARM_REFUSED, 1)
            count_reject_nb(st.stats, reason)
    elif kind == CMD_PAUSE:
        st.ist[I_PAUSED] = 1
    elif kind == CMD_RESUME:
        st.ist[I_PAUSED] = 0
    elif kind == CMD_MANUAL_ORDER:
        s = c.symbol_id
        if s < 0 or s >= st.sym.shape[0]:
            reason = REASON_UNKNOWN_SYMBOL
            count_reject_nb(st.stats, reason)
        else:
            otype = c.order_type if c.order_type != 0 else ORDER_MARKET
            is_limit = otype == ORDER_LIMIT or otype == ORDER_STOP_LIMIT
            tif = c.tif if c.tif != 0 else (TIF_GTC if is_limit else TIF_IOC)
            ref = c.price if is_limit else st.sym[s, S_LAST_PX]
            price = c.price if is_limit else np.nan
            reason = emit_order_nb(
                st, s, c.side, otype, tif, price, ref, c.size, c.stop_px, c.take_profit_px, FLAG_MANUAL, c.ts_in_ns
            )
    elif kind == CMD_CANCEL:
        ps = c.arg & ORDER_SLOT_MASK
        if ps < st.orders.shape[0] and order_is_open_nb(st, ps) and st.orders[ps].client_order_id == c.arg:
            if not cancel_slot_nb(st, ps, now):
                reason = REASON_RING_FULL
        else:
            reason = REASON_UNKNOWN_ORDER
    elif kind == CMD_CANCEL_ALL:
        cancel_all_nb(st, now, False)
    elif kind == CMD_FLATTEN:
        for s in range(st.sym.shape[0]):
            exit_position_nb(st, s, FLAG_KILL | FLAG_MANUAL, c.ts_in_ns)
    st.ist[I_LAST_CMD_SEQ] = c.seq
    st.ist[I_LAST_CMD_REASON] = reason
    st.ist[I_LAST_CMD_KIND] = kind
    counter_add_nb(st.stats, C_COMMANDS, 1)


# --- the loop ---------------------------------------------------------------------------------------------------------


@helper
def warm_nb(st: EngineState, s: int) -> None:
    """A dry run of every pre-trade check for a one-step entry on ``s``; then the VaR envelopes, if a fill moved them.

    Between two orders the core handles hundreds of ticks, which push the checks' code, branch history and data out
    of the nearest caches. The run loop calls this every ``warm_every_ticks`` ticks and when it goes idle, so the next
    order finds them warm. It leaves the state as it found it: the only state the checks write is the order-rate
    bucket (restored here) and a pending VaR base rebuild (which the next real check would do the same way).
    """
    st.ist[I_WARM_TICKS] = 0
    if 0 <= s < st.sym.shape[0] and st.sym[s, S_LAST_PX] > 0.0:
        last = st.sym[s, S_LAST_PX]
        venue = int(st.sym[s, S_VENUE])
        tokens = st.venue_tokens[venue, 0]
        refill_ts = st.venue_tokens[venue, 1]
        risk_check_arrays_nb(
            st.sym, st.ist, st.acct, st.params, st.brk, st.corr, st.rets, st.var_base, st.var_scratch, st.risk_aux,
            st.var_env, st.venue_tokens, s, 1, last, st.sym[s, S_SIZE_STEP],
            last * (1.0 - 0.5 * st.params[P_PRICE_BAND]), 0,
        )
        st.venue_tokens[venue, 0] = tokens
        st.venue_tokens[venue, 1] = refill_ts
        st.ist[I_WARMS] += 1
    if st.ist[I_ENV_STALE] != 0 and st.ist[I_VAR_DIRTY] == 0:
        st.ist[I_ENV_STALE] = 0
        build_var_envelopes_nb(
            st.rets, st.var_base, st.ist[I_RET_COUNT], int(st.params[P_VAR_WINDOW]), st.var_order, st.risk_aux,
            st.var_env,
        )


@helper
def engine_step_inline_nb(st: EngineState) -> int:
    now = monotonic_ns()
    n_cmd = ring_available_nb(st.cmd_ctrl)
    for k in range(n_cmd):
        on_command_nb(st, ring_slot_nb(st.cmd_ctrl, k), now)
    if n_cmd > 0:
        ring_advance_nb(st.cmd_ctrl, n_cmd)
    batch = int(st.params[P_BATCH_MAX])
    n_exec = ring_available_nb(st.fill_ctrl)
    if n_exec > batch:
        n_exec = batch
    for k in range(n_exec):
        on_exec_nb(st, ring_slot_nb(st.fill_ctrl, k), now)
    if n_exec > 0:
        ring_advance_nb(st.fill_ctrl, n_exec)
    n_md = ring_available_nb(st.md_ctrl)
    if n_md > batch:
        n_md = batch
    warm_every = int(st.params[P_WARM_TICKS])
    for k in range(n_md):
        slot = ring_slot_nb(st.md_ctrl, k)
        on_tick_nb(st, slot)
        if warm_every > 0:
            st.ist[I_WARM_TICKS] += 1
            if st.ist[I_WARM_TICKS] >= warm_every:
                warm_nb(st, st.ist[I_WARM_SYMBOL])
    if n_md > 0:
        ring_advance_nb(st.md_ctrl, n_md)
        counter_add_nb(st.stats, C_TICKS_IN, n_md)
    if st.ist[I_CANCEL_ALL_PENDING] != 0:
        cancel_all_nb(st, now, st.ist[I_CANCEL_ALL_PENDING] == 2)
    total = n_cmd + n_exec + n_md
    if total > 0:
        counter_add_nb(st.stats, C_BATCHES, 1)
    return total


@kernel
def engine_step_nb(st: EngineState) -> int:
    """One pass over the inbound rings; the number of records handled."""
    return engine_step_inline_nb(st)


@helper
def copy2d_nb(src: np.ndarray, dst: np.ndarray) -> None:
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@helper
def copy1d_nb(src: np.ndarray, dst: np.ndarray) -> None:
    for i in range(src.shape[0]):
        dst[i] = src[i]


@helper
def copy_ring_ctrl_nb(ctrl: np.ndarray, rows: np.ndarray, r: int) -> None:
    for i in range(ctrl.shape[0]):
        rows[r, i] = ctrl[i]


@kernel
def engine_publish_inline_nb(st: EngineState) -> None:
    resync_account_nb(st)
    st.stats[HEADER_TS_NS] = monotonic_ns()
    counter_add_nb(st.stats, C_PUBLISHES, 1)
    s = st.seq[SEQ_WORD]
    store_release(st.seq, SEQ_WORD, s + 1)
    fence_seq_cst()
    copy_stats_nb(st.stats, st.pub_stats)  # the histograms' used ranges: 888 KB in full, evicting the core's data
    copy1d_nb(st.ist, st.pub_ist)
    copy1d_nb(st.acct, st.pub_acct)
    copy2d_nb(st.sym, st.pub_sym)
    copy2d_nb(st.corr, st.pub_corr)
    copy2d_nb(st.brk, st.pub_brk)
    copy1d_nb(st.pool_ctrl, st.pub_pool)
    copy_ring_ctrl_nb(st.md_ctrl, st.pub_rings, 0)
    copy_ring_ctrl_nb(st.fill_ctrl, st.pub_rings, 1)
    copy_ring_ctrl_nb(st.cmd_ctrl, st.pub_rings, 2)
    copy_ring_ctrl_nb(st.out_ctrl, st.pub_rings, 3)
    copy_ring_ctrl_nb(st.rej_ctrl, st.pub_rings, 4)
    copy_ring_ctrl_nb(st.slog_ctrl, st.pub_rings, 5)
    copy_ring_ctrl_nb(st.trans_ctrl, st.pub_rings, 6)
    store_release(st.seq, SEQ_WORD, s + 2)


@kernel
def engine_publish_nb(st: EngineState) -> None:
    """Publish the core's state for readers (core thread only, or while the core is stopped)."""
    engine_publish_inline_nb(st)


@kernel
def engine_read_nb(
    st: EngineState,
    stats: np.ndarray,
    ist: np.ndarray,
    acct: np.ndarray,
    sym: np.ndarray,
    corr: np.ndarray,
    brk: np.ndarray,
    pool: np.ndarray,
    rings: np.ndarray,
    max_tries: int,
) -> int:
    """Copy the published state consistently (seqlock); attempts used, or -1 if every one collided."""
    for attempt in range(max_tries):
        before = load_acquire(st.seq, SEQ_WORD)
        if before & 1:
            continue
        copy_stats_nb(st.pub_stats, stats)  # ``stats`` is zeroed by the caller
        copy1d_nb(st.pub_ist, ist)
        copy1d_nb(st.pub_acct, acct)
        copy2d_nb(st.pub_sym, sym)
        copy2d_nb(st.pub_corr, corr)
        copy2d_nb(st.pub_brk, brk)
        copy1d_nb(st.pub_pool, pool)
        copy2d_nb(st.pub_rings, rings)
        fence_seq_cst()
        if load_acquire(st.seq, SEQ_WORD) == before:
            return attempt + 1
    return -1


@helper
def inbound_waiting_nb(st: EngineState) -> bool:
    return ring_available_nb(st.cmd_ctrl) + ring_available_nb(st.fill_ctrl) + ring_available_nb(st.md_ctrl) > 0


@helper
def notify_output_nb(ist: np.ndarray) -> None:
    """Orders wait in the execution ring: if the execution side sleeps on the eventfd, wake it (once)."""
    fence_seq_cst()  # our ring publish is visible before we read I_NOTIFY_ARMED (its arm reads the ring after)
    if load_acquire(ist, I_NOTIFY_ARMED) != 0:
        store_release(ist, I_NOTIFY_ARMED, 0)
        fd = ist[I_NOTIFY_FD]
        if fd >= 0:
            eventfd_signal(fd)
            ist[I_NOTIFIES] += 1


@kernel
def arm_output_notify_nb(ist: np.ndarray, out_ctrl: np.ndarray) -> int:
    """Execution side, before sleeping on the eventfd: ask for a signal; the orders already waiting (0 = sleep)."""
    store_release(ist, I_NOTIFY_ARMED, 1)
    fence_seq_cst()  # the arm is visible before we look at the ring (the core looks at the arm after publishing)
    return ring_available_nb(out_ctrl)


@helper
def take_ownership_nb(ist: np.ndarray) -> None:
    """The core thread takes the step back (after a sleep, or at start): a producer running it finishes first."""
    while not compare_exchange(ist, I_OWNER, OWNER_FREE, OWNER_CORE):
        sched_yield_now()  # a producer's pass is bounded (STEAL_MAX_STEPS batches)


@helper
def publish_if_due_nb(st: EngineState, now: int) -> None:
    if now - st.ist[I_LAST_PUBLISH_NS] >= int(st.params[P_PUBLISH_NS]):
        engine_publish_inline_nb(st)
        st.ist[I_LAST_PUBLISH_NS] = now


@kernel
def engine_run_nb(st: EngineState) -> int:
    """The core thread's loop (GIL released) until ``I_STOP`` is set; returns the iterations run.

    While it sleeps it gives up the step (``I_OWNER``): a producer that finds it asleep runs the step on its own thread
    first (:func:`kick_core_nb`), and the thread takes the step back when it wakes.
    """
    ist = st.ist
    take_ownership_nb(ist)
    store_release(ist, I_RUNNING, 1)
    publish_ns = int(st.params[P_PUBLISH_NS])
    sleep_ns = publish_ns if publish_ns < MAX_SLEEP_NS else MAX_SLEEP_NS
    idle = 0
    loops = 0
    while load_acquire(ist, I_STOP) == 0:
        loops += 1
        n = engine_step_inline_nb(st)
        if n > 0 and ring_available_nb(st.out_ctrl) > 0:
            notify_output_nb(ist)
        ist[I_LOOPS] = loops
        publish_if_due_nb(st, monotonic_ns())
        if n > 0:
            idle = 0
            continue
        idle += 1
        if idle == 1 and st.ist[I_WARM_TICKS] > 0 and st.params[P_WARM_TICKS] > 0:
            warm_nb(st, st.ist[I_WARM_SYMBOL])  # going idle: the next tick's order finds the checks warm
        if idle < SPIN_ROUNDS:
            continue
        if idle < YIELD_ROUNDS:
            sched_yield_now()
            continue
        wake = load_acquire(ist, I_WAKE)
        store_release(ist, I_SLEEPING, 1)
        store_release(ist, I_OWNER, OWNER_FREE)  # while we sleep, a producer may run the step itself
        fence_seq_cst()  # producers see I_SLEEPING before we look at the rings one last time
        if not inbound_waiting_nb(st) and load_acquire(ist, I_STOP) == 0:
            ist[I_SLEEPS] += 1
            futex_wait_ns(ist, I_WAKE, wake, sleep_ns)
        take_ownership_nb(ist)
        store_release(ist, I_SLEEPING, 0)
        idle = SPIN_ROUNDS  # after a sleep, go straight to yielding if still idle
    ist[I_LOOPS] = loops
    engine_publish_inline_nb(st)
    store_release(ist, I_RUNNING, 0)
    store_release(ist, I_OWNER, OWNER_FREE)
    return loops


@kernel
def push_ticks_nb(ctrl: np.ndarray, buf: np.ndarray, src: np.ndarray, start: int, n: int) -> int:
    """Feed side: push ``src[start:start+n]`` into the md ring, stamping each tick's ingress time; count pushed.

    Ticks that do not fit are refused and counted (one count per tick) as back-pressure.
    """
    head = ctrl[RING_HEAD]
    mask = ctrl[RING_MASK]
    take = ring_reserve_nb(ctrl, n)
    now = monotonic_ns()
    for k in range(take):
        slot = (head + k) & mask
        buf[slot] = src[start + k]
        buf[slot].ts_in_ns = now  # stamped before the release store below makes the tick visible
    if take > 0:
        ring_publish_nb(ctrl, take)
    return take


@kernel
def wake_core_nb(ist: np.ndarray) -> None:
    """Producers: call after pushing, so a sleeping core picks the records up at once."""
    fence_seq_cst()  # our ring publish is visible before we read I_SLEEPING
    if load_acquire(ist, I_SLEEPING) != 0:
        store_release(ist, I_WAKE, ist[I_WAKE] + 1)
        futex_wake(ist, I_WAKE)


@kernel
def core_sleeping_nb(ist: np.ndarray) -> bool:
    """Producers, after pushing: whether the core thread sleeps (the fence orders our push before the look)."""
    fence_seq_cst()
    return load_acquire(ist, I_SLEEPING) != 0


@kernel
def kick_core_nb(st: EngineState) -> int:
    """Producers, after pushing: if the core thread is asleep, run the step here and now; the records handled.

    Waking a sleeping thread costs the wake-up of its CPU: 30-850 us measured on a 2-vCPU VM, more than the order
    path's 100 us limit, for every batch of a feed that pauses between batches. Instead the producer takes the step
    (``I_OWNER``: one thread at a time runs it, handed over with an atomic compare-and-swap, so the core's state and
    its rings keep one consumer at a time) and runs it to the end of what waits, bounded. Then it wakes the core
    thread anyway, off the order path: the thread takes whatever the bound left, and is awake for the next records
    of a steady stream. A step it could not take (the core thread waking, another producer in it) wakes the thread.
    """
    ist = st.ist
    fence_seq_cst()  # our ring publish is visible before we read I_SLEEPING
    if load_acquire(ist, I_SLEEPING) == 0:
        return 0  # awake: it sees the records at its next pass
    if not compare_exchange(ist, I_OWNER, OWNER_FREE, OWNER_PRODUCER):
        wake_core_nb(ist)
        return 0
    handled = 0
    for _ in range(STEAL_MAX_STEPS):
        n = engine_step_nb(st)  # a call, not inlined: one per pass of up to batch_max records
        if n == 0:
            break
        handled += n
    if handled > 0:
        ist[I_STEALS] += 1
        if ring_available_nb(st.out_ctrl) > 0:
            notify_output_nb(ist)
        if st.ist[I_WARM_TICKS] > 0 and st.params[P_WARM_TICKS] > 0:
            warm_nb(st, st.ist[I_WARM_SYMBOL])  # the next order finds the checks warm, as after the thread's own pass
        publish_if_due_nb(st, monotonic_ns())
    store_release(ist, I_OWNER, OWNER_FREE)
    if handled > 0:
        # and wake the thread for what comes next: it spins a moment before sleeping again, so a steady stream
        # finds it awake (a producer's pass costs it the call into the step, ~2 us from Python) and anything left
        # here is taken at once
        wake_core_nb(ist)
    else:
        fence_seq_cst()
        if inbound_waiting_nb(st):
            wake_core_nb(ist)  # pushed meanwhile: the thread takes it
    return handled


__all__ = [
    "engine_step_nb",
    "engine_run_nb",
    "engine_publish_nb",
    "engine_read_nb",
    "wake_core_nb",
    "arm_output_notify_nb",
    "STATUS_FILLED",
    "EXEC_FILL",
    "TICK_TRADE",
]
