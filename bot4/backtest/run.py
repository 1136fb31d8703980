"""One backtest pass: the live core, paper venue and risk checks over recorded ticks (the lockstep path), with the
account's equity sampled on a regular market-time grid, and lanes: several configurations advanced together.

The pass is ``bot4.venues.lockstep.Lockstep`` (the same loop the paper engine runs on recorded data), driven here
bar by bar: after each bar of market time the core's own account row (``state.acct``: equity, fees, exposure) is
read, so the equity curve is the engine's figure, not a re-computation. Lanes share one loaded tick array and one
walk over it: every lane is advanced through the same bar before the next bar is touched, so the data is read
once, while it is in cache, for all of them (each lane still runs its own core and venue).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot4.core.records import FILL_DTYPE, ORDER_DTYPE
from bot4.core.runner import Core
from bot4.runtime.config import AppConfig
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange

SECOND_NS = 1_000_000_000
BAR_CHOICES_S = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86_400)
MAX_SAMPLES = 2_000
CHUNK = 1 << 15  # ticks per compiled call (it returns early when a tap needs draining)
TAP_CAPACITY = 1 << 12  # records per tap between drains

CURVE_DTYPE = np.dtype(
    [
        ("ts_ns", np.int64),  # end of the bar, exchange ns
        ("equity", np.float64),  # the account's equity then, quote units
        ("realized", np.float64),  # realized PnL before fees so far
        ("fees", np.float64),  # fees paid so far
        ("gross_exposure", np.float64),  # sum of |position| x price then
    ],
    align=True,
)


def choose_bar_ns(span_ns: int, spacing_ns: int = 0) -> int:
    """The smallest of the usual bar lengths that keeps the curve under MAX_SAMPLES points and is no shorter than
    the data's own spacing (``spacing_ns``: minute candles give minute samples, not repeated ones)."""
    for s in BAR_CHOICES_S:
        if span_ns / (s * SECOND_NS) <= MAX_SAMPLES and s * SECOND_NS >= spacing_ns:
            return s * SECOND_NS
    return BAR_CHOICES_S[-1] * SECOND_NS * max(1, int(span_ns / (BAR_CHOICES_S[-1] * SECOND_NS * MAX_SAMPLES)) + 1)


@dataclass
class LaneResult:
    """What one lane's pass left: the venue's orders and reports, the curve, and the account at the end."""

    config: AppConfig
    orders: np.ndarray  # ORDER_DTYPE: every order the venue took
    reports: np.ndarray  # FILL_DTYPE: every execution report, in order
    curve: np.ndarray  # CURVE_DTYPE, the first row the start
    last_px: np.ndarray  # per symbol, the core's last accepted price
    size_step: np.ndarray  # per symbol
    initial_equity: float
    final_equity: float
    fees: float
    realized: float
    trading_state: str
    round_trips: int  # the core's own count of closed round trips
    ticks: int
    ts_start: int
    ts_end: int
    bar_ns: int
    seconds: float  # wall time of the pass (all lanes together)


