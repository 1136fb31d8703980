"""Core and paper venue in lockstep, one tick at a time: the backtest, and the paper engine on recorded data.

On replayed data the feed, the core and the venue must not race: an order the core sends in reaction to tick i
meets the market from tick i on (plus the venue's latency), however fast the replay runs, and the core learns of a
fill before it decides on the next tick. ``replay_lockstep_nb`` runs the three in one compiled loop per tick: the
venue sees the tick first (fills of resting orders), then the core (it reads those fills, then the tick), then the
venue takes the core's new orders. Market time decides everything, so a run gives the same orders, fills and
equity whether it replays at full speed or paced to a clock, in a backtest or in the running engine.

The venue's intake and its reports are copied to two tap rings as they happen, for the journal and the views
(the running engine drains them after each batch), and the execution gate is a flag the venue's intake reads: while
it is closed, new orders are refused back to the core (``VENUE_GATE_CLOSED``) and only cancels go in. Whoever runs
the loop holds the core's step (``W_OWNER``), so a command arriving meanwhile is handled inside the loop, at the
next tick, and one arriving between batches by the caller's own thread (``kick_core_nb``).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from bot4.core.atomics import compare_exchange, monotonic_ns, sched_yield_now, store_release
from bot4.core.jit import bind, helper, kernel
from bot4.core.publish import publish_if_due_nb
from bot4.core.records import ACTION_CANCEL, EXEC_REJECTED, FILL_DTYPE, ORDER_DTYPE, TICK_DTYPE, VENUE_GATE_CLOSED
from bot4.core.ring import (
    RING_HEAD,
    RING_MASK,
    RING_TAIL,
    Ring,
    ring_advance_nb,
    ring_available_nb,
    ring_claim_nb,
    ring_publish_nb,
    ring_room_nb,
    ring_slot_nb,
)
from bot4.core.runner import Core
from bot4.core.state import OWNER_FREE, OWNER_PRODUCER, W_OWNER, EngineState, RingArrays, UserArrays
from bot4.core.step import engine_step_at_nb, engine_step_nb
from bot4.core.thread import push_ticks_at_nb
from bot4.venues.paper import PaperExchange
from bot4.venues.paper_kernels import PaperState, paper_on_tick_nb, paper_submit_nb

TAP_ROOM = 64  # orders one tick's step may emit at most, beside the reports (kills, flattens: one per symbol)


class Taps(NamedTuple):
    orders: RingArrays  # every order record the venue took (submits and cancels), in order
    reports: RingArrays  # every execution report the venue produced, in order
    gate: np.ndarray  # int64[1]: 1 while the execution gate is open


@helper
def tap_reports_nb(rep_ctrl: np.ndarray, rep_buf: np.ndarray, head0: int, taps: Taps) -> None:
    """Copy the reports published into the core's fill ring since ``head0`` to the report tap."""
    head = rep_ctrl[RING_HEAD]
    mask = rep_ctrl[RING_MASK]
    tap = taps.reports
    for h in range(head0, head):
        slot = ring_claim_nb(tap.ctrl)
        if slot >= 0:  # room was checked before the tick; a full tap only loses a copy, never a report
            tap.buf[slot] = rep_buf[h & mask]
            ring_publish_nb(tap.ctrl, 1)


@helper
def venue_intake_nb(st: EngineState, ps: PaperState, taps: Taps) -> int:
    """The core's waiting orders into the venue (through the gate), each copied to the order tap; how many."""
    out_ctrl, out_buf = st.rings.orders.ctrl, st.rings.orders.buf
    rep_ctrl, rep_buf = st.rings.fills.ctrl, st.rings.fills.buf
    n = ring_available_nb(out_ctrl)
    done = 0
    for k in range(n):
        if ring_room_nb(rep_ctrl) < 4 or ring_room_nb(taps.orders.ctrl) < 1:
            ps.venue[0].blocked += 1
            break
        i = ring_slot_nb(out_ctrl, k)
        o = out_buf[i]
        slot = ring_claim_nb(taps.orders.ctrl)
        taps.orders.buf[slot] = o
        ring_publish_nb(taps.orders.ctrl, 1)
        if taps.gate[0] == 0 and o.action != ACTION_CANCEL:
            r_slot = ring_claim_nb(rep_ctrl)
            r = rep_buf[r_slot]
            r.client_order_id = o.client_order_id
            r.ts_exch_ns = ps.venue[0].clock
            r.ts_in_ns = monotonic_ns()
            r.symbol_id = o.symbol_id
            r.venue_id = o.venue_id
            r.kind = EXEC_REJECTED
            r.side = o.side
            r.liquidity = 0
            r.reason = VENUE_GATE_CLOSED
            r.price = np.nan
            r.size = 0.0
            r.fee = 0.0
            r.leaves = 0.0
            ring_publish_nb(rep_ctrl, 1)
        else:
            paper_submit_nb(ps, out_buf, i, rep_ctrl, rep_buf)
        done += 1
    if done > 0:
        ring_advance_nb(out_ctrl, done)
    return done


