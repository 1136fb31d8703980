"""Circuit breakers: CLOSED / OPEN / HALF_OPEN over error rate, consecutive failures, latency and staleness.

One breaker per venue and one per feed, each a row of the int64 ``brk`` table with its thresholds in ``brk_cfg``.
The side that makes the calls (the asyncio thread) reports outcomes and asks ``breaker_allow_nb`` before a call;
the core only reads ``B_STATE`` to refuse orders to an open venue and entries on a stale feed. Every transition is
appended to the transition ring (timestamp, from, to, cause) and counted per state.

- CLOSED -> OPEN: ``consecutive_failures`` in a row; or, with at least ``min_calls`` in the window, a failure
  fraction >= ``error_rate`` over the last ``window`` calls (a call slower than ``slow_call_s`` is a failure); or no
  success for ``stale_after_s``.
- OPEN -> HALF_OPEN: ``open_timeout_s`` after opening, on the next ``allow``.
- HALF_OPEN: at most ``probes`` calls are admitted at once; any failure reopens, ``probes`` successes close.
"""

from __future__ import annotations

import numpy as np

from bot4.core.atomics import popcount64
from bot4.core.jit import kernel
from bot4.core.records import (
    BREAKER_CLOSED,
    BREAKER_HALF_OPEN,
    BREAKER_OPEN,
    CAUSE_CONSECUTIVE,
    CAUSE_ERROR_RATE,
    CAUSE_LATENCY,
    CAUSE_PROBE_FAILED,
    CAUSE_PROBES_PASSED,
    CAUSE_STALE,
    CAUSE_TIMEOUT_ELAPSED,
)
from bot4.core.ring import ring_claim_nb, ring_publish_nb
from bot4.core.state import (
    B_CALLS,
    B_CONSEC_FAIL,
    B_FAILURES,
    B_LAST_CAUSE,
    B_LAST_LATENCY_NS,
    B_LAST_OK_NS,
    B_OUTCOMES,
    B_PROBES_OK,
    B_PROBES_OUT,
    B_SINCE_NS,
    B_STATE,
    B_TO_CLOSED,
    B_TO_HALF_OPEN,
    B_TO_OPEN,
    B_TOTAL,
    BC_CONSEC,
    BC_ERROR_RATE,
    BC_MIN_CALLS,
    BC_OPEN_NS,
    BC_PROBES,
    BC_SLOW_NS,
    BC_STALE_NS,
    BC_WINDOW,
)


