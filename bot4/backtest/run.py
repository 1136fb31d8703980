"""One backtest pass: the live core, paper venue and risk checks over recorded ticks (the lockstep path), with the
account's equity sampled on a regular market-time grid, and lanes: several configurations advanced together.

Each lane is a core and a paper venue in lockstep (``bot4.venues.lockstep``: the loop the paper engine runs on
recorded data). The lanes of a pass are walked by one compiled kernel, ``replay_lanes_nb``: bar by bar of market
time, every lane through a bar before any lane starts the next, so the bar's ticks are read from memory once and
from cache for the others, and each lane's own account row (``state.acct``: equity, fees, exposure) is sampled at the
bar's end, so the equity curve is the engine's figure, not a re-computation. Python steps in only when a lane's taps
need draining (every few thousand orders and reports) or for the progress bar. Lanes whose arrays differ in type (a
different strategy's records) are walked as separate groups.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot4.core.jit import bind, typeof_cached
from bot4.core.records import FILL_DTYPE, ORDER_DTYPE
from bot4.core.runner import Core
from bot4.runtime.config import AppConfig
from bot4.venues.lockstep import ACCT_COLUMNS, Lockstep, replay_lanes_nb
from bot4.venues.paper import PaperExchange

SECOND_NS = 1_000_000_000
BAR_CHOICES_S = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86_400)
MAX_SAMPLES = 2_000
CHUNK = 1 << 15  # ticks per compiled call, about (it returns early when a tap needs draining)
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
        self.lockstep = Lockstep(self.core, PaperExchange(config.core, config.paper), TAP_CAPACITY, bind_now=False)
        self._orders: list[np.ndarray] = []
        self._reports: list[np.ndarray] = []
        self._buf_o = np.empty(TAP_CAPACITY, ORDER_DTYPE)
        self._buf_r = np.empty(TAP_CAPACITY, FILL_DTYPE)

    def drain(self) -> None:
        n = self.lockstep.order_tap.pop_many(self._buf_o)
        if n:
            self._orders.append(self._buf_o[:n].copy())
        m = self.lockstep.report_tap.pop_many(self._buf_r)
        if m:
            self._reports.append(self._buf_r[:m].copy())

    def account(self) -> tuple[float, float, float, float]:
        a = self.core.state.acct[0]
        return float(a["equity"]), float(a["realized"]), float(a["fees"]), float(a["gross"])

    def finish(
        self, ticks: np.ndarray, edges: np.ndarray, bar_ns: int, curve: np.ndarray, seconds: float
    ) -> LaneResult:
        """The lane's result; ``curve``: its account at the start, then at each bar's end (``edges``)."""
        self.drain()
        self.core.drain()
        self.drain()
        snap = self.core.snapshot()
        ts = ticks["ts_exch_ns"]
        out = np.zeros(len(curve), CURVE_DTYPE)
        out["ts_ns"][0] = int(ts[0])
        out["ts_ns"][1:] = edges
        for j, name in enumerate(("equity", "realized", "fees", "gross_exposure")):
            out[name] = curve[:, j]
        out[-1]["equity"] = snap.equity  # after the last drain (reports the last tick left)
        out[-1]["fees"] = snap.fees
        out[-1]["realized"] = snap.realized
        return LaneResult(
            config=self.config,
            orders=np.concatenate(self._orders) if self._orders else np.zeros(0, ORDER_DTYPE),
            reports=np.concatenate(self._reports) if self._reports else np.zeros(0, FILL_DTYPE),
            curve=out,
            last_px=snap.sym["last_px"].copy(),
            size_step=snap.sym["size_step"].copy(),
            initial_equity=self.config.core.risk.initial_equity_usd,
            final_equity=snap.equity,
            fees=snap.fees,
            realized=snap.realized,
            trading_state=snap.trading_state,
            round_trips=snap.trades[0],
            ticks=len(ticks),
            ts_start=int(ts[0]),
            ts_end=int(ts[-1]),
            bar_ns=bar_ns,
            seconds=seconds,
        )


def group_lanes(lanes: Sequence[Lane]) -> list[list[int]]:
    """The lanes' indices by the type of their arrays: one compiled walk takes lanes of one type."""
    groups: dict[object, list[int]] = {}
    for i, lane in enumerate(lanes):
        groups.setdefault(typeof_cached(lane.lockstep.lane), []).append(i)
    return list(groups.values())