@kernel
def replay_lockstep_nb(
    st: EngineState, user: UserArrays, ps: PaperState, ticks: np.ndarray, start: int, n: int, taps: Taps
) -> int:
    """Replay ``ticks[start:start+n]`` through venue and core in lockstep; ticks done (fewer when a ring or a tap
    needs draining first)."""
    rep_ctrl, rep_buf = st.rings.fills.ctrl, st.rings.fills.buf
    for k in range(n):
        need = 2 * ps.venue[0].live + 8
        if ring_room_nb(rep_ctrl) < need:
            engine_step_nb(st, user)  # let the core drain its reports first
            if ring_room_nb(rep_ctrl) < need:
                return k
        if ring_room_nb(st.rings.md.ctrl) < 1 or ring_room_nb(taps.reports.ctrl) < need + TAP_ROOM:
            return k
        if ring_room_nb(taps.orders.ctrl) < TAP_ROOM:
            return k
        head0 = rep_ctrl[RING_HEAD]
        paper_on_tick_nb(ps, ticks, start + k, rep_ctrl, rep_buf)
        now = monotonic_ns()  # one clock read stamps the tick and starts its step
        push_ticks_at_nb(st.rings.md.ctrl, st.rings.md.buf, ticks, start + k, 1, now)
        engine_step_at_nb(st, user, now)
        venue_intake_nb(st, ps, taps)
        tap_reports_nb(rep_ctrl, rep_buf, head0, taps)
    engine_step_nb(st, user)
    return n


class LaneArrays(NamedTuple):
    """One lane of a backtest: a core and its paper venue in lockstep (``Lockstep.lane``)."""

    st: EngineState
    user: UserArrays
    ps: PaperState
    taps: Taps


ACCT_COLUMNS = 4  # what replay_lanes_nb samples per bar: equity, realized, fees, gross exposure


@kernel
def replay_lanes_nb(
    lanes: tuple[LaneArrays, ...],
    ticks: np.ndarray,
    ends: np.ndarray,
    pos: np.ndarray,
    bar: np.ndarray,
    curves: np.ndarray,
    bar_stop: int,
) -> int:
    """Several lanes (parameter sets) through the same bars of ``ticks`` in one pass: every lane through bar ``k``
    (ticks up to ``ends[k]``, exclusive) before any starts bar ``k + 1``, so a bar's ticks come from cache for all but
    the first, and each lane's account is sampled into ``curves[lane, k]`` (``ACCT_COLUMNS``) at the bar's end.
    ``pos[lane]`` and ``bar[lane]`` (the next tick, the next bar) say where each lane is and are updated; bars up to
    ``bar_stop`` (exclusive) are walked. -1 when every lane got there, else the first lane that stopped short: its
    taps or rings need draining before it can go on. The lanes' arrays must have one type (a tuple of one type).
    For backtests only: it does not take the cores' step (``W_OWNER``), so no other thread may drive these cores."""
    k = bar_stop
    for i in range(len(lanes)):
        if bar[i] < k:
            k = bar[i]
    while k < bar_stop:
        end = ends[k]
        for i in range(len(lanes)):
            if bar[i] > k:
                continue
            lane = lanes[i]
            want = end - pos[i]
            if want > 0:
                done = replay_lockstep_nb(lane.st, lane.user, lane.ps, ticks, pos[i], want, lane.taps)
                pos[i] += done
                if done < want:
                    return i
            a = lane.st.acct[0]
            curves[i, k, 0] = a.equity
            curves[i, k, 1] = a.realized
            curves[i, k, 2] = a.fees
            curves[i, k, 3] = a.gross
            bar[i] = k + 1
        k += 1
    return -1


@helper
def take_step_nb(st: EngineState) -> None:
    while not compare_exchange(st.sync, W_OWNER, OWNER_FREE, OWNER_PRODUCER):
        sched_yield_now()  # a producer's pass is bounded (STEAL_MAX_STEPS batches)


@kernel
def replay_owned_nb(
    st: EngineState, user: UserArrays, ps: PaperState, ticks: np.ndarray, start: int, n: int, taps: Taps
) -> int:
    """:func:`replay_lockstep_nb` holding the core's step (the running engine: commands come from other threads)."""
    take_step_nb(st)
    done = replay_lockstep_nb(st, user, ps, ticks, start, n, taps)
    publish_if_due_nb(st, monotonic_ns())
    store_release(st.sync, W_OWNER, OWNER_FREE)
    return done


