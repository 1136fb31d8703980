"""Between the core and the venue: the execution gate, the journal, and the open-order book.

With a venue that is a real exchange, orders from the core are committed to the journal, then handed to the venue,
unless the gate is closed (the kill switch), in which case new orders are refused back to the core (journaled as
refused) and only cancels pass; execution reports are committed to the journal, then handed to the core.

On recorded data the paper venue runs in lockstep with the core (``bot4.venues.lockstep``): the feed drives both,
tick by tick, and what the venue took and reported comes out of the lockstep's taps, journaled after each batch (the
simulated venue lives in this process: what a crash loses of a batch, the venue loses too, and a restart rebuilds
both from the journal). The gate is then the lockstep's flag, read by the venue's intake.

The execution loop sleeps on the core's eventfd and wakes for orders, venue reports (``kick``) or a kill.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque

import numpy as np

from bot4.core import records
from bot4.core.ring import RING_HEAD, RING_TAIL, Ring
from bot4.core.runner import Core
from bot4.logs import event
from bot4.runtime.journal import Journal
from bot4.runtime.tracing import OrderTracer
from bot4.venues.base import Venue
from bot4.venues.lockstep import Lockstep

log = logging.getLogger("bot4.execution")

IDLE_S = 0.25  # the execution loop's longest sleep with nothing to do (it is woken for work)
OPEN_ORDERS_KEPT = 500  # a venue that never answers must not grow the open-order book without bound


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def fill_exit(flags: object) -> str:
    """What a fill's order was for, from its flags: "stop" (the core's stop exit), "kill", "manual" or ""."""
    bits = int(flags)  # type: ignore[call-overload]
    if bits & records.FLAG_KILL:
        return "kill"
    if bits & records.FLAG_STOP_EXIT:
        return "stop"
    return "manual" if bits & records.FLAG_MANUAL else ""


class Execution:
    """The execution side of one engine (asyncio thread only)."""

    def __init__(self, core: Core, venue: Venue, journal: Journal, lockstep: Lockstep | None = None) -> None:
        self.core = core
        self.venue = venue
        self.journal = journal
        self.lockstep = lockstep
        self.symbols = core.symbols
        self.gate_open = True
        self.to_venue = Ring(records.ORDER_DTYPE, 1 << 12, "to_venue")
        self._orders_buf = np.zeros(4096, records.ORDER_DTYPE)
        self._reports_buf = np.zeros(4096, records.FILL_DTYPE)
        self._gated = np.zeros(4096, records.FILL_DTYPE)
        self._waiter: asyncio.Future[None] | None = None  # the loop's sleep, cut short by kick()
        # recent activity for the views (plain dicts, newest last)
        self.recent_orders: deque[dict[str, object]] = deque(maxlen=200)
        self.recent_fills: deque[dict[str, object]] = deque(maxlen=200)
        self.open_orders: dict[int, dict[str, object]] = {}  # working orders at the venue, by client order id
        self.tracer: OrderTracer | None = None  # set by the composition root when tracing is enabled
        venue.on_report = self.kick

    def kick(self) -> None:
        """Something for the execution loop (orders from the core, a venue report, a kill): wake it now."""
        _wake(self._waiter)

    def close_gate(self) -> None:
        self.gate_open = False
        if self.lockstep is not None:
            self.lockstep.set_gate(False)

    def reopen_gate(self) -> None:
        if not self.gate_open:
            self.gate_open = True
            if self.lockstep is not None:
                self.lockstep.set_gate(True)
            event(log, "gate_reopened")

    # --- orders out -------------------------------------------------------------------------------------------------
    def pump_orders(self) -> int:
        """Hand the core's orders to the venue (through the journal and the gate); how many went."""
        if self.lockstep is not None:
            taken = self.lockstep.intake()
            if taken:
                self.drain_taps()
                self.core.notify()  # the venue answered into the core's ring: the core takes it now
            return taken
        ring = self.core.parts.orders
        if ring.ctrl[RING_HEAD] == ring.ctrl[RING_TAIL]:
            return 0  # nothing waiting: skip the call into compiled code
        n = ring.pop_many(self._orders_buf)
        if n == 0:
            return 0
        orders = self._orders_buf[:n]
        for o in orders[-50:]:
            self.recent_orders.append(self.order_view(o))
        commit: tuple[int, int] | None = None
        if self.gate_open:
            c0 = time.monotonic_ns()
            self.journal.append_orders(orders, self.symbols)
            commit = (c0, time.monotonic_ns())
        if self.gate_open and not self.journal.failed:
            pushed = self.to_venue.push_many(orders)
            self._track_orders(orders)
        else:  # the gate is shut, or the journal could not take these: cancels go, nothing new is sent
            commit = None
            pushed = self._gate_refuse(orders)
        self.venue.pump(self.to_venue)
        if self.tracer is not None and commit is not None:
            self.tracer.orders_journaled(orders, commit, time.monotonic_ns())  # handed over: the venue has them
        return pushed

    def _gate_refuse(self, orders: np.ndarray) -> int:
        """The gate is closed: cancels go on, new orders are refused back to the core (journaled as such)."""
        cancels = orders[orders["action"] == records.ACTION_CANCEL]
        refused = orders[orders["action"] != records.ACTION_CANCEL]
        c0 = time.monotonic_ns()
        self.journal.append_orders(cancels, self.symbols)
        self.journal.append_orders(refused, self.symbols, gated=True)
        c1 = time.monotonic_ns()
        if self.tracer is not None:
            self.tracer.orders_journaled(cancels, (c0, c1), c1)
            self.tracer.orders_journaled(refused, (c0, c1))
        pushed = self.to_venue.push_many(cancels)
        self._track_orders(cancels)
        if len(refused):
            rep = self._gated[: len(refused)]
            rep[:] = 0
            rep["client_order_id"] = refused["client_order_id"]
            rep["symbol_id"] = refused["symbol_id"]
            rep["side"] = refused["side"]
            rep["kind"] = records.EXEC_REJECTED
            rep["reason"] = records.VENUE_GATE_CLOSED
            rep["ts_in_ns"] = time.monotonic_ns()
            self._journal_reports(rep)
            self.core.parts.fills.push_many(rep)
            self.core.notify()
            event(log, "gate_refused", logging.WARNING, orders=len(refused))
        return pushed

    def cancel_open_at_venue(self) -> int:
        """The core did not answer a kill in time: cancel every order this side knows to be working at the venue, from
        here (journaled like the core's own cancels); how many cancels went out."""
        if self.lockstep is not None:
            return 0  # the paper venue on recorded data moves only with the core: the closed gate is enough
        working = [v for v in self.open_orders.values() if not v.get("cancelling")]
        if not working:
            return 0
        cancels = np.zeros(len(working), records.ORDER_DTYPE)
        for rec, view in zip(cancels, working, strict=True):
            rec["client_order_id"] = int(view["coid"])  # type: ignore[call-overload]
            rec["symbol_id"] = self.symbols.index(str(view["symbol"]))
            rec["side"] = 1 if view["side"] == "buy" else -1
            rec["action"] = records.ACTION_CANCEL
            rec["ts_in_ns"] = time.monotonic_ns()
        self.journal.append_orders(cancels, self.symbols)
        pushed = self.to_venue.push_many(cancels)
        self._track_orders(cancels[:pushed])
        self.venue.pump(self.to_venue)
        event(log, "kill_fallback_cancels", logging.WARNING, orders=pushed)
        return pushed

    # --- reports in -------------------------------------------------------------------------------------------------
    def drain_taps(self) -> int:
        """Journal what the lockstep venue took and reported since the last drain, and keep the views; how many."""
        assert self.lockstep is not None
        total = 0
        tap = self.lockstep.order_tap
        while tap.depth:
            n = tap.pop_many(self._orders_buf)
            total += n
            orders = self._orders_buf[:n]
            for o in orders[-50:]:
                self.recent_orders.append(self.order_view(o))
            c0 = time.monotonic_ns()
            self.journal.append_orders(orders, self.symbols)  # a gate's refusal is in its report (the reason)
            if self.tracer is not None:
                self.tracer.orders_journaled(orders, (c0, time.monotonic_ns()))
            self._track_orders(orders)
        tap = self.lockstep.report_tap
        while tap.depth:
            m = tap.pop_many(self._reports_buf)
            total += m
            reports = self._reports_buf[:m]
            self._note_fills(reports)
            self._journal_reports(reports)
            self._track_reports(reports)
        return total

    def journal_recovery(self) -> int:
        """At start, before the core runs: what the venue's recovery reported goes into the journal only (the core
        that placed those orders is gone; the restart rebuilds positions from the journal); how many."""
        total = 0
        ring = self.venue.reports
        while ring.ctrl[RING_HEAD] != ring.ctrl[RING_TAIL]:
            m = ring.pop_many(self._reports_buf)
            reports = self._reports_buf[:m]
            self._note_fills(reports)
            self.journal.append_reports(reports, self.symbols)
            total += m
        return total

    def pump_reports(self) -> int:
        """Hand the venue's execution reports to the core (through the journal); how many."""
        if self.lockstep is not None:
            return self.drain_taps()
        ring = self.venue.reports
        if ring.ctrl[RING_HEAD] == ring.ctrl[RING_TAIL]:
            return 0
        buf = self._reports_buf
        m = ring.pop_many(buf)
        if m:
            reports = buf[:m]
            self._note_fills(reports)
            self._journal_reports(reports)
            self._track_reports(reports)
            pushed = 0
            while pushed < m:
                pushed += self.core.parts.fills.push_many(reports[pushed:])
                self.core.notify()
        return m

    def _journal_reports(self, reports: np.ndarray) -> None:
        c0 = time.monotonic_ns()
        self.journal.append_reports(reports, self.symbols)
        if self.tracer is not None:
            self.tracer.reports_journaled(reports, (c0, time.monotonic_ns()))

    def _note_fills(self, reports: np.ndarray) -> None:
        for r in reports[reports["kind"] == records.EXEC_FILL]:
            self.recent_fills.append(
                {
                    "ts": time.time(),
                    "coid": int(r["client_order_id"]),
                    "symbol": self.symbols[int(r["symbol_id"])],
                    "side": "buy" if int(r["side"]) > 0 else "sell",
                    "price": float(r["price"]),
                    "size": float(r["size"]),
                    "fee": float(r["fee"]),
                    "liquidity": "maker" if int(r["liquidity"]) == records.LIQUIDITY_MAKER else "taker",
                    "ts_exch": int(r["ts_exch_ns"]) / 1e9 or None,  # the venue's clock: market time on replay
                    "leaves": float(r["leaves"]),
                    "exit": fill_exit(self.open_orders.get(int(r["client_order_id"]), {}).get("flags", 0)),
                }
            )

    # --- the open-order book ------------------------------------------------------------------------------------------
    def _track_orders(self, orders: np.ndarray) -> None:
        """Orders handed to the venue join the open-order book (the orders pane); a cancel marks its order."""
        for o in orders:
            coid = int(o["client_order_id"])
            if int(o["action"]) == records.ACTION_CANCEL:
                if coid in self.open_orders:
                    self.open_orders[coid]["cancelling"] = True
                continue
            view = self.order_view(o)
            view["filled"] = 0.0
            view["cancelling"] = False
            self.open_orders[coid] = view
        while len(self.open_orders) > OPEN_ORDERS_KEPT:
            self.open_orders.pop(next(iter(self.open_orders)))

    def _track_reports(self, reports: np.ndarray) -> None:
        for r in reports:
            coid = int(r["client_order_id"])
            view = self.open_orders.get(coid)
            if view is None:
                continue
            kind = int(r["kind"])
            if kind == records.EXEC_FILL:
                view["filled"] = float(view["filled"]) + float(r["size"])  # type: ignore[arg-type]
                if float(r["leaves"]) <= 1e-12:
                    del self.open_orders[coid]
            elif kind in (records.EXEC_CANCELED, records.EXEC_EXPIRED, records.EXEC_REJECTED):
                del self.open_orders[coid]

    def order_view(self, o: np.void) -> dict[str, object]:
        s = int(o["symbol_id"])
        reason = int(o["reject_reason"])
        return {
            "ts": time.time(),
            "ts_mkt": int(o["ts_mkt_ns"]) / 1e9 or None,  # the core's market clock when it decided (replay: data time)
            "coid": int(o["client_order_id"]),
            "symbol": self.symbols[s] if 0 <= s < len(self.symbols) else "?",
            "action": "cancel" if int(o["action"]) == records.ACTION_CANCEL else "submit",
            "side": "buy" if int(o["side"]) > 0 else "sell",
            "type": records.ORDER_TYPE_NAMES.get(int(o["order_type"]), "?"),
            "price": float(o["price"]),
            "stop_px": float(o["stop_px"]),
            "size": float(o["size"]),
            "reason": records.REASON_NAMES[reason] if 0 <= reason < len(records.REASON_NAMES) else "?",
            "flags": int(o["flags"]),
            "risk_value": float(o["risk_value"]),  # a refusal's figure and limit (records.REASON_FIGURES)
            "risk_limit": float(o["risk_limit"]),
            "also": [name for i, name in enumerate(records.REASON_NAMES) if int(o["also_failed"]) >> i & 1],
        }

    # --- the loop -------------------------------------------------------------------------------------------------------
    def _core_output(self) -> None:
        """The core signalled its eventfd: orders wait in the execution ring."""
        try:
            os.eventfd_read(self.core.output_fd())
        except BlockingIOError:
            pass
        self.kick()

    async def run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        fd = self.core.output_fd()
        loop.add_reader(fd, self._core_output)
        try:
            while not stopping.is_set():
                if self.pump_orders() + self.pump_reports():
                    await asyncio.sleep(0)  # let the rest of the loop run, then look again
                    continue
                # quiet: sleep until the core signals orders (its eventfd), a command or a venue report kicks, or
                # IDLE_S passes (a safety net: nothing waits on it). The core signals every order that reaches the
                # ring after arm_output, so a cancel that follows its fill wakes this loop too.
                if self.core.arm_output() == 0:
                    self._waiter = waiter = loop.create_future()
                    timer = loop.call_later(IDLE_S, _wake, waiter)
                    await waiter
                    timer.cancel()
                    self._waiter = None
        finally:
            loop.remove_reader(fd)

    async def settle(self, timeout_s: float) -> bool:
        """Hand orders and reports on until the venue holds nothing in flight (bounded); True when it settled.

        Orders still in flight when a live adapter stops would fill unseen and leave the journal behind the venue.
        """
        end = time.monotonic() + timeout_s
        while True:
            self.pump_orders()
            self.pump_reports()
            if not self.venue.busy():
                return True
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.02)