@kernel
def breaker_transition_nb(
    brk: np.ndarray, b: int, to: int, cause: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> None:
    frm = brk[b, B_STATE]
    if frm == to:
        return
    brk[b, B_STATE] = to
    brk[b, B_SINCE_NS] = now
    brk[b, B_LAST_CAUSE] = cause
    brk[b, B_PROBES_OK] = 0
    brk[b, B_PROBES_OUT] = 0
    if to == BREAKER_CLOSED:
        brk[b, B_TO_CLOSED] += 1
        brk[b, B_OUTCOMES] = 0
        brk[b, B_CALLS] = 0
        brk[b, B_CONSEC_FAIL] = 0
    elif to == BREAKER_OPEN:
        brk[b, B_TO_OPEN] += 1
    else:
        brk[b, B_TO_HALF_OPEN] += 1
    slot = ring_claim_nb(trans_ctrl)
    if slot >= 0:
        rec = trans_buf[slot]
        rec.ts_ns = now
        rec.breaker_id = b
        rec.from_state = frm
        rec.to_state = to
        rec.cause = cause
        ring_publish_nb(trans_ctrl, 1)


@kernel
def breaker_allow_nb(
    brk: np.ndarray, cfg: np.ndarray, b: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> bool:
    """May a call go out now? In HALF_OPEN an admitted call is a probe and must be reported."""
    state = brk[b, B_STATE]
    if state == BREAKER_CLOSED:
        return True
    if state == BREAKER_OPEN:
        if now - brk[b, B_SINCE_NS] < cfg[b, BC_OPEN_NS]:
            return False
        breaker_transition_nb(brk, b, BREAKER_HALF_OPEN, CAUSE_TIMEOUT_ELAPSED, now, trans_buf, trans_ctrl)
    if brk[b, B_PROBES_OUT] + brk[b, B_PROBES_OK] < cfg[b, BC_PROBES]:
        brk[b, B_PROBES_OUT] += 1
        return True
    return False


@kernel
def breaker_record_nb(
    brk: np.ndarray,
    cfg: np.ndarray,
    b: int,
    now: int,
    ok: bool,
    latency_ns: int,
    trans_buf: np.ndarray,
    trans_ctrl: np.ndarray,
) -> int:
    """Report one call's outcome; returns the breaker's state afterwards."""
    slow = latency_ns > cfg[b, BC_SLOW_NS]
    failed = (not ok) or slow
    brk[b, B_TOTAL] += 1
    brk[b, B_LAST_LATENCY_NS] = latency_ns
    window = int(cfg[b, BC_WINDOW])
    mask = np.int64(-1) if window >= 64 else (np.int64(1) << window) - 1
    brk[b, B_OUTCOMES] = ((brk[b, B_OUTCOMES] << 1) | (1 if failed else 0)) & mask
    if brk[b, B_CALLS] < window:
        brk[b, B_CALLS] += 1
    if failed:
        brk[b, B_FAILURES] += 1
        brk[b, B_CONSEC_FAIL] += 1
    else:
        brk[b, B_CONSEC_FAIL] = 0
        brk[b, B_LAST_OK_NS] = now
    state = brk[b, B_STATE]
    if state == BREAKER_HALF_OPEN:
        if brk[b, B_PROBES_OUT] > 0:
            brk[b, B_PROBES_OUT] -= 1
        if failed:
            breaker_transition_nb(brk, b, BREAKER_OPEN, CAUSE_PROBE_FAILED, now, trans_buf, trans_ctrl)
        else:
            brk[b, B_PROBES_OK] += 1
            if brk[b, B_PROBES_OK] >= cfg[b, BC_PROBES]:
                breaker_transition_nb(brk, b, BREAKER_CLOSED, CAUSE_PROBES_PASSED, now, trans_buf, trans_ctrl)
    elif state == BREAKER_CLOSED and failed:
        cause = 0
        if brk[b, B_CONSEC_FAIL] >= cfg[b, BC_CONSEC]:
            cause = CAUSE_LATENCY if slow and ok else CAUSE_CONSECUTIVE
        elif brk[b, B_CALLS] >= cfg[b, BC_MIN_CALLS]:
            if popcount64(brk[b, B_OUTCOMES]) >= cfg[b, BC_ERROR_RATE] * brk[b, B_CALLS]:
                cause = CAUSE_LATENCY if slow and ok else CAUSE_ERROR_RATE
        if cause != 0:
            breaker_transition_nb(brk, b, BREAKER_OPEN, cause, now, trans_buf, trans_ctrl)
    return brk[b, B_STATE]


@kernel
def breaker_check_stale_nb(
    brk: np.ndarray, cfg: np.ndarray, b: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> int:
    """Open a CLOSED breaker that has seen no success for ``stale_after_s``; returns the state."""
    stale = cfg[b, BC_STALE_NS]
    last = brk[b, B_LAST_OK_NS]
    if brk[b, B_STATE] == BREAKER_CLOSED and stale > 0 and last > 0 and now - last > stale:
        breaker_transition_nb(brk, b, BREAKER_OPEN, CAUSE_STALE, now, trans_buf, trans_ctrl)
    return brk[b, B_STATE]


@kernel
def breaker_force_nb(
    brk: np.ndarray, b: int, to: int, cause: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> None:
    """Put a breaker in a state by hand (operator or test)."""
    breaker_transition_nb(brk, b, to, cause, now, trans_buf, trans_ctrl)