class Lane:
    """A core and a paper venue in lockstep, with its taps drained as it goes."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.core = Core(config.core)
        self.lockstep = Lockstep(self.core, PaperExchange(config.core, config.paper), TAP_CAPACITY)
        self.pos = 0
        self._orders: list[np.ndarray] = []
        self._reports: list[np.ndarray] = []
        self._buf_o = np.empty(TAP_CAPACITY, ORDER_DTYPE)
        self._buf_r = np.empty(TAP_CAPACITY, FILL_DTYPE)
        self.samples: list[tuple[int, float, float, float, float]] = []

    def _drain(self) -> None:
        n = self.lockstep.order_tap.pop_many(self._buf_o)
        if n:
            self._orders.append(self._buf_o[:n].copy())
        m = self.lockstep.report_tap.pop_many(self._buf_r)
        if m:
            self._reports.append(self._buf_r[:m].copy())

    def advance(self, ticks: np.ndarray, end: int) -> None:
        """Every tick up to (not including) ``end`` through venue and core (the taps drained when they fill)."""
        while self.pos < end:
            n = min(CHUNK, end - self.pos)
            done = self.lockstep.run(ticks, self.pos, n)
            if done < n:
                self._drain()
            if done == 0:
                self.core.drain()
                done = self.lockstep.run(ticks, self.pos, n)
                self._drain()
                if done == 0:
                    raise RuntimeError("the replay made no progress: the core's rings stay full")
            self.pos += done

    def sample(self, ts_ns: int) -> None:
        a = self.core.state.acct[0]
        self.samples.append((ts_ns, float(a["equity"]), float(a["realized"]), float(a["fees"]), float(a["gross"])))

    def finish(self, ticks: np.ndarray, bar_ns: int, seconds: float) -> LaneResult:
        self._drain()
        self.core.drain()
        self._drain()
        snap = self.core.snapshot()
        curve = np.array(self.samples, dtype=CURVE_DTYPE)
        ts = ticks["ts_exch_ns"]
        return LaneResult(
            config=self.config,
            orders=np.concatenate(self._orders) if self._orders else np.zeros(0, ORDER_DTYPE),
            reports=np.concatenate(self._reports) if self._reports else np.zeros(0, FILL_DTYPE),
            curve=curve,
            last_px=snap.sym["last_px"].copy(),
            size_step=snap.sym["size_step"].copy(),
            initial_equity=self.config.core.risk.initial_equity_usd,
            final_equity=snap.equity,
            fees=snap.fees,
            realized=snap.realized,
            trading_state=snap.trading_state,
            round_trips=snap.trades[0],
            ticks=len(ticks),
            ts_start=int(ts[0]) if len(ts) else 0,
            ts_end=int(ts[-1]) if len(ts) else 0,
            bar_ns=bar_ns,
            seconds=seconds,
        )


def run_lanes(
    configs: Sequence[AppConfig],
    ticks: np.ndarray,
    bar_ns: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[LaneResult]:
    """Run every configuration over ``ticks`` in one walk (bar by bar, each lane through the same bar in turn).
    ``progress(done, total)`` is called after each bar."""
    if len(ticks) == 0:
        raise ValueError("no ticks to replay (check --data and --from/--to)")
    ts = ticks["ts_exch_ns"]
    t0, t1 = int(ts[0]), int(ts[-1])
    spacing = int(np.median(np.diff(ts[:10_000]))) if len(ts) > 1 else 0
    bar = bar_ns or choose_bar_ns(t1 - t0, spacing)
    edges = np.arange(t0 + bar, t1 + bar, bar, dtype=np.int64)  # bar k ends at edges[k] (exclusive)
    ends = np.searchsorted(ts, edges, side="left")
    ends[-1] = len(ticks)  # the last bar takes the last tick
    lanes = [Lane(c) for c in configs]
    start = time.perf_counter()
    for lane in lanes:
        lane.sample(t0)
    for k, end in enumerate(ends.tolist()):
        for lane in lanes:
            lane.advance(ticks, end)
            lane.sample(int(edges[k]))
        if progress is not None:
            progress(end, len(ticks))
    seconds = time.perf_counter() - start
    results = [lane.finish(ticks, bar, seconds) for lane in lanes]
    for r in results:
        r.curve[-1]["equity"] = r.final_equity  # after the last drain (reports the last tick left)
        r.curve[-1]["fees"] = r.fees
        r.curve[-1]["realized"] = r.realized
    return results


def run_one(
    config: AppConfig, ticks: np.ndarray, bar_ns: int | None = None, progress: Callable[[int, int], None] | None = None
) -> LaneResult:
    return run_lanes([config], ticks, bar_ns, progress)[0]


def slice_ticks(ticks: np.ndarray, ts_from: int | None, ts_to: int | None) -> np.ndarray:
    """The ticks with ``ts_from <= ts_exch_ns < ts_to`` (either bound may be None)."""
    ts = ticks["ts_exch_ns"]
    a = 0 if ts_from is None else int(np.searchsorted(ts, ts_from, side="left"))
    b = len(ticks) if ts_to is None else int(np.searchsorted(ts, ts_to, side="left"))
    return ticks[a:b]
