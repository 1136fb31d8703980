"""Commands and the trading state: kill, re-arm, pause, manual orders, cancels; the drawdown's state machine.

ACTIVE -> REDUCING at the warning drawdown, -> HALTED at the breaker's (cancelling entries, keeping the exits that
protect open positions), REDUCING -> ACTIVE below the resume level. A kill goes straight to HALTED and cancels every
open order; a re-arm must quote the halt's sequence number and wait out the cool-down. Every change is appended to
the state log ring for the journal.
"""

from __future__ import annotations

import math

import numpy as np

from bot4.core.atomics import load_acquire, monotonic_ns
from bot4.core.jit import helper, routine
from bot4.core.orders import cancel_all_nb, cancel_slot_nb, emit_order_nb, order_is_open_nb, want_flat_nb
from bot4.core.records import (
    CMD_CANCEL,
    CMD_CANCEL_ALL,
    CMD_FLATTEN,
    CMD_KILL,
    CMD_MANUAL_ORDER,
    CMD_PAUSE,
    CMD_REARM,
    CMD_RESUME,
    FLAG_KILL,
    FLAG_MANUAL,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP_LIMIT,
    REASON_OFF_STEP,
    REASON_OK,
    REASON_REARM_CONFIRM,
    REASON_REARM_COOLDOWN,
    REASON_REARM_NOT_HALTED,
    REASON_RING_FULL,
    REASON_TP_WRONG_SIDE,
    REASON_UNKNOWN_ORDER,
    REASON_UNKNOWN_SYMBOL,
    STATE_ACTIVE,
    STATE_CAUSE_DRAWDOWN_HALT,
    STATE_CAUSE_DRAWDOWN_WARN,
    STATE_CAUSE_KILL,
    STATE_CAUSE_REARM,
    STATE_CAUSE_RECOVERED,
    STATE_HALTED,
    STATE_REDUCING,
    TIF_GTC,
    TIF_IOC,
)
from bot4.core.ring import ring_claim_nb, ring_publish_nb
from bot4.core.state import CMD_RESULTS, ORDER_SLOT_MASK, W_KILL, EngineState
from bot4.core.stats import C_COMMANDS, C_KILLS, C_REARM_REFUSED, C_STATE_CHANGES, count_reject_nb, counter_add_nb


@routine
def set_trading_state_nb(st: EngineState, to: int, cause: int, now: int) -> None:
    frm = st.core[0].trading_state
    if frm == to:
        return
    st.core[0].trading_state = to
    st.core[0].state_since_ns = now
    if to == STATE_HALTED:
        st.core[0].halt_seq += 1
        st.core[0].rearm_after_ns = now + st.params[0].rearm_cooldown_ns
    counter_add_nb(st.stats, C_STATE_CHANGES, 1)
    slot = ring_claim_nb(st.rings.state_log.ctrl)
    if slot >= 0:
        rec = st.rings.state_log.buf[slot]
        rec.ts_ns = now
        rec.ts_exch_ns = st.core[0].clock_ns
        rec.from_state = frm
        rec.to_state = to
        rec.cause = cause
        rec.equity = st.acct[0].equity
        rec.drawdown = st.acct[0].drawdown
        ring_publish_nb(st.rings.state_log.ctrl, 1)


@helper
def update_risk_state_nb(st: EngineState, now: int) -> None:
    """Drawdown -> trading state: warn level to REDUCING, breaker level to HALTED (cancel all), recovery to ACTIVE."""
    dd = st.acct[0].drawdown
    state = st.core[0].trading_state
    if dd >= st.params[0].dd_halt * (1.0 - 1e-9):
        if state != STATE_HALTED:
            set_trading_state_nb(st, STATE_HALTED, STATE_CAUSE_DRAWDOWN_HALT, now)
            cancel_all_nb(st, now, True)  # entries go; the exits protecting open positions keep working
    elif dd >= st.params[0].dd_warn * (1.0 - 1e-9):
        if state == STATE_ACTIVE:
            set_trading_state_nb(st, STATE_REDUCING, STATE_CAUSE_DRAWDOWN_WARN, now)
    elif dd < st.params[0].dd_resume and state == STATE_REDUCING:
        set_trading_state_nb(st, STATE_ACTIVE, STATE_CAUSE_RECOVERED, now)


@helper
def kill_requested_nb(st: EngineState) -> bool:
    """A kill was asked for (``W_KILL`` bumped) since the last one the core applied."""
    return load_acquire(st.sync, W_KILL) != st.core[0].kill_seen