@kernel
def intake_owned_nb(st: EngineState, ps: PaperState, taps: Taps) -> int:
    """Orders a command left in the core's ring (a manual order, a kill's cancels) into the venue, between batches;
    the core handles the venue's answers at its next step. -1 when a batch holds the step (it takes them itself)."""
    if not compare_exchange(st.sync, W_OWNER, OWNER_FREE, OWNER_PRODUCER):
        return -1
    rep_ctrl = st.rings.fills.ctrl
    head0 = rep_ctrl[RING_HEAD]
    done = venue_intake_nb(st, ps, taps)
    tap_reports_nb(rep_ctrl, st.rings.fills.buf, head0, taps)
    store_release(st.sync, W_OWNER, OWNER_FREE)
    return done


class Lockstep:
    """The Python owner of a lockstep pair: a core (not running on its thread) and a paper venue, with the taps."""

    def __init__(self, core: Core, venue: PaperExchange, tap_capacity: int = 1 << 16, bind_now: bool = True) -> None:
        """``bind_now=False``: the replay and intake kernels are bound at first use (a backtest walks the pair as a
        lane of ``replay_lanes_nb`` and needs neither); the running engine binds them here, so its first kill never
        waits for a kernel to load."""
        if core.running:
            raise RuntimeError("a lockstep replay drives the core itself: stop its thread first")
        self.core, self.venue = core, venue
        venue.attach(core.parts.fills)
        self.order_tap = Ring(ORDER_DTYPE, tap_capacity, "order_tap")
        self.report_tap = Ring(FILL_DTYPE, tap_capacity, "report_tap")
        self.gate = np.ones(1, np.int64)
        self.taps = Taps(RingArrays(self.order_tap.buf, self.order_tap.ctrl),
                         RingArrays(self.report_tap.buf, self.report_tap.ctrl), self.gate)
        self.lane = LaneArrays(core.state, core.user, venue.state, self.taps)
        self._run: Any = None
        self._intake: Any = None
        if bind_now:
            self._bind()

    def _bind(self) -> None:
        one = np.zeros(1, TICK_DTYPE)
        core, venue = self.core, self.venue
        self._run = bind(replay_owned_nb, core.state, core.user, venue.state, one, 0, 0, self.taps)
        self._intake = bind(intake_owned_nb, core.state, venue.state, self.taps)

    def run(self, ticks: np.ndarray, start: int, n: int) -> int:
        """Replay ``ticks[start:start+n]``; ticks done (the GIL is released meanwhile: any thread may call this)."""
        if self._run is None:
            self._bind()
        return int(self._run(self.core.state, self.core.user, self.venue.state, ticks, start, n, self.taps))

    def intake(self) -> int:
        """Hand the core's waiting orders to the venue now, unless a batch is running (it takes them at its next
        tick); how many went."""
        ctrl = self.core.parts.orders.ctrl
        if ctrl[RING_HEAD] == ctrl[RING_TAIL]:
            return 0
        if self._intake is None:
            self._bind()
        return max(0, int(self._intake(self.core.state, self.venue.state, self.taps)))

    def set_gate(self, open_: bool) -> None:
        self.gate[0] = 1 if open_ else 0


    def replay(self, ticks: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """Every tick through core and venue (nobody else driving them); every order the venue took and every report
        it made, in order."""
        orders, reports = [], []
        buf_o = np.zeros(self.order_tap.capacity, ORDER_DTYPE)
        buf_r = np.zeros(self.report_tap.capacity, FILL_DTYPE)

        def drain() -> None:
            n = self.order_tap.pop_many(buf_o)
            if n:
                orders.append(buf_o[:n].copy())
            m = self.report_tap.pop_many(buf_r)
            if m:
                reports.append(buf_r[:m].copy())

        pos = 0
        while pos < len(ticks):
            done = self.run(ticks, pos, min(chunk, len(ticks) - pos))
            drain()
            if done == 0:
                self.core.drain()
                done = self.run(ticks, pos, min(chunk, len(ticks) - pos))
                drain()
                if done == 0:
                    raise RuntimeError("the replay made no progress: the core's rings stay full")
            pos += done
        self.core.drain()
        return (np.concatenate(orders) if orders else np.zeros(0, ORDER_DTYPE),
                np.concatenate(reports) if reports else np.zeros(0, FILL_DTYPE))


def run_backtest(core: Core, venue: PaperExchange, ticks: np.ndarray, chunk: int = 1 << 16) -> float:
    """Replay every tick through ``venue`` and ``core`` (not running on its thread); wall seconds."""
    lockstep = Lockstep(core, venue)
    start = time.perf_counter()
    lockstep.replay(ticks, chunk)
    return time.perf_counter() - start