class _Walk:
    """One group's pass through every bar: the compiled walk, and the drains between its calls."""

    def __init__(self, lanes: list[Lane], ticks: np.ndarray, ends: np.ndarray, curves: np.ndarray) -> None:
        self.lanes, self.ticks, self.ends, self.curves = lanes, ticks, ends, curves
        self.arrays = tuple(lane.lockstep.lane for lane in lanes)
        self.pos = np.zeros(len(lanes), np.int64)
        self.bar = np.zeros(len(lanes), np.int64)
        self._walk = bind(replay_lanes_nb, self.arrays, ticks, ends, self.pos, self.bar, curves, 0)

    def to(self, bar_stop: int) -> None:
        """Every lane through the bars before ``bar_stop``."""
        stuck = -1
        while True:
            before = self.pos.copy()
            short = int(self._walk(self.arrays, self.ticks, self.ends, self.pos, self.bar, self.curves, bar_stop))
            for lane in self.lanes:
                lane.drain()
            if short < 0:
                return
            if self.pos[short] == before[short]:  # no room even after its taps were drained: its core must step
                if stuck == short:
                    raise RuntimeError("the replay made no progress: the core's rings stay full")
                self.lanes[short].core.drain()
                self.lanes[short].drain()
                stuck = short
            else:
                stuck = -1


def run_lanes(
    configs: Sequence[AppConfig],
    ticks: np.ndarray,
    bar_ns: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[LaneResult]:
    """Run every configuration over ``ticks`` in one pass (bar by bar, every lane through a bar before the next).
    ``progress(done, total)`` is called as the pass goes (ticks, summed over the groups of lanes)."""
    if len(ticks) == 0:
        raise ValueError("no ticks to replay (check --data and --from/--to)")
    ts = ticks["ts_exch_ns"]
    t0, t1 = int(ts[0]), int(ts[-1])
    spacing = int(np.median(np.diff(ts[:10_000]))) if len(ts) > 1 else 0
    bar = bar_ns or choose_bar_ns(t1 - t0, spacing)
    edges = np.arange(t0 + bar, t1 + bar, bar, dtype=np.int64)  # bar k ends at edges[k] (exclusive)
    ends = np.searchsorted(ts, edges, side="left").astype(np.int64)
    ends[-1] = len(ticks)  # the last bar takes the last tick
    lanes = [Lane(c) for c in configs]
    curves = np.zeros((len(lanes), len(ends) + 1, ACCT_COLUMNS))  # row 0: the start; row k + 1: bar k's end
    for i, lane in enumerate(lanes):
        curves[i, 0] = lane.account()
    groups = group_lanes(lanes)
    start = time.perf_counter()
    for g, members in enumerate(groups):
        walk = _Walk([lanes[i] for i in members], ticks, ends, np.zeros((len(members), len(ends), ACCT_COLUMNS)))
        k = 0
        while k < len(ends):  # a call per CHUNK ticks or so, for the progress bar
            k = min(len(ends), max(k + 1, int(np.searchsorted(ends, ends[k] + CHUNK, side="right"))))
            walk.to(k)
            if progress is not None:
                progress((g * len(ticks) + int(ends[k - 1])) // len(groups), len(ticks))
        curves[members, 1:] = walk.curves
    seconds = time.perf_counter() - start
    return [lane.finish(ticks, edges, bar, curves[i], seconds) for i, lane in enumerate(lanes)]


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
