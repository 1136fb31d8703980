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

import numpy as np

from bot4.core.config import CoreConfig
from bot4.core.engine import (
    arm_output_notify_nb,
    core_sleeping_nb,
    engine_publish_nb,
    engine_read_nb,
    engine_run_nb,
    engine_step_nb,
    kick_core_nb,
    push_ticks_nb,
    wake_core_nb,
)
from bot4.core.jit import bind
from bot4.core.pool import POOL_HIGH_WATER, POOL_IN_USE, POOL_OVERFLOWS
from bot4.core.records import (
    BREAKER_STATE_NAMES,
    CMD_CANCEL,
    CMD_CANCEL_ALL,
    CMD_FLATTEN,
    CMD_KILL,
    CMD_MANUAL_ORDER,
    CMD_PAUSE,
    CMD_REARM,
    CMD_RESUME,
    ORDER_LIMIT,
    ORDER_MARKET,
    REASON_NAMES,
    STATE_NAMES,
)
from bot4.core.ring import RING_FULL, RING_HEAD, RING_HIGH_WATER, RING_TAIL
from bot4.core.state import (
    A_DRAWDOWN,
    A_EQUITY,
    A_FEES,
    A_GROSS,
    A_NET,
    A_PEAK,
    A_REALIZED,
    A_UNREALIZED,
    A_VAR,
    B_CALLS,
    B_LAST_CAUSE,
    B_LAST_LATENCY_NS,
    B_OUTCOMES,
    B_SINCE_NS,
    B_STATE,
    I_CLOCK_NS,
    I_ENTRY_COOLDOWN_UNTIL,
    I_HALT_SEQ,
    I_KILLS,
    I_LAST_CMD_KIND,
    I_LAST_CMD_REASON,
    I_LAST_CMD_SEQ,
    I_LOSS_STREAK,
    I_LOSSES,
    I_NOTIFY_FD,
    I_OPEN_ORDERS,
    I_PAUSED,
    I_REARM_AFTER_NS,
    I_RUNNING,
    I_STATE_SINCE_NS,
    I_STOP,
    I_TRADES,
    I_TRADING_STATE,
    I_WINS,
    RING_ROWS,
    S_ASK,
    S_AVG_PX,
    S_BID,
    S_EXPOSURE,
    S_LAST_PX,
    S_MAX_EXPOSURE,
    S_QTY,
    S_REALIZED,
    S_STOP_PX,
    S_TP_PX,
    S_UNREALIZED,
    CoreParts,
    EngineState,
    build_state,
)
from bot4.core.stats import StatsSnapshot


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
    """A consistent copy of everything the core publishes, with named access."""

    def __init__(self, core: Core, arrays: tuple[np.ndarray, ...]) -> None:
        self.stats_data, self.ist, self.acct, self.sym, self.corr, self.brk, self.pool, self.rings = arrays
        self.stats = StatsSnapshot(self.stats_data)
        self.symbols = core.symbols
        self.breaker_names = core.breaker_names
        self.ring_capacities = core.ring_capacities
        self.pool_capacity = core.parts.pool.capacity
        self.taken_ns = time.monotonic_ns()

    @property
    def trading_state(self) -> str:
        return STATE_NAMES[int(self.ist[I_TRADING_STATE])]

    @property
    def state_since_ns(self) -> int:
        return int(self.ist[I_STATE_SINCE_NS])

    @property
    def halt_seq(self) -> int:
        """The confirmation value a re-arm must quote."""
        return int(self.ist[I_HALT_SEQ])

    @property
    def rearm_wait_s(self) -> float:
        """Seconds of re-arm cool-down left (0 when a re-arm would be admitted by time)."""
        return max(0.0, (int(self.ist[I_REARM_AFTER_NS]) - time.monotonic_ns()) / 1e9)

    @property
    def paused(self) -> bool:
        return bool(self.ist[I_PAUSED])

    @property
    def market_clock_ns(self) -> int:
        return int(self.ist[I_CLOCK_NS])

    @property
    def entry_cooldown_until_ns(self) -> int:
        return int(self.ist[I_ENTRY_COOLDOWN_UNTIL])

    @property
    def loss_streak(self) -> int:
        return int(self.ist[I_LOSS_STREAK])

    @property
    def open_orders(self) -> int:
        return int(self.ist[I_OPEN_ORDERS])

    @property
    def trades(self) -> tuple[int, int, int]:
        """(closed round trips, wins, losses)."""
        return int(self.ist[I_TRADES]), int(self.ist[I_WINS]), int(self.ist[I_LOSSES])

    @property
    def kills(self) -> int:
        return int(self.ist[I_KILLS])

    @property
    def last_command(self) -> tuple[int, int, str]:
        """(sequence, kind, result) of the last command the core handled."""
        return int(self.ist[I_LAST_CMD_SEQ]), int(self.ist[I_LAST_CMD_KIND]), REASON_NAMES[int(self.ist[I_LAST_CMD_REASON])]

    @property
    def equity(self) -> float:
        return float(self.acct[A_EQUITY])

    @property
    def peak_equity(self) -> float:
        return float(self.acct[A_PEAK])

    @property
    def drawdown(self) -> float:
        return float(self.acct[A_DRAWDOWN])

    @property
    def realized(self) -> float:
        return float(self.acct[A_REALIZED])

    @property
    def fees(self) -> float:
        return float(self.acct[A_FEES])

    @property
    def unrealized(self) -> float:
        return float(self.acct[A_UNREALIZED])

    @property
    def gross_exposure(self) -> float:
        return float(self.acct[A_GROSS])

    @property
    def net_exposure(self) -> float:
        return float(self.acct[A_NET])

    @property
    def var(self) -> float:
        return float(self.acct[A_VAR])

    def positions(self) -> list[Position]:
        out = []
        for s, name in enumerate(self.symbols):
            row = self.sym[s]
            out.append(
                Position(
                    name,
                    float(row[S_QTY]),
                    float(row[S_AVG_PX]),
                    float(row[S_LAST_PX]),
                    float(row[S_BID]),
                    float(row[S_ASK]),
                    float(row[S_UNREALIZED]),
                    float(row[S_REALIZED]),
                    float(row[S_EXPOSURE]),
                    float(row[S_MAX_EXPOSURE]),
                    float(row[S_STOP_PX]),
                    float(row[S_TP_PX]),
                )
            )
        return out

    def breakers(self) -> list[BreakerView]:
        out = []
        for b, name in enumerate(self.breaker_names):
            row = self.brk[b]
            calls = int(row[B_CALLS])
            failed = bin(int(row[B_OUTCOMES]) & ((1 << 64) - 1)).count("1")
            out.append(
                BreakerView(
                    name,
                    BREAKER_STATE_NAMES[int(row[B_STATE])],
                    int(row[B_SINCE_NS]),
                    failed / calls if calls else 0.0,
                    int(row[B_LAST_LATENCY_NS]),
                    int(row[B_LAST_CAUSE]),
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
        self.symbols = self.config.symbols
        self.symbol_ids = {name: i for i, name in enumerate(self.symbols)}
        venues = self.config.venues
        self.breaker_names = tuple(f"venue:{v}" for v in venues) + tuple(f"feed:{v}" for v in venues)
        self.ring_capacities = tuple(
            r.capacity for r in (self.parts.md, self.parts.fills, self.parts.commands, self.parts.orders,
                                 self.parts.rejects, self.parts.state_log, self.parts.transitions)
        )
        self._step = bind(engine_step_nb, self.state)
        self._publish = bind(engine_publish_nb, self.state)
        self._wake = bind(wake_core_nb, self.state.ist)
        self._kick = bind(kick_core_nb, self.state)
        # False: producers only wake a sleeping core thread (the design before kick_core_nb; bench/ measures both)
        self.producers_run_step = True
        self._sleeping = bind(core_sleeping_nb, self.state.ist)
        self._arm = bind(arm_output_notify_nb, self.state.ist, self.state.out_ctrl)
        self._output_fd = -1
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._snap_arrays = self._new_snapshot_arrays()  # the reader's argument types, to bind it once
        self._read = bind(engine_read_nb, self.state, *self._snap_arrays, 64)
        self._publish(self.state)

    def _new_snapshot_arrays(self) -> tuple[np.ndarray, ...]:
        st = self.state
        return (np.zeros(st.pub_stats.shape, st.pub_stats.dtype),) + tuple(
            np.empty_like(a) for a in (st.pub_ist, st.pub_acct, st.pub_sym, st.pub_corr, st.pub_brk, st.pub_pool, st.pub_rings)
        )

    # --- running ------------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run the core on its own thread (GIL released)."""
        if self.running:
            raise RuntimeError("the core is already running")
        self.state.ist[I_STOP] = 0
        self._thread = threading.Thread(target=engine_run_nb, args=(self.state,), name="bot4-core", daemon=True)
        self._thread.start()
        while not self.state.ist[I_RUNNING] and self._thread.is_alive():
            time.sleep(0.0005)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the core thread to finish its pass, publish, and return."""
        if self._thread is None:
            return
        self.state.ist[I_STOP] = 1
        self._wake(self.state.ist)  # the thread itself must see the stop: wake it, never run its step here
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the core thread did not stop within {timeout} s")
        self._thread = None

    def step(self) -> int:
        """One pass on the calling thread (only while the core thread is not running); records handled."""
        if self.running:
            raise RuntimeError("step() while the core thread runs")
        return int(self._step(self.state))

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
        self._publish(self.state)

    def push_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Feed side: push ticks (stamped with their ingress time) and wake the core; the count accepted.

        Ticks that do not fit are refused and counted as back-pressure; the caller keeps them and retries.
        """
        n = len(ticks) - start if count is None else count
        pushed = int(push_ticks_nb(self.state.md_ctrl, self.state.md_buf, ticks, start, n))
        self.notify()
        return pushed

    def notify(self) -> None:
        """Producers call this after pushing: if the core thread sleeps, the step runs here and now (the thread
        would take a CPU wake-up, 30-850 us on a small VM, to start); if it is awake, it sees the records itself."""
        if self._thread is None:
            return
        if not self.producers_run_step:
            self._wake(self.state.ist)
        elif self._sleeping(self.state.ist):  # one array: cheap to call; the step's 44 are not
            self._kick(self.state)

    def output_fd(self) -> int:
        """An eventfd the core thread signals when orders wait in the execution ring and :meth:`arm_output` was
        called since the last signal: an event loop waits on it instead of polling the ring on a timer."""
        if self._output_fd < 0:
            self._output_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.state.ist[I_NOTIFY_FD] = self._output_fd
        return self._output_fd

    def arm_output(self) -> int:
        """Ask for a signal on :meth:`output_fd` at the next order; returns the orders already waiting (0 = sleep)."""
        return int(self._arm(self.state.ist, self.state.out_ctrl))

    def close_output_fd(self) -> None:
        """Close the eventfd (after :meth:`stop`: the core thread no longer signals it)."""
        if self._output_fd >= 0:
            if self.running:
                raise RuntimeError("close_output_fd() while the core thread runs")
            self.state.ist[I_NOTIFY_FD] = -1
            os.close(self._output_fd)
            self._output_fd = -1

    def snapshot(self) -> CoreSnapshot:
        """A consistent copy of the published state (any thread)."""
        if not self.running:
            self._publish(self.state)
        arrays = self._new_snapshot_arrays()  # the snapshot's own; the read fills only the histograms' used buckets
        with self._read_lock:
            while self._read(self.state, *arrays, 64) < 0:
                time.sleep(0)
        return CoreSnapshot(self, arrays)

    # --- commands -----------------------------------------------------------------------------------------------------
    def send(self, kind: int, **fields: float | int) -> int:
        """Queue a command for the core; its sequence number, or -1 when the command ring is full."""
        seq = self.parts.commands.send(kind, **fields)
        self.notify()
        return seq

    def kill(self) -> int:
        return self.send(CMD_KILL)

    def rearm(self, confirmation: int) -> int:
        return self.send(CMD_REARM, arg=confirmation)

    def pause(self) -> int:
        return self.send(CMD_PAUSE)

    def resume(self) -> int:
        return self.send(CMD_RESUME)

    def cancel(self, client_order_id: int) -> int:
        return self.send(CMD_CANCEL, arg=client_order_id)

    def cancel_all(self) -> int:
        return self.send(CMD_CANCEL_ALL)

    def flatten(self) -> int:
        return self.send(CMD_FLATTEN)

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
            "order_type": ORDER_MARKET if price is None else ORDER_LIMIT,
        }
        if price is not None:
            fields["price"] = price
        return self.send(CMD_MANUAL_ORDER, **fields)
