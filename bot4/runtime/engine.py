"""The running engine: the core thread plus the asyncio parts around it, composed.

- feed (``feed.py``): recorded data replayed on a clock, or a live venue's streams, into the core's md ring;
- execution (``execution.py``): orders from the core through the journal and the execution gate to the venue,
  execution reports from the venue through the journal to the core;
- watchers (``activity.py``): trading-state changes and breaker transitions journaled and logged, refusals logged,
  the KILL file, price samples and equity;
- restore (``restore.py``): at construction, the journal's state back into core and venue.

The venue is a :class:`bot4.venues.base.Venue`. On recorded data the core has no thread of its own: the feed drives
the core and the paper venue together, tick by tick (``bot4.venues.lockstep``), so a paper run gives the orders a
backtest of the same data gives; with a live venue the core runs on its thread and execution relays its orders.
The control API and the metrics exporter are started around :meth:`Engine.run` by the composition root
(``bot4.compose``), never by the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import numpy as np

from bot4.core.records import REASON_NAMES, TICK_DTYPE, VENUE_REASON_NAMES
from bot4.core.runner import Core
from bot4.logs import event
from bot4.runtime.activity import Watchers
from bot4.runtime.config import AppConfig
from bot4.runtime.execution import Execution
from bot4.runtime.feed import Feed, ReplayFeed, StreamFeed
from bot4.runtime.journal import Journal
from bot4.runtime.restore import check_holdings, restore, resync_positions
from bot4.runtime.statelock import StateDirLock
from bot4.runtime.strategyinfo import strategy_entry, strategy_info
from bot4.runtime.tracing import OrderTracer
from bot4.venues.base import MarketStream, Venue
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_csv, load_sample, merge_by_time

log = logging.getLogger("bot4.engine")

SHUTDOWN_CANCEL_S = 1.0  # how long the shutdown waits for its cancels to go round
SETTLE_S = 15.0  # how long it waits for a live venue to answer what is in flight
KILL_ANSWER_S = 0.5  # a core that has not applied a kill by then: the execution side cancels at the venue itself


def make_venue(config: AppConfig, core: Core) -> Venue:
    """The configured venue: the paper exchange, or the ccxt exchange of the ``[live]`` section."""
    if all(v == "paper" for v in config.core.venues):
        return PaperExchange(config.core, config.paper)
    from bot4.venues.live import CcxtVenue

    return CcxtVenue(config.live, core.instruments(), core.breakers(), venue_id=0)


def load_replay_ticks(config: AppConfig) -> np.ndarray:
    """The recorded data the paper engine replays: the configured files, or the sample bot4 ships."""
    symbols = config.core.symbols
    files = config.replay.files
    if not files:
        return load_sample(symbols)
    parts = []
    for entry in files:
        sym, _, path = entry.partition("=")
        if sym not in symbols:
            raise ValueError(f"replay file {path}: symbol {sym!r} is not an instrument ({', '.join(symbols)})")
        ticks, _report = load_csv(path, symbols.index(sym))
        parts.append(ticks)
    return merge_by_time(parts)


class Engine:
    """One trading engine: build, ``await run()``, ``kill()``, ``request_stop()``."""

    def __init__(self, config: AppConfig, state_dir: Path, venue: Venue | None = None) -> None:
        self.config = config
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_lock = StateDirLock(state_dir)  # a second engine on this dir is refused here, naming the holder
        try:
            self.journal = Journal(state_dir / "journal.sqlite")
        except BaseException:
            self.state_lock.release()
            raise
        self.journal.on_failure = self._journal_failed
        self.core = Core(config.core, config.runtime.publish_interval_s)
        self.symbols = self.core.symbols
        self.venue = venue if venue is not None else make_venue(config, self.core)
        self.feed: Feed
        if self.venue.streams_market_data:
            self.execution = Execution(self.core, self.venue, self.journal)
            self.feed = StreamFeed(self.core, cast(MarketStream, self.venue))
            self.ticks = np.zeros(0, TICK_DTYPE)
        else:
            # recorded data: the feed drives core and paper venue in lockstep (market time decides, at any speed)
            self.ticks = load_replay_ticks(config)
            self.core.drive()
            lockstep = Lockstep(self.core, cast(PaperExchange, self.venue))
            self.execution = Execution(self.core, self.venue, self.journal, lockstep)
            self.feed = ReplayFeed(self.core, self.ticks, config.replay, lockstep, self.execution.drain_taps)
        self.watchers = Watchers(self.core, self.journal, self.execution, state_dir / "KILL", self.kill)
        self.stopping = asyncio.Event()
        self.kill_log: list[dict[str, object]] = []
        self.last_kill = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks_kept: set[asyncio.Future[None]] = set()
        self._strategy_entries: list[dict[str, Any]] | None = None  # strategy_info's static part, made at first use
        self.tracer: OrderTracer | None = None
        self.failed = ""
        self.started_ns = time.monotonic_ns()
        clock_start = int(self.ticks["ts_exch_ns"][0]) if len(self.ticks) else time.time_ns()
        self.restored = restore(self.journal, self.core, self.venue, config.core.risk.initial_equity_usd, clock_start)
        if self.core.snapshot().trading_state == "HALTED":
            self.execution.close_gate()  # a halted engine comes back with its gate closed

    def attach_tracer(self, tracer: OrderTracer | None) -> None:
        """Trace every order through ``tracer`` (built by the composition root); None: no tracing."""
        self.tracer = tracer
        self.execution.tracer = tracer
        self.watchers.tracer = tracer

    # --- control ----------------------------------------------------------------------------------------------------
    def kill(self, source: str) -> float:
        """Trip the kill switch: close the execution gate at once, then halt the core; µs to the gate closing.

        Nothing here can drop the kill: the gate is a flag, the core's kill is a flag its step reads first on every
        pass, and if the core has not applied it within ``KILL_ANSWER_S`` the execution side cancels the working
        orders at the venue itself. An error on the way is logged and the rest still happens."""
        t0 = time.perf_counter_ns()
        try:
            self.execution.close_gate()
        finally:
            gate_us = (time.perf_counter_ns() - t0) / 1000.0
            request = self.core.kill()
        self.last_kill = request
        try:
            if self.tracer is not None:
                self.tracer.note_kill()  # every order still open is the kill's: always traced
            self.execution.kick()  # the core's cancels go out at once
            self.kill_log.append({"source": source, "gate_closed_us": gate_us, "ts": time.time()})
            event(log, "kill_switch", logging.WARNING, source=source, gate_closed_us=round(gate_us, 3))
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._watch_kill, request)
        except Exception as exc:  # noqa: BLE001 - the kill itself is already in; say what failed after it
            event(log, "kill_switch_error", logging.ERROR, source=source, error=repr(exc))
        return gate_us

    def _watch_kill(self, request: int) -> None:
        task = asyncio.ensure_future(self._kill_watchdog(request))
        self._tasks_kept.add(task)
        task.add_done_callback(self._tasks_kept.discard)

    async def _kill_watchdog(self, request: int) -> None:
        end = time.monotonic() + KILL_ANSWER_S
        while time.monotonic() < end:
            if self.core.kill_applied(request):
                return
            await asyncio.sleep(0.005)
        if not self.core.kill_applied(request):
            event(log, "kill_core_unresponsive", logging.ERROR, waited_s=KILL_ANSWER_S)
            self.execution.cancel_open_at_venue()

    async def kill_verdict(self, request: int, timeout_s: float = 1.0) -> bool:
        """Wait (bounded) until the core has applied kill ``request``; True when it has."""
        end = time.monotonic() + timeout_s
        while not self.core.kill_applied(request):
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.002)
        return True

    def request_stop(self) -> None:
        self.stopping.set()

    @property
    def gate_open(self) -> bool:
        return self.execution.gate_open

    @property
    def price_history(self) -> dict[str, Any]:
        return self.watchers.price_history

    @property
    def recent_fills(self) -> Any:
        return self.execution.recent_fills

    # --- running ----------------------------------------------------------------------------------------------------
    async def run(self, run_for: float | None = None) -> int:
        """Run until :meth:`request_stop` (or ``run_for`` seconds); returns the process exit code."""
        self._loop = asyncio.get_running_loop()
        event(
            log,
            "engine_start",
            symbols=list(self.symbols),
            venue=self.venue.name,
            ticks=len(self.ticks),
            speed=self.config.replay.speed,
            strategy=self.config.core.describe_strategies(),
            config=self.config.source,
            state_dir=str(self.state_dir),
        )
        try:
            await self.venue.start(self.restored.open_orders, self.journal.instance)
            if self.venue.recovers_orders:
                await self._recover()
        except BaseException:
            await self.venue.close()
            self.close()
            raise
        if not self.core.driven:
            await asyncio.to_thread(self.core.start)  # the first start loads the compiled loop: keep the loop free
        parts: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("feed", self.feed.run(self.stopping)),
            ("execution", self.execution.run(self.stopping)),
            ("watchers", self.watchers.run(self.stopping)),
        ]
        parts += [(f"venue_{c.__name__}", c) for c in self.venue.background(self.stopping)]
        tasks = [asyncio.create_task(coro, name=name) for name, coro in parts]
        for t in tasks:
            t.add_done_callback(self._task_done)
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.stopping.wait())]
        if isinstance(self.feed, ReplayFeed) and not self.config.replay.loop:
            ends.append(asyncio.ensure_future(self.feed.done.wait()))  # the data ends the run
        try:
            await asyncio.wait(ends, timeout=run_for, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in ends:
                f.cancel()
            await self._shutdown(tasks)
        return 1 if self.failed else 0

    async def _recover(self) -> None:
        """A live venue resolved what the journal left open: its reports (fills made while no engine watched) go into
        the journal, the positions are rebuilt from it, and the venue's holdings are checked against them, all before
        the core sees a tick."""
        if self.execution.journal_recovery():
            resync_positions(self.journal, self.core, self.venue)
        mismatched = await check_holdings(self.journal, self.core, self.venue, self.config.live.on_position_mismatch)
        if mismatched and self.core.snapshot().trading_state == "HALTED":
            self.execution.close_gate()

    @property
    def user_strategy(self) -> str:
        """The strategies with their parameters when a user strategy runs ("" with built-ins only), for the banner."""
        core = self.config.core
        return core.describe_strategies() if any(":" in s.kind for s in core.strategies) else ""

    def summary(self) -> dict[str, object]:
        """What the run did, in one line's worth of figures (logged as ``run_summary`` when it stops)."""
        snap = self.core.snapshot()
        trades, wins, losses = snap.trades
        initial = self.config.core.risk.initial_equity_usd
        return {
            "ticks": snap.stats.counter("ticks_in"),
            "orders": snap.stats.counter("orders_out"),
            "fills": snap.stats.counter("fills"),
            "refused": sum(snap.stats.rejects_by_reason().values()),
            "round_trips": trades,
            "wins": wins,
            "losses": losses,
            "realized": round(snap.realized, 6),
            "fees": round(snap.fees, 6),
            "equity": round(snap.equity, 6),
            "return_pct": round(100.0 * (snap.equity / initial - 1.0), 4),
            "trading_state": snap.trading_state,
            "strategy": self.config.core.describe_strategies(),
        }

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A part of the engine ended on an error: say what, and stop the whole engine rather than run half of it."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self.failed = f"{task.get_name()}: {type(exc).__name__}: {exc}"
        log.error(
            "engine task failed", exc_info=exc, extra={"event": "task_failed", "fields": {"task": task.get_name()}}
        )
        self.request_stop()

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        ex = self.execution
        self.watchers.paused_override = self.core.snapshot().paused  # the pause a restart brings back is the operator's
        self.core.pause()  # no new entries while the engine winds down
        if self.config.runtime.cancel_on_shutdown and self.core.snapshot().open_orders:
            self.core.cancel_all()
            end = time.monotonic() + SHUTDOWN_CANCEL_S
            while time.monotonic() < end and self.core.snapshot().open_orders:
                ex.pump_orders()
                ex.pump_reports()
                await asyncio.sleep(0.005)
        if not await ex.settle(SETTLE_S):
            event(log, "venue_orders_unsettled", logging.WARNING, venue=self.venue.name, **self.venue.stats())
        self.stopping.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ex.pump_orders()
        ex.pump_reports()
        await self.venue.close()
        self.core.stop()
        self.core.close_output_fd()
        self._safely("watchers", self.watchers.once)  # the last state changes and refusals reach the journal
        self._safely("refusals", lambda: self.watchers.reject_log.flush(None))  # then the counts still held for them
        self._safely("marks", self.watchers.flush_marks)
        snap = self.core.snapshot()
        event(log, "run_summary", data_ended=self.feed.done.is_set(), **self.summary())
        event(
            log,
            "engine_stop",
            ticks=snap.stats.counter("ticks_in"),
            orders=snap.stats.counter("orders_out"),
            fills=snap.stats.counter("fills"),
            equity=round(snap.equity, 2),
            trading_state=snap.trading_state,
            journal_rows=self.journal.rows_written,
        )
        self.close()

    def _safely(self, what: str, fn: Callable[[], object]) -> None:
        """A last step of the shutdown that fails is said and skipped: the rest of the shutdown still runs."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the shutdown must reach the journal's close
            event(log, "shutdown_step_failed", logging.ERROR, step=what, error=repr(exc))

    def close(self) -> None:
        """Close the journal and give up the state dir (an engine that never ran, or at the end of a run)."""
        try:
            left = self.journal.close()
            if left:  # the disk never came back: the rows go to the log, which may live elsewhere, not nowhere
                rows = [{"sql": q.split("(")[0].strip(), "rows": r} for q, r in left]
                event(log, "journal_rows_unwritten", logging.CRITICAL, count=sum(len(r) for _q, r in left), batches=rows)
        finally:
            self.state_lock.release()

    def _journal_failed(self, why: str) -> None:
        """A journal write failed: nothing more may be decided on what the journal cannot hold. The engine halts
        (kill: gate shut, orders cancelled); the rows wait in memory and go in as soon as a write succeeds."""
        event(log, "journal_write_failed", logging.CRITICAL, error=why, path=str(self.journal.path))
        self.kill("journal")

    # --- views ------------------------------------------------------------------------------------------------------
    def strategy_info(self) -> dict[str, object]:
        """What runs with which settings, and what each symbol's strategy sees and holds (bot4.runtime.strategyinfo)."""
        core = self.config.core
        if self._strategy_entries is None:  # the settings it started with, described once
            self._strategy_entries = [strategy_entry(core, s) for s in core.strategies]
        return strategy_info(core, self.core.state, self._strategy_entries)

    def limits(self) -> dict[str, float]:
        """The risk limits the panes draw their gauges against."""
        risk = self.config.core.risk
        return {
            "var_frac": risk.max_var_frac,
            "var_confidence": risk.var_confidence,
            "drawdown_warn": risk.drawdown_warn_frac,
            "drawdown_halt": risk.max_drawdown_frac,
            "correlation": risk.max_correlation,
            "max_risk_per_trade_frac": risk.max_risk_per_trade_frac,  # the order ticket's preview
        }

    def market_prints(self, symbol: str) -> list[dict[str, object]]:
        return self.feed.prints.of(symbol)

    def activity(self) -> dict[str, object]:
        """Recent activity for the UI and the API (plain values, newest last; price samples are the UI's own)."""
        ex, w = self.execution, self.watchers
        return {
            "orders": list(ex.recent_orders)[-30:],
            "open": list(ex.open_orders.values())[-30:],
            "fills": list(ex.recent_fills)[-30:],
            "rejects": list(w.recent_rejects)[-30:],
            "transitions": list(w.recent_transitions)[-10:],
            "trades": {sym: self.market_prints(sym) for sym in self.symbols},
            "limits": self.limits(),
            "gate_open": ex.gate_open,
        }

    def status(self) -> dict[str, object]:
        snap = self.core.snapshot()
        return {
            "trading_state": snap.trading_state,
            "gate_open": self.gate_open,
            "halt_seq": snap.halt_seq,
            "rearm_wait_s": round(snap.rearm_wait_s, 3),
            "equity": snap.equity,
            "drawdown": snap.drawdown,
            "open_orders": snap.open_orders,
            "ticks": snap.stats.counter("ticks_in"),
            "uptime_s": round((time.monotonic_ns() - self.started_ns) / 1e9, 3),
            "last_command": {"seq": snap.last_command[0], "kind": snap.last_command[1], "result": snap.last_command[2]},
            "rejects": snap.stats.rejects_by_reason(),
            "venue": self.venue.stats(),
            "venue_reject_names": list(VENUE_REASON_NAMES),
            "reason_names": list(REASON_NAMES),
        }
