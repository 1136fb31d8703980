"""Circuit breakers: CLOSED / OPEN / HALF_OPEN over error rate, consecutive failures, latency and staleness.

One breaker per venue and one per feed, each a BREAKER_DTYPE row of ``brk`` with its thresholds in ``brk_cfg``.
The side that makes the calls (the asyncio thread) reports outcomes and asks ``breaker_allow_nb`` before a call;
the core only reads a breaker's ``state`` to refuse orders to an open venue and entries on a stale feed. Every transition is
appended to the transition ring (timestamp, from, to, cause) and counted per state.

- CLOSED -> OPEN: ``consecutive_failures`` in a row; or, with at least ``min_calls`` in the window, a failure
  fraction >= ``error_rate`` over the last ``window`` calls (a call slower than ``slow_call_s`` is a failure); or no
  success for ``stale_after_s``.
- OPEN -> HALF_OPEN: ``open_timeout_s`` after opening, on the next ``allow``.
- HALF_OPEN: at most ``probes`` calls are admitted at once; any failure reopens, ``probes`` successes close.
"""

from __future__ import annotations

import time

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


@kernel
def breaker_transition_nb(
    brk: np.ndarray, b: int, to: int, cause: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> None:
    frm = brk[b].state
    if frm == to:
        return
    brk[b].state = to
    brk[b].since_ns = now
    brk[b].last_cause = cause
    brk[b].probes_ok = 0
    brk[b].probes_out = 0
    if to == BREAKER_CLOSED:
        brk[b].to_closed += 1
        brk[b].outcomes = 0
        brk[b].calls = 0
        brk[b].consec_fail = 0
    elif to == BREAKER_OPEN:
        brk[b].to_open += 1
    else:
        brk[b].to_half_open += 1
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
    state = brk[b].state
    if state == BREAKER_CLOSED:
        return True
    if state == BREAKER_OPEN:
        if now - brk[b].since_ns < cfg[b].open_ns:
            return False
        breaker_transition_nb(brk, b, BREAKER_HALF_OPEN, CAUSE_TIMEOUT_ELAPSED, now, trans_buf, trans_ctrl)
    if brk[b].probes_out + brk[b].probes_ok < cfg[b].probes:
        brk[b].probes_out += 1
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
    slow = latency_ns > cfg[b].slow_ns
    failed = (not ok) or slow
    brk[b].total += 1
    brk[b].last_latency_ns = latency_ns
    window = cfg[b].window
    mask = np.int64(-1) if window >= 64 else (np.int64(1) << window) - 1
    brk[b].outcomes = ((brk[b].outcomes << 1) | (1 if failed else 0)) & mask
    if brk[b].calls < window:
        brk[b].calls += 1
    if failed:
        brk[b].failures += 1
        brk[b].consec_fail += 1
    else:
        brk[b].consec_fail = 0
        brk[b].last_ok_ns = now
    state = brk[b].state
    if state == BREAKER_HALF_OPEN:
        if brk[b].probes_out > 0:
            brk[b].probes_out -= 1
        if failed:
            breaker_transition_nb(brk, b, BREAKER_OPEN, CAUSE_PROBE_FAILED, now, trans_buf, trans_ctrl)
        else:
            brk[b].probes_ok += 1
            if brk[b].probes_ok >= cfg[b].probes:
                breaker_transition_nb(brk, b, BREAKER_CLOSED, CAUSE_PROBES_PASSED, now, trans_buf, trans_ctrl)
    elif state == BREAKER_CLOSED and failed:
        cause = 0
        if brk[b].consec_fail >= cfg[b].consec:
            cause = CAUSE_LATENCY if slow and ok else CAUSE_CONSECUTIVE
        elif brk[b].calls >= cfg[b].min_calls:
            if popcount64(brk[b].outcomes) >= cfg[b].error_rate * brk[b].calls:
                cause = CAUSE_LATENCY if slow and ok else CAUSE_ERROR_RATE
        if cause != 0:
            breaker_transition_nb(brk, b, BREAKER_OPEN, cause, now, trans_buf, trans_ctrl)
    return brk[b].state


@kernel
def breaker_check_stale_nb(
    brk: np.ndarray, cfg: np.ndarray, b: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> int:
    """Open a CLOSED breaker that has seen no success for ``stale_after_s``; returns the state."""
    stale = cfg[b].stale_ns
    last = brk[b].last_ok_ns
    if brk[b].state == BREAKER_CLOSED and stale > 0 and last > 0 and now - last > stale:
        breaker_transition_nb(brk, b, BREAKER_OPEN, CAUSE_STALE, now, trans_buf, trans_ctrl)
    return brk[b].state


@kernel
def breaker_force_nb(
    brk: np.ndarray, b: int, to: int, cause: int, now: int, trans_buf: np.ndarray, trans_ctrl: np.ndarray
) -> None:
    """Put a breaker in a state by hand (operator or test)."""
    breaker_transition_nb(brk, b, to, cause, now, trans_buf, trans_ctrl)


class BreakerBank:
    """The Python owner of the breaker table, for the side that makes the calls (the asyncio thread).

    A venue adapter gets this, not the whole core: it asks before a call, reports each call's outcome, and reads
    a breaker's state; every transition goes to the core's transition ring.
    """

    def __init__(self, brk: np.ndarray, cfg: np.ndarray, transitions_buf: np.ndarray, transitions_ctrl: np.ndarray,
                 n_venues: int) -> None:
        self.brk, self.cfg = brk, cfg
        self._tbuf, self._tctrl = transitions_buf, transitions_ctrl
        self.n_venues = n_venues

    def venue(self, venue_id: int) -> int:
        """The breaker of venue ``venue_id``'s REST calls."""
        return venue_id

    def feed(self, venue_id: int) -> int:
        """The breaker of venue ``venue_id``'s market-data streams."""
        return self.n_venues + venue_id

    def allow(self, b: int) -> bool:
        return bool(breaker_allow_nb(self.brk, self.cfg, b, time.monotonic_ns(), self._tbuf, self._tctrl))

    def record(self, b: int, ok: bool, latency_ns: int) -> int:
        return int(breaker_record_nb(self.brk, self.cfg, b, time.monotonic_ns(), ok, latency_ns, self._tbuf, self._tctrl))

    def check_stale(self, b: int) -> int:
        return int(breaker_check_stale_nb(self.brk, self.cfg, b, time.monotonic_ns(), self._tbuf, self._tctrl))

    def state(self, b: int) -> int:
        return int(self.brk["state"][b])
