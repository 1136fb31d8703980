"""Deterministic replay: market data -> paper exchange -> core -> paper exchange, in lockstep on one thread.

For a backtest the feed, the core and the venue must not race: an order the core sends in reaction to tick i must
meet the market at tick i + 1 (plus the venue's latency), however fast the replay runs. ``replay_lockstep_nb`` runs
the three in one compiled loop per tick: the venue sees the tick first (fills of resting orders), then the core
(it reads those fills, then the tick), then the venue takes the core's new orders. The live paper mode instead runs
the venue on the asyncio side, paced by the replay clock.
"""

from __future__ import annotations

import time

import numpy as np

from bot4.core.jit import kernel
from bot4.core.ring import ring_room_nb
from bot4.core.runner import Core
from bot4.core.state import EngineState
from bot4.core.step import engine_step_inline_nb, engine_step_nb
from bot4.core.thread import push_ticks_nb
from bot4.venues.paper import PaperExchange
from bot4.venues.paper_kernels import PaperState, paper_on_tick_nb, paper_pump_nb


@kernel
def replay_lockstep_nb(st: EngineState, ps: PaperState, ticks: np.ndarray, start: int, n: int) -> int:
    """Replay ``ticks[start:start+n]`` through venue and core in lockstep; ticks done."""
    for k in range(n):
        if ring_room_nb(st.rings.fills.ctrl) < 2 * ps.venue[0].live + 8:
            engine_step_nb(st)  # let the core drain its reports first
            if ring_room_nb(st.rings.fills.ctrl) < 2 * ps.venue[0].live + 8:
                return k
        if ring_room_nb(st.rings.md.ctrl) < 1:
            return k
        paper_on_tick_nb(ps, ticks, start + k, st.rings.fills.ctrl, st.rings.fills.buf)
        push_ticks_nb(st.rings.md.ctrl, st.rings.md.buf, ticks, start + k, 1)
        engine_step_inline_nb(st)
        paper_pump_nb(ps, st.rings.orders.ctrl, st.rings.orders.buf, st.rings.fills.ctrl, st.rings.fills.buf)
    engine_step_nb(st)
    return n


def run_backtest(core: Core, venue: PaperExchange, ticks: np.ndarray, chunk: int = 1 << 16) -> float:
    """Replay every tick through ``venue`` and ``core`` (not running on its thread); wall seconds."""
    if core.running:
        raise RuntimeError("a lockstep backtest drives the core itself: stop its thread first")
    venue.attach(core.parts.fills)
    start = time.perf_counter()
    pos = 0
    while pos < len(ticks):
        done = int(replay_lockstep_nb(core.state, venue.state, ticks, pos, min(chunk, len(ticks) - pos)))
        if done == 0:
            core.drain()
            done = int(replay_lockstep_nb(core.state, venue.state, ticks, pos, min(chunk, len(ticks) - pos)))
            if done == 0:
                raise RuntimeError("the replay made no progress: the core's rings stay full")
        pos += done
    core.drain()
    return time.perf_counter() - start
