"""The Python owner of the core: builds its state, runs its thread, takes commands, hands out snapshots.

``Core`` is what the runtime and the tests hold. ``start()`` runs ``engine_run_nb`` on a dedicated thread with the
GIL released; ``step()`` runs one pass on the calling thread instead (for tests and deterministic replays, never
while the thread runs). Producers push records into the rings of :attr:`parts` and then call :meth:`notify` so a
sleeping core wakes at once. Readers call :meth:`snapshot`, a consistent copy taken under the seqlock.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot4.core import records
from bot4.core.breaker import BreakerBank
from bot4.core.config import CoreConfig
from bot4.core.instruments import Instruments
from bot4.core.jit import bind
from bot4.core.pool import POOL_HIGH_WATER, POOL_IN_USE, POOL_OVERFLOWS
from bot4.core.publish import engine_publish_nb, engine_read_nb
from bot4.core.ring import RING_FULL, RING_HEAD, RING_HIGH_WATER, RING_TAIL
from bot4.core.state import (
    RING_ROWS,
    W_KILL,
    W_NOTIFY_FD,
    W_RUNNING,
    W_SLEEPING,
    W_STOP,
    CoreParts,
    EngineState,
    Published,
    UserArrays,
    build_state,
    user_strategy_arrays,
)
from bot4.core.stats import StatsSnapshot
from bot4.core.step import engine_step_nb
from bot4.core.thread import (
    arm_output_notify_nb,
    core_sleeping_nb,
    engine_run_nb,
    kick_core_nb,
    push_ticks_nb,
    try_publish_nb,
    wake_core_nb,
)


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float
    avg_px: float
    last_px: float
    bid: float
    ask: float
    unrealized: float
    realized: float
    exposure_usd: float
    max_exposure_usd: float
    stop_px: float
    take_profit_px: float
    manual: bool = False  # a person opened it (a manual order): its strategy leaves it alone unless manage_manual


@dataclass(frozen=True)
class BreakerView:
    name: str
    state: str
    since_ns: int
    error_rate: float
    last_latency_ns: int
    last_cause: int


@dataclass(frozen=True)
class RingView:
    name: str
    depth: int
    capacity: int
    high_water: int
    refused: int


class CoreSnapshot:
    """A consistent copy of everything the core publishes, with named access.

    ``core``, ``acct`` are the one-row tables as records (``snap.core["clock_ns"]``); ``sym`` and ``brk`` the per-symbol
    and per-breaker tables (``snap.sym["qty"]``, a column per field).
    """

    def __init__(self, core: Core, arrays: Published) -> None:
        self.stats_data = arrays.stats
        self.core = arrays.core[0]
        self.acct = arrays.acct[0]
        self.sym, self.corr, self.brk = arrays.sym, arrays.corr, arrays.brk
        self.pool, self.rings = arrays.pool, arrays.rings
        self.book = arrays.book  # [symbol, side (0 bids, 1 asks), level, (price, size)], NaN past the last level
        self.stats = StatsSnapshot(self.stats_data)
        self.symbols = core.symbols
        self.breaker_names = core.breaker_names
        self.ring_capacities = core.ring_capacities
        self.pool_capacity = core.parts.pool.capacity
        self.taken_ns = time.monotonic_ns()

    def _int(self, name: str) -> int:
        return int(self.core[name])

    def book_levels(self, symbol: str) -> dict[str, list[list[float]]]:
        """``symbol``'s best L2 levels, ``{"bids": [[price, size], ...], "asks": ...}`` best first; empty lists
        when the feed carries no depth."""
        s = self.symbols.index(symbol)
        out = {}
        for b, name in ((0, "bids"), (1, "asks")):
            levels = self.book[s, b]
            out[name] = [[float(p), float(q)] for p, q in levels[~np.isnan(levels[:, 0])]]
        return out

    @property
    def trading_state(self) -> str:
        return records.STATE_NAMES[self._int("trading_state")]

    @property
    def state_since_ns(self) -> int:
        return self._int("state_since_ns")

    @property
    def halt_seq(self) -> int:
        """The confirmation value a re-arm must quote."""
        return self._int("halt_seq")

    @property
    def rearm_wait_s(self) -> float:
        """Seconds of re-arm cool-down left (0 when a re-arm would be admitted by time)."""
        return max(0.0, (self._int("rearm_after_ns") - time.monotonic_ns()) / 1e9)

    @property
    def paused(self) -> bool:
        return bool(self.core["paused"])

    @property
    def market_clock_ns(self) -> int:
        return self._int("clock_ns")

    @property
    def entry_cooldown_until_ns(self) -> int:
        return self._int("entry_cooldown_until")

    @property
    def loss_streak(self) -> int:
        return self._int("loss_streak")

    def blocks(self) -> list[tuple[str, float]]:
        """What stops new entries now, each with its seconds left (0 when it has no end of its own): the kill or the
        drawdown breaker (HALTED), REDUCING, an operator's pause, the loss-streak cool-down (market time), an open
        venue breaker or a stale feed."""
        out: list[tuple[str, float]] = []
        state = self.trading_state
        if state == "HALTED":
            out.append(("halted", self.rearm_wait_s))
        elif state == "REDUCING":
            out.append(("reducing (drawdown)", 0.0))
        if self.paused:
            out.append(("paused", 0.0))
        cool = (self.entry_cooldown_until_ns - self.market_clock_ns) / 1e9
        if cool > 0:
            out.append(("loss-streak cool-down", cool))
        for b in self.breakers():
            if b.state == "OPEN":
                out.append((f"{b.name} breaker open", 0.0))
        return out

    @property
    def open_orders(self) -> int:
        return self._int("open_orders")

    @property
    def trades(self) -> tuple[int, int, int]:
        """(closed round trips, wins, losses)."""
        return self._int("trades"), self._int("wins"), self._int("losses")

    @property
    def kills(self) -> int:
        return self._int("kills")

    @property
    def last_command(self) -> tuple[int, int, str]:
        """(sequence, kind, result) of the last command the core handled."""
        return self._int("last_cmd_seq"), self._int("last_cmd_kind"), records.REASON_NAMES[self._int("last_cmd_reason")]

    def _money(self, name: str) -> float:
        return float(self.acct[name])

    @property
    def equity(self) -> float:
        return self._money("equity")

    @property
    def peak_equity(self) -> float:
        return self._money("peak")

    @property
    def drawdown(self) -> float:
        return self._money("drawdown")

    @property
    def realized(self) -> float:
        return self._money("realized")

    @property
    def fees(self) -> float:
        return self._money("fees")

    @property
    def unrealized(self) -> float:
        return self._money("unrealized")

    @property
    def gross_exposure(self) -> float:
        return self._money("gross")

    @property
    def net_exposure(self) -> float:
        return self._money("net")

    @property
    def var(self) -> float:
        return self._money("var")

    def positions(self) -> list[Position]:
        out = []
        for s, name in enumerate(self.symbols):
            row = self.sym[s]
            out.append(
                Position(
                    name,
                    float(row["qty"]),
                    float(row["avg_px"]),
                    float(row["last_px"]),
                    float(row["bid"]),
                    float(row["ask"]),
                    float(row["unrealized"]),
                    float(row["realized"]),
                    float(row["exposure"]),
                    float(row["max_exposure"]),
                    float(row["stop_px"]),
                    float(row["tp_px"]),
                    bool(row["manual_pos"]),
                )
            )
        return out

    def breakers(self) -> list[BreakerView]:
        out = []
        for b, name in enumerate(self.breaker_names):
            row = self.brk[b]
            calls = int(row["calls"])
            failed = bin(int(row["outcomes"]) & ((1 << 64) - 1)).count("1")
            out.append(
                BreakerView(
                    name,
                    records.BREAKER_STATE_NAMES[int(row["state"])],
                    int(row["since_ns"]),
                    failed / calls if calls else 0.0,
                    int(row["last_latency_ns"]),
                    int(row["last_cause"]),
                )
            )
        return out

    def rings_view(self) -> list[RingView]:
        return [
            RingView(
                name,
                int(self.rings[r, RING_HEAD] - self.rings[r, RING_TAIL]),
                self.ring_capacities[r],
                int(self.rings[r, RING_HIGH_WATER]),
                int(self.rings[r, RING_FULL]),
            )
            for r, name in enumerate(RING_ROWS)
        ]

    @property
    def pool_usage(self) -> tuple[int, int, int, int]:
        """(in use, high water, capacity, overflows) of the order pool."""
        return (
            int(self.pool[POOL_IN_USE]),
            int(self.pool[POOL_HIGH_WATER]),
            self.pool_capacity,
            int(self.pool[POOL_OVERFLOWS]),
        )


class Core:
    """The trading core of one engine."""

    def __init__(self, config: CoreConfig | None = None, publish_interval_s: float = 0.05) -> None:
        self.config = config or CoreConfig()
        self.state: EngineState
        self.parts: CoreParts
        self.state, self.parts = build_state(self.config, publish_interval_s)
        self.user: UserArrays = user_strategy_arrays(self.config)  # the user strategy's records (state.py)
        self.symbols = self.config.symbols
        self.symbol_ids = {name: i for i, name in enumerate(self.symbols)}
        venues = self.config.venues
        self.breaker_names = tuple(f"venue:{v}" for v in venues) + tuple(f"feed:{v}" for v in venues)
        self.ring_capacities = tuple(r.capacity for r in self.parts.rings())
        self._step = bind(engine_step_nb, self.state, self.user)
        self._publish = bind(engine_publish_nb, self.state)
        self._wake = bind(wake_core_nb, self.state.sync)
        self._kick: Any = None  # bound when producers may run the step (start, drive): a replay never needs it
        # False: producers only wake a sleeping core thread (the design before kick_core_nb; bench/ measures both)
        self.producers_run_step = True
        self._sleeping = bind(core_sleeping_nb, self.state.sync)
        self._arm = bind(arm_output_notify_nb, self.state.sync, self.state.rings.orders.ctrl)
        self._output_fd = -1
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._kill_lock = threading.Lock()
        self._snap_arrays = self._new_snapshot_arrays()  # the reader's argument types, to bind it once
        self._read = bind(engine_read_nb, self.state, self._snap_arrays, 64)
        self._try_publish = bind(try_publish_nb, self.state)
        self.driven = False  # True: no core thread; producers run the step (see drive())
        self._publish(self.state)

    def _new_snapshot_arrays(self) -> Published:
        pub = self.state.pub
        return Published(np.zeros(pub.stats.shape, pub.stats.dtype), *(np.empty_like(a) for a in pub[1:]))

    # --- views for the venues ------------------------------------------------------------------------------------------
    def instruments(self) -> Instruments:
        """The instrument table a venue adapter reads and corrects (steps, ticks), without the rest of the core."""
        return Instruments(self.config.instruments, self.state.sym)

    def breakers(self) -> BreakerBank:
        """The breaker table for the side that makes the venue's calls."""
        st = self.state
        return BreakerBank(st.brk, st.brk_cfg, st.rings.transitions.buf, st.rings.transitions.ctrl, len(self.config.venues))

    # --- running ------------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run the core on its own thread (GIL released)."""
        if self.running:
            raise RuntimeError("the core is already running")
        self.state.sync[W_STOP] = 0
        self._bind_kick()
        self._thread = threading.Thread(
            target=engine_run_nb, args=(self.state, self.user), name="bot4-core", daemon=True
        )
        self._thread.start()
        while not self.state.sync[W_RUNNING] and self._thread.is_alive():
            time.sleep(0.0005)

    def drive(self) -> None:
        """Run without the core thread: whoever pushes records or sends a command runs the step on its own thread, one
        holder at a time (the lockstep replay holds it for a whole batch). The running engine does this on recorded
        data, where the feed drives the core and the paper venue together."""
        if self.running:
            raise RuntimeError("drive() while the core thread runs")
        self._bind_kick()
        self.driven = True
        self.state.sync[W_SLEEPING] = 1  # producers find the step free and take it (kick_core_nb)

    def _bind_kick(self) -> None:
        if self._kick is None:
            self._kick = bind(kick_core_nb, self.state, self.user)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the core thread to finish its pass, publish, and return."""
        if self._thread is None:
            return
        self.state.sync[W_STOP] = 1
        self._wake(self.state.sync)  # the thread itself must see the stop: wake it, never run its step here
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the core thread did not stop within {timeout} s")
        self._thread = None

    def step(self) -> int:
        """One pass on the calling thread (only while the core thread is not running); records handled."""
        if self.running:
            raise RuntimeError("step() while the core thread runs")
        return int(self._step(self.state, self.user))

    def drain(self, max_steps: int = 1_000_000) -> int:
        """Step until the inbound rings are empty; records handled."""
        total = 0
        for _ in range(max_steps):
            n = self.step()
            if n == 0:
                break
            total += n
        return total

    def publish(self) -> None:
        """Publish now (only while the core thread is not running; the thread publishes by itself)."""
        if self.running:
            raise RuntimeError("publish() while the core thread runs")
        if self.driven:
            self._try_publish(self.state)
        else:
            self._publish(self.state)

    def push_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Feed side: push ticks (stamped with their ingress time) and wake the core; the count accepted.

        Ticks that do not fit are refused and counted as back-pressure; the caller keeps them and retries.
        """
        n = len(ticks) - start if count is None else count
        pushed = int(push_ticks_nb(self.state.rings.md.ctrl, self.state.rings.md.buf, ticks, start, n))
        self.notify()
        return pushed

    def notify(self) -> None:
        """Producers call this after pushing: if the core thread sleeps, the step runs here and now (the thread
        would take a CPU wake-up, 30-850 us on a small VM, to start); if it is awake, it sees the records itself."""
        if self._thread is None and not self.driven:
            return
        if not self.producers_run_step:
            self._wake(self.state.sync)
        elif self._sleeping(self.state.sync):  # one array: cheap to call; the whole state is not
            self._kick(self.state, self.user)

    def output_fd(self) -> int:
        """An eventfd the core thread signals when orders wait in the execution ring and :meth:`arm_output` was
        called since the last signal: an event loop waits on it instead of polling the ring on a timer."""
        if self._output_fd < 0:
            self._output_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.state.sync[W_NOTIFY_FD] = self._output_fd
        return self._output_fd

    def arm_output(self) -> int:
        """Ask for a signal on :meth:`output_fd` at the next order; returns the orders already waiting (0 = sleep)."""
        return int(self._arm(self.state.sync, self.state.rings.orders.ctrl))

    def close_output_fd(self) -> None:
        """Close the eventfd (after :meth:`stop`: the core thread no longer signals it)."""
        if self._output_fd >= 0:
            if self.running:
                raise RuntimeError("close_output_fd() while the core thread runs")
            self.state.sync[W_NOTIFY_FD] = -1
            os.close(self._output_fd)
            self._output_fd = -1

    def snapshot(self) -> CoreSnapshot:
        """A consistent copy of the published state (any thread)."""
        if self.driven:
            self._try_publish(self.state)  # unless a producer holds the step (it publishes as it goes)
        elif not self.running:
            self._publish(self.state)
        arrays = self._new_snapshot_arrays()  # the snapshot's own; the read fills only the histograms' used buckets
        with self._read_lock:
            while self._read(self.state, arrays, 64) < 0:
                time.sleep(0)
        return CoreSnapshot(self, arrays)

    # --- commands -----------------------------------------------------------------------------------------------------
    def send(self, kind: int, **fields: float | int) -> int:
        """Queue a command for the core; its sequence number, or -1 when the command ring is full."""
        seq = self.parts.commands.send(kind, **fields)
        self.notify()
        return seq

    def kill(self) -> int:
        """Ask the core to halt and cancel everything: a flag the step reads first on every pass (no queue that can be
        full, nothing to compile); returns the kill request's number (the core's ``kill_seen`` reaches it when applied).
        """
        with self._kill_lock:
            n = int(self.state.sync[W_KILL]) + 1
            self.state.sync[W_KILL] = n
        self.notify()
        return n

    def command_result(self, seq: int) -> str | None:
        """The core's result for command ``seq`` (REASON name), None if not handled yet or too long ago to say."""
        core = self.state.core[0]
        k = seq % len(core["cmd_result_seq"])
        if int(core["cmd_result_seq"][k]) != seq:
            return None
        return records.REASON_NAMES[int(core["cmd_result"][k])]

    def kill_applied(self, request: int) -> bool:
        """The core has applied kill request ``request`` (or a later one)."""
        return int(self.state.core[0]["kill_seen"]) >= request

    def rearm(self, confirmation: int) -> int:
        return self.send(records.CMD_REARM, arg=confirmation)

    def pause(self) -> int:
        return self.send(records.CMD_PAUSE)

    def resume(self) -> int:
        return self.send(records.CMD_RESUME)

    def cancel(self, client_order_id: int) -> int:
        return self.send(records.CMD_CANCEL, arg=client_order_id)

    def cancel_all(self) -> int:
        return self.send(records.CMD_CANCEL_ALL)

    def flatten(self) -> int:
        return self.send(records.CMD_FLATTEN)

    def manual_order(
        self,
        symbol: str,
        side: int,
        size: float,
        stop_px: float,
        price: float | None = None,
        take_profit_px: float = float("nan"),
    ) -> int:
        """A person's order: market unless ``price`` is given; it passes exactly the strategy orders' checks."""
        if symbol not in self.symbol_ids:
            raise KeyError(f"unknown symbol {symbol!r}; known: {', '.join(self.symbols)}")
        fields: dict[str, float | int] = {
            "symbol_id": self.symbol_ids[symbol],
            "side": side,
            "size": size,
            "stop_px": stop_px,
            "take_profit_px": take_profit_px,
            "order_type": records.ORDER_MARKET if price is None else records.ORDER_LIMIT,
        }
        if price is not None:
            fields["price"] = price
        return self.send(records.CMD_MANUAL_ORDER, **fields)