@routine
def apply_kill_nb(st: EngineState, now: int) -> None:
    set_trading_state_nb(st, STATE_HALTED, STATE_CAUSE_KILL, now)
    st.core[0].kills += 1
    counter_add_nb(st.stats, C_KILLS, 1)
    cancel_all_nb(st, now, False)
    st.core[0].kill_ns = monotonic_ns()
    if st.params[0].flatten_on_kill:
        for s in range(st.sym.shape[0]):
            want_flat_nb(st, s, FLAG_KILL, 0)


@helper
def manual_order_shape_nb(st: EngineState, s: int, side: int, size: float, ref: float, tp: float) -> int:
    """What the strategies' own orders get right by construction and a person may not: a size the venue can take
    (at least the minimum, a whole number of steps) and a take-profit on the profit side of the entry."""
    row = st.sym[s]
    if size > 0.0 and not math.isinf(size):
        steps = size / row.size_step
        if size < row.min_size * (1.0 - 1e-9) or abs(steps - round(steps)) > 1e-6:
            return REASON_OFF_STEP
    if tp == tp and ref == ref and side * (tp - ref) <= 0.0:
        return REASON_TP_WRONG_SIDE
    return REASON_OK


@routine
def on_command_nb(st: EngineState, slot: int, now: int) -> None:
    c = st.rings.commands.buf[slot]
    kind = c.kind
    reason = REASON_OK
    if kind == CMD_KILL:
        apply_kill_nb(st, now)
    elif kind == CMD_REARM:
        if st.core[0].trading_state != STATE_HALTED:
            reason = REASON_REARM_NOT_HALTED
        elif c.arg != st.core[0].halt_seq:
            reason = REASON_REARM_CONFIRM
        elif now < st.core[0].rearm_after_ns:
            reason = REASON_REARM_COOLDOWN
        else:
            st.acct[0].peak = st.acct[0].equity  # re-arming accepts the loss: drawdown is measured anew
            st.acct[0].drawdown = 0.0
            st.core[0].loss_streak = 0
            st.core[0].entry_cooldown_until = 0
            set_trading_state_nb(st, STATE_ACTIVE, STATE_CAUSE_REARM, now)
        if reason != REASON_OK:
            counter_add_nb(st.stats, C_REARM_REFUSED, 1)
            count_reject_nb(st.stats, reason)
    elif kind == CMD_PAUSE:
        st.core[0].paused = 1
    elif kind == CMD_RESUME:
        st.core[0].paused = 0
    elif kind == CMD_MANUAL_ORDER:
        s = c.symbol_id
        if s < 0 or s >= st.sym.shape[0]:
            reason = REASON_UNKNOWN_SYMBOL
            count_reject_nb(st.stats, reason)
        else:
            otype = c.order_type if c.order_type != 0 else ORDER_MARKET
            is_limit = otype == ORDER_LIMIT or otype == ORDER_STOP_LIMIT
            tif = c.tif if c.tif != 0 else (TIF_GTC if is_limit else TIF_IOC)
            ref = c.price if is_limit else st.sym[s].last_px
            price = c.price if is_limit else np.nan
            reason = manual_order_shape_nb(st, s, c.side, c.size, ref, c.take_profit_px)
            if reason == REASON_OK:
                reason = emit_order_nb(
                    st, s, c.side, otype, tif, price, ref, c.size, c.stop_px, c.take_profit_px, FLAG_MANUAL, c.ts_in_ns
                )
            else:
                count_reject_nb(st.stats, reason)
    elif kind == CMD_CANCEL:
        ps = c.arg & ORDER_SLOT_MASK
        if ps < st.pool.records.shape[0] and order_is_open_nb(st, ps) and st.pool.records[ps].client_order_id == c.arg:
            if not cancel_slot_nb(st, ps, now):
                reason = REASON_RING_FULL
        else:
            reason = REASON_UNKNOWN_ORDER
    elif kind == CMD_CANCEL_ALL:
        cancel_all_nb(st, now, False)
    elif kind == CMD_FLATTEN:
        for s in range(st.sym.shape[0]):
            want_flat_nb(st, s, FLAG_KILL | FLAG_MANUAL, c.ts_in_ns)
    st.core[0].last_cmd_seq = c.seq
    st.core[0].cmd_result_seq[c.seq % CMD_RESULTS] = c.seq
    st.core[0].cmd_result[c.seq % CMD_RESULTS] = reason
    st.core[0].last_cmd_reason = reason
    st.core[0].last_cmd_kind = kind
    counter_add_nb(st.stats, C_COMMANDS, 1)
