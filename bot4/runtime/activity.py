"""What the engine watches while it runs, and the recent activity the UI and the API show.

:class:`Watchers` runs every ``WATCH_PERIOD_S``: trading-state changes from the core are journaled and logged (and
reopen the execution gate when the core leaves HALTED), breaker transitions are logged and kept, refusals are
logged once a second per symbol, side and reason with their count, a file named KILL in the state dir trips the
kill switch, prices are sampled for the chart, and equity is journaled each second.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot4.core.records import (
    BREAKER_STATE_NAMES,
    CAUSE_NAMES,
    ORDER_DTYPE,
    STATE_CAUSE_NAMES,
    STATE_CHANGE_DTYPE,
    STATE_HALTED,
    STATE_NAMES,
    TRANSITION_DTYPE,
)
from bot4.core.ring import ring_pop_many_nb
from bot4.core.runner import Core, CoreSnapshot
from bot4.logs import RepeatedEvent, event
from bot4.runtime.execution import Execution
from bot4.runtime.grid import sleep_on_grid
from bot4.runtime.journal import Journal, Marks
from bot4.runtime.tracing import OrderTracer

log = logging.getLogger("bot4.engine")

WATCH_PERIOD_S = 0.1  # the watchers' cadence (the UI's too: with the feed's default 100 ms, one wake-up for all)
PRICE_SAMPLE_S = 0.25
EQUITY_JOURNAL_S = 1.0


class Watchers:
    """The engine's periodic chores on the asyncio thread, and the activity they keep for the views."""

    def __init__(
        self, core: Core, journal: Journal, execution: Execution, kill_file: Path, kill: Callable[[str], object]
    ) -> None:
        self.core = core
        self.journal = journal
        self.execution = execution
        self.kill_file = kill_file
        self.kill = kill
        self.recent_rejects: deque[dict[str, object]] = deque(maxlen=200)
        self.recent_transitions: deque[dict[str, object]] = deque(maxlen=100)
        self.price_history: dict[str, deque[tuple[float, float]]] = {s: deque(maxlen=600) for s in core.symbols}
        # refusals come in bursts (every signal of a cool-down): a line per symbol, side and reason a second at most
        self.reject_log = RepeatedEvent(log, "order_rejected", period_s=1.0)
        self.tracer: OrderTracer | None = None  # set by the composition root when tracing is enabled
        self._states = np.zeros(64, STATE_CHANGE_DTYPE)
        self._trans = np.zeros(64, TRANSITION_DTYPE)
        self._rejects = np.zeros(256, ORDER_DTYPE)
        self._last_prices = 0.0
        self._last_equity = 0.0
        self._kill_file_stuck = False
        self.errors = 0
        self.paused_override: bool | None = None  # the operator's pause, kept in the marks while shutdown pauses
        self._marked: tuple[object, ...] = ()
        self._marked_peak = float("nan")
        parts = core.parts
        for ring, out in (
            (parts.state_log, self._states),
            (parts.transitions, self._trans),
            (parts.rejects, self._rejects),
        ):
            # each record type's pop compiles at its first call: now, while the engine is built, not at the first
            # kill, breaker trip or refusal (a copy of the ring's control words: the ring itself is not touched)
            ring_pop_many_nb(ring.ctrl.copy(), ring.buf, out, 0)

    async def run(self, stopping: object) -> None:
        while not stopping.is_set():  # type: ignore[attr-defined]
            try:
                self.once()
            except Exception as exc:  # noqa: BLE001 - one bad pass (EMFILE, a full disk) must not end the watching
                self.errors += 1
                event(log, "watcher_error", logging.ERROR, error=repr(exc), errors=self.errors)
            await sleep_on_grid(WATCH_PERIOD_S)

    def once(self) -> None:
        self._kill_file()  # first: nothing that fails below may keep a kill from being seen
        self._state_changes()
        self._transitions()
        now = time.monotonic()
        self._refusals(now)
        if now - self._last_prices >= PRICE_SAMPLE_S:
            wall = time.time()
            for p in self.core.snapshot().positions():
                if p.last_px == p.last_px:
                    self.price_history[p.symbol].append((wall, p.last_px))
            self._last_prices = now
        snap = self.core.snapshot()
        self._marks(snap, now)
        if now - self._last_equity >= EQUITY_JOURNAL_S:
            self.journal.append_equity(snap.equity, snap.peak_equity)
            self._last_equity = now

    def flush_marks(self) -> None:
        """The final mark at shutdown: the peak as it is now, whatever the once-a-second rule says."""
        self._marked = ()
        self._last_equity = 0.0
        self._marks(self.core.snapshot(), time.monotonic())

    def _marks(self, snap: CoreSnapshot, now: float) -> None:
        """Journal what a restart must bring back exactly (pause, loss streak and its cool-down, the re-arm cool-down,
        the equity peak): at once when any of them but the peak changes, the peak with the equity, once a second."""
        paused = snap.paused if self.paused_override is None else self.paused_override
        cool = max(0, snap.entry_cooldown_until_ns - snap.market_clock_ns) if snap.entry_cooldown_until_ns else 0
        rearm = time.time_ns() + int(snap.rearm_wait_s * 1e9) if snap.trading_state == "HALTED" else 0
        key = (paused, snap.loss_streak, snap.entry_cooldown_until_ns, snap.trading_state, snap.halt_seq)
        due = key != self._marked or (
            snap.peak_equity != self._marked_peak and now - self._last_equity >= EQUITY_JOURNAL_S
        )
        if due:
            self.journal.append_marks(Marks(snap.equity, snap.peak_equity, paused, snap.loss_streak, cool, rearm))
            self._marked, self._marked_peak = key, snap.peak_equity

    def _kill_file(self) -> None:
        """A KILL file in the state dir trips the kill switch. Whatever fails here (a full descriptor table, a file
        that cannot be removed) kills too: the watcher never dies on it and never leaves the engine trading."""
        try:
            found = self.kill_file.exists()
        except OSError as exc:
            event(log, "kill_file_unreadable", logging.ERROR, path=str(self.kill_file), error=repr(exc))
            found = False
        if not found:
            self._kill_file_stuck = False
            return
        if self._kill_file_stuck:
            return  # the same file, which could not be removed: killed already
        try:
            self.kill("file")
        finally:
            try:
                self.kill_file.unlink(missing_ok=True)
            except OSError as exc:
                self._kill_file_stuck = True
                event(log, "kill_file_not_removed", logging.ERROR, path=str(self.kill_file), error=repr(exc))

    def _state_changes(self) -> None:
        ring = self.core.parts.state_log
        n = ring.pop_many(self._states) if ring.depth else 0
        for c in self._states[:n]:
            frm, to, cause = int(c["from_state"]), int(c["to_state"]), int(c["cause"])
            halt_seq = int(self.core.state.core["halt_seq"][0])
            self.journal.append_state(frm, to, cause, halt_seq, float(c["equity"]), float(c["drawdown"]))
            event(
                log,
                "trading_state",
                logging.WARNING if to != 0 else logging.INFO,
                frm=STATE_NAMES[frm],
                to=STATE_NAMES[to],
                cause=STATE_CAUSE_NAMES.get(cause, "?"),
                equity=float(c["equity"]),
                drawdown=float(c["drawdown"]),
            )
            if to != STATE_HALTED:
                self.execution.reopen_gate()

    def _transitions(self) -> None:
        ring = self.core.parts.transitions
        m = ring.pop_many(self._trans) if ring.depth else 0
        for t in self._trans[:m]:
            view = {
                "ts": time.time(),
                "breaker": self.core.breaker_names[int(t["breaker_id"])],
                "from": BREAKER_STATE_NAMES[int(t["from_state"])],
                "to": BREAKER_STATE_NAMES[int(t["to_state"])],
                "cause": CAUSE_NAMES[int(t["cause"])],
            }
            self.recent_transitions.append(view)
            event(
                log,
                "breaker",
                logging.WARNING,
                breaker=view["breaker"],
                frm=view["from"],
                to=view["to"],
                cause=view["cause"],
            )

    def _refusals(self, now: float) -> None:
        ring = self.core.parts.rejects
        while ring.depth:  # all of them: a fast replay leaves more than one buffer's worth between two passes
            k = ring.pop_many(self._rejects)
            self._refused(now, self._rejects[:k])
        self.reject_log.flush(now)

    def _refused(self, now: float, refused: np.ndarray) -> None:
        trace_ids = self.tracer.refusals(refused) if self.tracer is not None else None
        for i, o in enumerate(refused):
            view = self.execution.order_view(o)
            self.recent_rejects.append(view)
            key = (view["symbol"], view["side"], view["reason"])
            fields = {"symbol": view["symbol"], "side": view["side"], "reason": view["reason"]}
            if view["also"]:
                fields["also"] = view["also"]  # every other check the entry failed too
            if trace_ids is not None:  # the trace of the refusal the line was written for (a count's: the latest)
                fields["trace_id"] = trace_ids[i]
            self.reject_log.add(now, key, **fields)
