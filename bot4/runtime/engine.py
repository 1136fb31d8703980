"""The running engine: the core thread plus the asyncio side (replay feed, paper venue, journal, kill switch).

Everything between the core and the outside world goes through the core's rings, on the asyncio thread:
- feed: the replay clock releases recorded ticks (paced at ``replay.speed``); each batch goes to the core's md ring
  and to the paper venue, which matches resting orders against it;
- execution: orders from the core are committed to the journal, then sent to the venue, unless the execution gate
  is closed (kill switch), in which case new orders are refused back to the core and only cancels pass; execution
  reports from the venue are committed to the journal, then handed to the core;
- watchers: trading-state changes and breaker transitions are journaled and logged, equity is journaled each
  second, and a file named KILL in the state dir trips the kill switch.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot4.core.records import (
    ACTION_CANCEL,
    BREAKER_STATE_NAMES,
    CAUSE_NAMES,
    EXEC_CANCELED,
    EXEC_EXPIRED,
    EXEC_FILL,
    EXEC_REJECTED,
    FILL_DTYPE,
    ORDER_DTYPE,
    ORDER_TYPE_NAMES,
    REASON_NAMES,
    STATE_CAUSE_NAMES,
    STATE_CAUSE_RESTORE,
    STATE_CHANGE_DTYPE,
    STATE_HALTED,
    STATE_NAMES,
    TICK_DTYPE,
    TICK_TRADE,
    TRANSITION_DTYPE,
    VENUE_REASON_NAMES,
)
from bot4.core.ring import RING_HEAD, RING_TAIL, Ring
from bot4.core.runner import Core
from bot4.core.state import (
    A_FEES,
    A_PEAK,
    A_REALIZED,
    I_HALT_SEQ,
    I_ORDER_SEQ,
    I_REARM_AFTER_NS,
    I_STATE_SINCE_NS,
    I_TRADING_STATE,
    I_VAR_DIRTY,
    P_REARM_COOLDOWN_NS,
    S_AVG_PX,
    S_FEES,
    S_QTY,
    S_REALIZED,
)
from bot4.runtime.config import AppConfig
from bot4.runtime.grid import sleep_on_grid
from bot4.runtime.journal import Journal, Restored
from bot4.runtime.logs import RepeatedEvent, event
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_csv, load_sample, merge_by_time

if TYPE_CHECKING:
    from bot4.venues.live import CcxtVenue

log = logging.getLogger("bot4.engine")

VENUE_GATE_CLOSED = 90  # reason code of orders refused by the closed execution gate
PRINTS = 20  # market trades kept per symbol for the views
EXECUTION_IDLE_S = 0.25  # the execution loop's longest sleep with nothing to do (it is woken for work)


WATCH_PERIOD_S = 0.1  # the watchers' cadence (the UI's too: with the feed's default 100 ms, one wake-up for all)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Engine:
    """One trading engine: build, ``await run()``, ``kill()``, ``request_stop()``."""

    def __init__(self, config: AppConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(state_dir / "journal.sqlite")
        self.core = Core(config.core, config.runtime.publish_interval_s)
        self.live = any(v != "paper" for v in config.core.venues)
        self.venue: PaperExchange | CcxtVenue
        if self.live:
            from bot4.venues.live import CcxtVenue

            self.venue = CcxtVenue(self.core, config.live, venue_id=0)
            self.venue.on_report = self.kick
        else:
            self.venue = PaperExchange(config.core, config.paper)
        self.to_venue = Ring(ORDER_DTYPE, 1 << 12, "to_venue")
        self.symbols = config.core.symbols
        self.ticks = np.zeros(0, TICK_DTYPE) if self.live else self._load_market_data()
        self.gate_open = True
        self.kill_log: list[dict[str, object]] = []
        self.stopping = asyncio.Event()
        self._waiter: asyncio.Future[None] | None = None  # the execution loop's sleep, cut short by kick()
        self.feed_done = asyncio.Event()
        self.ticks_sent = 0
        self.failed = ""
        self.last_feed_s = time.monotonic()
        self.started_ns = time.monotonic_ns()
        self._orders_buf = np.zeros(4096, ORDER_DTYPE)
        self._reports_buf = np.zeros(4096, FILL_DTYPE)
        self._gated = np.zeros(4096, FILL_DTYPE)
        # recent activity for the UI and the API (plain dicts, newest last)
        self.recent_orders: deque[dict[str, object]] = deque(maxlen=200)
        self.recent_fills: deque[dict[str, object]] = deque(maxlen=200)
        self.recent_rejects: deque[dict[str, object]] = deque(maxlen=200)
        self.recent_transitions: deque[dict[str, object]] = deque(maxlen=100)
        self.price_history: dict[str, deque[tuple[float, float]]] = {s: deque(maxlen=600) for s in self.symbols}
        # each symbol's last PRINTS market trades, oldest first, and how many of the slots hold one
        self._prints = {s: np.zeros(PRINTS, TICK_DTYPE) for s in self.symbols}
        self._prints_n = dict.fromkeys(self.symbols, 0)
        self.open_orders: dict[int, dict[str, object]] = {}  # working orders at the venue, by client order id
        # refusals come in bursts (every signal of a cool-down): a line per symbol, side and reason a second at most
        self.reject_log = RepeatedEvent(log, "order_rejected", period_s=1.0)
        self.restored = self._restore()

    # --- start-up ---------------------------------------------------------------------------------------------------
    def _load_market_data(self) -> np.ndarray:
        files = self.config.replay.files
        if not files:
            return load_sample(self.symbols)
        parts = []
        for entry in files:
            sym, _, path = entry.partition("=")
            if sym not in self.symbols:
                raise ValueError(f"replay file {path}: symbol {sym!r} is not an instrument ({', '.join(self.symbols)})")
            ticks, _report = load_csv(path, self.symbols.index(sym))
            parts.append(ticks)
        return merge_by_time(parts)

    def _restore(self) -> Restored:
        r = self.journal.restore()
        if r.empty:
            event(log, "journal_fresh", path=str(self.journal.path))
            return r
        st = self.core.state
        books = (st,) if self.live else (st, self.venue.state)  # type: ignore[union-attr]
        for s, sym in enumerate(self.symbols):
            qty, avg = r.positions.get(sym, (0.0, math.nan))
            for arr in (b.sym for b in books):
                arr[s, S_QTY] = qty
                arr[s, S_AVG_PX] = avg
                arr[s, S_REALIZED] = r.realized.get(sym, 0.0)
                arr[s, S_FEES] = r.fees.get(sym, 0.0)
        for acct in (b.acct for b in books):
            acct[A_REALIZED] = sum(r.realized.values())
            acct[A_FEES] = sum(r.fees.values())
        if not math.isnan(r.peak_equity):
            st.acct[A_PEAK] = max(st.acct[A_PEAK], r.peak_equity)
        st.ist[I_VAR_DIRTY] = 1  # positions set from outside the fill path: the risk views are rebuilt on first use
        st.ist[I_ORDER_SEQ] = r.order_seq
        st.ist[I_HALT_SEQ] = r.halt_seq
        if r.trading_state != st.ist[I_TRADING_STATE]:
            st.ist[I_TRADING_STATE] = r.trading_state
            st.ist[I_STATE_SINCE_NS] = time.monotonic_ns()
            if r.trading_state == STATE_HALTED:
                st.ist[I_REARM_AFTER_NS] = time.monotonic_ns() + int(st.params[P_REARM_COOLDOWN_NS])
                self.gate_open = False
            equity = r.last_equity if not math.isnan(r.last_equity) else self.config.core.risk.initial_equity_usd
            self.journal.append_state(r.trading_state, r.trading_state, STATE_CAUSE_RESTORE, r.halt_seq, equity, 0.0)
        # reconciliation: the paper venue starts empty, so orders the journal left open no longer exist there; a live
        # venue cancels at connect() whatever it still holds of them (the core that placed them is gone)
        if r.open_orders:
            gone = np.zeros(len(r.open_orders), FILL_DTYPE)
            for i, o in enumerate(r.open_orders):
                gone[i]["client_order_id"] = o["coid"]
                gone[i]["kind"] = EXEC_CANCELED
                gone[i]["symbol_id"] = self.symbols.index(str(o["symbol"]))
                gone[i]["side"] = o["side"]
                gone[i]["leaves"] = float(o["size"]) - float(o["filled"])
                event(log, "reconcile_order_gone", logging.WARNING, coid=o["coid"], symbol=o["symbol"], leaves=gone[i]["leaves"])
            self.journal.append_reports(gone, self.symbols)
        self.core.publish()
        event(
            log,
            "journal_restored",
            positions={k: v[0] for k, v in r.positions.items()},
            fills=r.fills,
            trading_state=STATE_NAMES[r.trading_state],
            peak_equity=r.peak_equity,
            order_seq=r.order_seq,
        )
        return r

    # --- control ----------------------------------------------------------------------------------------------------
    def kill(self, source: str) -> float:
        """Trip the kill switch: close the execution gate at once, then halt the core; µs to the gate closing."""
        t0 = time.perf_counter_ns()
        self.gate_open = False
        gate_us = (time.perf_counter_ns() - t0) / 1000.0
        self.core.kill()
        self.kick()  # the core's cancels go out at once
        self.kill_log.append({"source": source, "gate_closed_us": gate_us, "ts": time.time()})
        event(log, "kill_switch", logging.WARNING, source=source, gate_closed_us=round(gate_us, 3))
        return gate_us

    def request_stop(self) -> None:
        self.stopping.set()

    # --- tasks ------------------------------------------------------------------------------------------------------
    def kick(self) -> None:
        """Something for the execution loop (orders from the core, a venue report, a kill): wake it now."""
        _wake(self._waiter)

    def _note_trades(self, ticks: np.ndarray) -> None:
        """Keep each symbol's last PRINTS market trades as records (the market pane's "last trades"); turned into
        plain values only when a view asks (:meth:`market_prints`), not on the feed's path."""
        is_trade = ticks["kind"] == TICK_TRADE
        ids = ticks["symbol_id"]
        for s, sym in enumerate(self.symbols):
            mine = np.flatnonzero(is_trade & (ids == s))[-PRINTS:]
            k = len(mine)
            if k:
                book = self._prints[sym]
                book[: PRINTS - k] = book[k:]  # the older ones move up, the new ones go last
                book[PRINTS - k :] = ticks[mine]
                self._prints_n[sym] = min(PRINTS, self._prints_n[sym] + k)

    def market_prints(self, symbol: str) -> list[dict[str, object]]:
        """``symbol``'s last market trades, oldest first: exchange time, price, size, aggressor side."""
        return [
            {
                "ts_exch_ns": int(t["ts_exch_ns"]),
                "price": float(t["price"]),
                "size": float(t["size"]),
                "side": "buy" if t["side"] > 0 else "sell" if t["side"] < 0 else "",
            }
            for t in self._prints[symbol][PRINTS - self._prints_n[symbol] :]
        ]

    def _push_live(self, ticks: np.ndarray, count: int) -> int:
        pushed = self.core.push_ticks(ticks, 0, count)  # orders they cause wake the execution loop (output_fd)
        self._note_trades(ticks[:pushed])
        self.ticks_sent += pushed
        if pushed:
            self.last_feed_s = time.monotonic()
        return pushed

    async def _feed(self) -> None:
        if self.live:
            await self.venue.run_feed(self.stopping, self._push_live)  # type: ignore[union-attr]
            return
        ticks = self.ticks
        n = len(ticks)
        if n == 0:
            event(log, "feed_empty", logging.ERROR)
            self.feed_done.set()
            return
        ts = ticks["ts_exch_ns"]
        span = int(ts[-1] - ts[0]) + 1_000_000_000
        speed = self.config.replay.speed
        period = self.config.replay.batch_ms / 1000.0  # config.ReplayConfig.batch_ms says what it trades
        lap = 0
        pos = 0
        wall0 = time.monotonic_ns()
        data0 = int(ts[0])
        batch = np.zeros(8192, ticks.dtype)
        held = np.zeros(8192, ticks.dtype)  # the last batch: the core has it, the venue not yet
        held_n = 0
        while not self.stopping.is_set():
            if held_n:
                # the core decided on the last batch during the period just slept: its orders reach the venue
                # first, then the venue replays the batch, so each order meets the market from the tick it was
                # decided on (its ts_mkt_ns) on, whatever the feed's period
                await self._venue_catch_up(held, held_n)
                held_n = 0
            if speed > 0:
                due = data0 + int((time.monotonic_ns() - wall0) * speed) - lap * span
                end = int(np.searchsorted(ts, due, side="right"))
                end = min(end, pos + len(batch))
            else:
                end = min(n, pos + len(batch))
            if end > pos:
                k = end - pos
                batch[:k] = ticks[pos:end]
                if lap:
                    batch["ts_exch_ns"][:k] += lap * span
                pushed = self.core.push_ticks(batch, 0, k)  # orders they cause wake the execution loop (output_fd)
                self._note_trades(batch[:pushed])
                batch, held, held_n = held, batch, pushed
                pos += pushed
                self.ticks_sent += pushed
                if pushed:
                    self.last_feed_s = time.monotonic()
            if pos >= n:
                if not self.config.replay.loop:
                    await sleep_on_grid(period)  # the core's last decisions reach the venue, then the ticks
                    await self._venue_catch_up(held, held_n)
                    event(log, "feed_finished", ticks=self.ticks_sent)
                    self.feed_done.set()
                    return
                lap += 1
                pos = 0
            if speed > 0:
                await sleep_on_grid(period)
            else:
                await asyncio.sleep(0)

    async def _venue_catch_up(self, held: np.ndarray, count: int) -> None:
        """Hand the core's waiting orders to the venue, then replay ``held[:count]`` there (the paper venue)."""
        self._pump_orders()
        applied = self.venue.on_ticks(held, 0, count)
        while applied < count:  # the venue's report ring is full: hand reports on, then go on
            self._pump_reports()
            await asyncio.sleep(0)
            applied += self.venue.on_ticks(held, applied, count - applied)
        reports = self.venue.reports.ctrl
        if reports[RING_HEAD] != reports[RING_TAIL]:
            self.kick()  # fills from these ticks: the core should hear at once

    def _pump_orders(self) -> int:
        ring = self.core.parts.orders
        if ring.ctrl[RING_HEAD] == ring.ctrl[RING_TAIL]:
            return 0  # nothing waiting: skip the call into compiled code
        buf = self._orders_buf
        n = ring.pop_many(buf)
        if n == 0:
            return 0
        orders = buf[:n]
        for o in orders[-50:]:
            self.recent_orders.append(self._order_view(o))
        if self.gate_open:
            self.journal.append_orders(orders, self.symbols)
            pushed = self.to_venue.push_many(orders)
            self._track_orders(orders)
        else:
            # the gate is closed: cancels go on, new orders are refused back to the core (journaled as such)
            cancels = orders[orders["action"] == ACTION_CANCEL]
            refused = orders[orders["action"] != ACTION_CANCEL]
            self.journal.append_orders(cancels, self.symbols)
            self.journal.append_orders(refused, self.symbols, gated=True)
            pushed = self.to_venue.push_many(cancels)
            self._track_orders(cancels)
            if len(refused):
                rep = self._gated[: len(refused)]
                rep[:] = 0
                rep["client_order_id"] = refused["client_order_id"]
                rep["symbol_id"] = refused["symbol_id"]
                rep["side"] = refused["side"]
                rep["kind"] = EXEC_REJECTED
                rep["reason"] = VENUE_GATE_CLOSED
                rep["ts_in_ns"] = time.monotonic_ns()
                self.journal.append_reports(rep, self.symbols)
                self.core.parts.fills.push_many(rep)
                self.core.notify()
                event(log, "gate_refused", logging.WARNING, orders=len(refused))
        self.venue.pump(self.to_venue)
        return pushed

    def _pump_reports(self) -> int:
        ring = self.venue.reports
        if ring.ctrl[RING_HEAD] == ring.ctrl[RING_TAIL]:
            return 0
        buf = self._reports_buf
        m = ring.pop_many(buf)
        if m:
            for r in buf[:m]:
                if int(r["kind"]) == 2:
                    self.recent_fills.append(
                        {
                            "ts": time.time(),
                            "coid": int(r["client_order_id"]),
                            "symbol": self.symbols[int(r["symbol_id"])],
                            "side": "buy" if int(r["side"]) > 0 else "sell",
                            "price": float(r["price"]),
                            "size": float(r["size"]),
                            "fee": float(r["fee"]),
                            "liquidity": "maker" if int(r["liquidity"]) == 1 else "taker",
                        }
                    )
            self.journal.append_reports(buf[:m], self.symbols)
            self._track_reports(buf[:m])
            pushed = 0
            while pushed < m:
                pushed += self.core.parts.fills.push_many(buf[pushed:m])
                self.core.notify()
        return m

    def _track_orders(self, orders: np.ndarray) -> None:
        """Orders handed to the venue join the open-order book (the orders pane); a cancel marks its order."""
        for o in orders:
            coid = int(o["client_order_id"])
            if int(o["action"]) == ACTION_CANCEL:
                if coid in self.open_orders:
                    self.open_orders[coid]["cancelling"] = True
                continue
            view = self._order_view(o)
            view["filled"] = 0.0
            view["cancelling"] = False
            self.open_orders[coid] = view
        while len(self.open_orders) > 500:  # a venue that never answers must not grow this without bound
            self.open_orders.pop(next(iter(self.open_orders)))

    def _track_reports(self, reports: np.ndarray) -> None:
        for r in reports:
            coid = int(r["client_order_id"])
            view = self.open_orders.get(coid)
            if view is None:
                continue
            kind = int(r["kind"])
            if kind == EXEC_FILL:
                view["filled"] = float(view["filled"]) + float(r["size"])  # type: ignore[arg-type]
                if float(r["leaves"]) <= 1e-12:
                    del self.open_orders[coid]
            elif kind in (EXEC_CANCELED, EXEC_EXPIRED, EXEC_REJECTED):
                del self.open_orders[coid]

    def _core_output(self) -> None:
        """The core signalled its eventfd: orders wait in the execution ring."""
        try:
            os.eventfd_read(self.core.output_fd())
        except BlockingIOError:
            pass
        self.kick()

    async def _execution(self) -> None:
        loop = asyncio.get_running_loop()
        fd = self.core.output_fd()
        loop.add_reader(fd, self._core_output)
        try:
            while not self.stopping.is_set():
                if self._pump_orders() + self._pump_reports():
                    await asyncio.sleep(0)  # let the rest of the loop run, then look again
                    continue
                # quiet: sleep until the core signals orders (its eventfd), a command or a venue report kicks, or
                # EXECUTION_IDLE_S passes (a safety net: nothing waits on it). The core signals every order that
                # reaches the ring after arm_output, so a cancel that follows its fill wakes this loop too.
                if self.core.arm_output() == 0:
                    self._waiter = waiter = loop.create_future()
                    timer = loop.call_later(EXECUTION_IDLE_S, _wake, waiter)
                    await waiter
                    timer.cancel()
                    self._waiter = None
        finally:
            loop.remove_reader(fd)

    def _order_view(self, o: np.void) -> dict[str, object]:
        return {
            "ts": time.time(),
            "coid": int(o["client_order_id"]),
            "symbol": self.symbols[int(o["symbol_id"])] if 0 <= int(o["symbol_id"]) < len(self.symbols) else "?",
            "action": "cancel" if int(o["action"]) == ACTION_CANCEL else "submit",
            "side": "buy" if int(o["side"]) > 0 else "sell",
            "type": ORDER_TYPE_NAMES.get(int(o["order_type"]), "?"),
            "price": float(o["price"]),
            "stop_px": float(o["stop_px"]),
            "size": float(o["size"]),
            "reason": REASON_NAMES[int(o["reject_reason"])] if 0 <= int(o["reject_reason"]) < len(REASON_NAMES) else "?",
        }

    async def _watchers(self) -> None:
        states = np.zeros(64, STATE_CHANGE_DTYPE)
        trans = np.zeros(64, TRANSITION_DTYPE)
        rejects = np.zeros(256, ORDER_DTYPE)
        last_prices = 0.0
        kill_file = self.state_dir / "KILL"
        last_equity = 0.0
        while not self.stopping.is_set():
            n = self.core.parts.state_log.pop_many(states) if self.core.parts.state_log.depth else 0
            for c in states[:n]:
                frm, to = int(c["from_state"]), int(c["to_state"])
                halt_seq = int(self.core.state.ist[I_HALT_SEQ])
                self.journal.append_state(frm, to, int(c["cause"]), halt_seq, float(c["equity"]), float(c["drawdown"]))
                event(
                    log,
                    "trading_state",
                    logging.WARNING if to != 0 else logging.INFO,
                    frm=STATE_NAMES[frm],
                    to=STATE_NAMES[to],
                    cause=STATE_CAUSE_NAMES.get(int(c["cause"]), "?"),
                    equity=float(c["equity"]),
                    drawdown=float(c["drawdown"]),
                )
                if to != STATE_HALTED and not self.gate_open:
                    self.gate_open = True
                    event(log, "gate_reopened")
            m = self.core.parts.transitions.pop_many(trans) if self.core.parts.transitions.depth else 0
            for t in trans[:m]:
                self.recent_transitions.append(
                    {
                        "ts": time.time(),
                        "breaker": self.core.breaker_names[int(t["breaker_id"])],
                        "from": BREAKER_STATE_NAMES[int(t["from_state"])],
                        "to": BREAKER_STATE_NAMES[int(t["to_state"])],
                        "cause": CAUSE_NAMES[int(t["cause"])],
                    }
                )
                event(
                    log,
                    "breaker",
                    logging.WARNING,
                    breaker=self.core.breaker_names[int(t["breaker_id"])],
                    frm=BREAKER_STATE_NAMES[int(t["from_state"])],
                    to=BREAKER_STATE_NAMES[int(t["to_state"])],
                    cause=CAUSE_NAMES[int(t["cause"])],
                )
            k = self.core.parts.rejects.pop_many(rejects) if self.core.parts.rejects.depth else 0
            now = time.monotonic()
            for o in rejects[:k]:
                view = self._order_view(o)
                self.recent_rejects.append(view)
                key = (view["symbol"], view["side"], view["reason"])
                self.reject_log.add(now, key, symbol=view["symbol"], side=view["side"], reason=view["reason"])
            self.reject_log.flush(now)
            if kill_file.exists():
                kill_file.unlink(missing_ok=True)
                self.kill("file")
            if now - last_prices >= 0.25:
                wall = time.time()
                for p in self.core.snapshot().positions():
                    if p.last_px == p.last_px:
                        self.price_history[p.symbol].append((wall, p.last_px))
                last_prices = now
            if now - last_equity >= 1.0:
                snap = self.core.snapshot()
                self.journal.append_equity(snap.equity, snap.peak_equity)
                last_equity = now
            await sleep_on_grid(WATCH_PERIOD_S)

    async def run(self, run_for: float | None = None) -> int:
        """Run until :meth:`request_stop` (or ``run_for`` seconds); returns the process exit code."""
        event(
            log,
            "engine_start",
            symbols=list(self.symbols),
            ticks=len(self.ticks),
            speed=self.config.replay.speed,
            config=self.config.source,
            state_dir=str(self.state_dir),
        )
        api = None
        if self.config.runtime.api_addr:
            from bot4.runtime.api import ControlApi, load_token
            from bot4.runtime.config import parse_addr

            host, port = parse_addr(self.config.runtime.api_addr, "runtime.api_addr")
            token, from_env = load_token(self.state_dir)
            api = ControlApi(self, host, port, token, from_env)
            await api.start()
        exporter = None
        if self.config.runtime.metrics_addr:
            from bot4.runtime.config import parse_addr
            from bot4.runtime.metrics import Exporter

            mhost, mport = parse_addr(self.config.runtime.metrics_addr, "runtime.metrics_addr")
            exporter = Exporter(self, mhost, mport)
        if self.live:
            try:
                await self.venue.connect(self.restored.open_orders)  # type: ignore[union-attr]
            except BaseException:
                await self.venue.close()  # type: ignore[union-attr]
                if api is not None:
                    await api.stop()
                if exporter is not None:
                    exporter.close()
                self.journal.close()
                raise
        await asyncio.to_thread(self.core.start)  # the first start loads the compiled loop: keep the event loop free
        tasks = [
            asyncio.create_task(self._feed(), name="feed"),
            asyncio.create_task(self._execution(), name="execution"),
            asyncio.create_task(self._watchers(), name="watchers"),
        ]
        if self.live:
            tasks.append(asyncio.create_task(self.venue.run_orders(self.stopping), name="venue_orders"))  # type: ignore[union-attr]
            tasks.append(asyncio.create_task(self.venue.run_poll(self.stopping), name="venue_poll"))  # type: ignore[union-attr]
        for t in tasks:
            t.add_done_callback(self._task_done)
        try:
            if run_for is not None:
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=run_for)
                except TimeoutError:
                    pass
            else:
                await self.stopping.wait()
        finally:
            if api is not None:
                await api.stop()
            if exporter is not None:
                exporter.close()
            await self._shutdown(tasks)
        return 1 if self.failed else 0

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A part of the engine ended on an error: say what, and stop the whole engine rather than run half of it."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self.failed = f"{task.get_name()}: {type(exc).__name__}: {exc}"
        log.error("engine task failed", exc_info=exc, extra={"event": "task_failed", "fields": {"task": task.get_name()}})
        self.request_stop()

    async def _drain_live(self, timeout_s: float = 15.0) -> None:
        """Before stopping (entries already paused): wait, bounded, until every order at the venue has reached its end.

        Orders still in flight when the adapter stops would fill unseen and leave the journal behind the venue.
        """
        venue = self.venue
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self._pump_orders()
            self._pump_reports()
            if not venue.busy():  # type: ignore[union-attr]
                return
            await asyncio.sleep(0.02)
        event(log, "venue_orders_unsettled", logging.WARNING, tracked=len(venue.tracked), unknown=len(venue.unknown))  # type: ignore[union-attr]

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        if self.live:
            self.core.pause()  # no new entries at a live venue while it winds down
        if self.config.runtime.cancel_on_shutdown and self.core.snapshot().open_orders:
            self.core.cancel_all()
            for _ in range(200):  # up to about a second for the cancels to go round
                self._pump_orders()
                self._pump_reports()
                await asyncio.sleep(0.005)
                if self.core.snapshot().open_orders == 0:
                    break
        if self.live:
            await self._drain_live()
        self.stopping.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pump_orders()
        self._pump_reports()
        if self.live:
            await self.venue.close()  # type: ignore[union-attr]
        self.core.stop()
        self.core.close_output_fd()
        self.reject_log.flush(None)
        snap = self.core.snapshot()
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
        self.journal.close()

    # --- views ------------------------------------------------------------------------------------------------------
    def limits(self) -> dict[str, float]:
        """The risk limits the panes draw their gauges against."""
        risk = self.config.core.risk
        return {
            "var_frac": risk.max_var_frac,
            "var_confidence": risk.var_confidence,
            "drawdown_warn": risk.drawdown_warn_frac,
            "drawdown_halt": risk.max_drawdown_frac,
            "correlation": risk.max_correlation,
        }

    def activity(self) -> dict[str, object]:
        """Recent activity for the UI and the API (plain values, newest last; price samples are the UI's own)."""
        return {
            "orders": list(self.recent_orders)[-30:],
            "open": list(self.open_orders.values())[-30:],
            "fills": list(self.recent_fills)[-30:],
            "rejects": list(self.recent_rejects)[-30:],
            "transitions": list(self.recent_transitions)[-10:],
            "trades": {sym: self.market_prints(sym) for sym in self.symbols},
            "limits": self.limits(),
            "gate_open": self.gate_open,
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
