"""What the panes show, computed from snapshots: pure functions and a small rolling history, no widgets."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot4.core.histogram import HIST_BUCKETS, SUB_BUCKET_HALF

LATENCY_LIMITS_NS = {
    "decision": 1_000,  # the spec's limits: 1 µs decision, 10 µs risk check, 100 µs order path
    "risk_check": 10_000,
    "tick_to_order": 100_000,
    "order_to_ack": 100_000_000,  # a venue round trip: 100 ms
}
PERCENTILES = (50.0, 95.0, 99.0, 99.9)

_idx = np.arange(HIST_BUCKETS)
_shift = np.maximum(_idx // SUB_BUCKET_HALF - 1, 0)
BUCKET_MID = ((_idx - SUB_BUCKET_HALF * _shift) << _shift) + ((1 << _shift) - 1) / 2.0


def window_percentiles(counts: np.ndarray, pcts: tuple[float, ...] = PERCENTILES) -> list[float]:
    """Percentiles of the values counted in ``counts`` (bucket deltas over a window); NaN when empty."""
    total = int(counts.sum())
    if total <= 0:
        return [math.nan] * len(pcts)
    cum = np.cumsum(counts)
    out = []
    for p in pcts:
        rank = max(1, math.ceil(p / 100.0 * total))
        out.append(float(BUCKET_MID[int(np.searchsorted(cum, rank))]))
    return out


def fmt_ns(ns: float) -> str:
    if ns != ns:
        return "—"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def level(value: float, limit: float) -> str:
    """'ok' under half the limit, 'warn' up to it, 'bad' past it (names of theme colour variables follow)."""
    if value != value:
        return "muted"
    if value <= limit / 2:
        return "ok"
    return "warn" if value <= limit else "bad"


LEVEL_COLOR = {"ok": "$success", "warn": "$warning", "bad": "$error", "muted": "$foreground-muted"}


@dataclass
class LatencyRow:
    name: str
    percentiles: list[float]
    limit_ns: int
    history: list[float]
    count: int


@dataclass
class PipelineModel:
    """Rolling per-second latency percentiles from successive snapshots."""

    history: dict[str, deque[float]] = field(default_factory=dict)
    window: dict[str, list[float]] = field(default_factory=dict)
    _last: dict[str, np.ndarray] = field(default_factory=dict)
    _last_counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    _last_ts: float = 0.0

    def update(self, snap: Any, now_s: float) -> None:
        if self._last_ts and now_s - self._last_ts < 1.0:
            return  # per-second windows: the panes redraw at 10 Hz but the percentiles move once a second
        for name in LATENCY_LIMITS_NS:
            raw = snap.stats.histogram(name).buckets()
            if raw is None:  # an attached engine streams percentiles only: show them as they come
                pcts = [snap.stats.histogram(name).percentile(p) for p in PERCENTILES]
                self.window[name] = pcts
                self.history.setdefault(name, deque(maxlen=60)).append(0.0 if math.isnan(pcts[2]) else pcts[2])
                continue
            buckets = raw.copy()
            prev = self._last.get(name)
            delta = buckets - prev if prev is not None else buckets
            self._last[name] = buckets
            pcts = window_percentiles(delta)
            if not math.isnan(pcts[0]) or name not in self.window:
                self.window[name] = pcts
            self.history.setdefault(name, deque(maxlen=60)).append(0.0 if math.isnan(pcts[2]) else pcts[2])
        dt = now_s - self._last_ts if self._last_ts else 0.0
        for counter in ("orders_out", "fills", "ticks_in", "risk_rejects"):
            value = snap.stats.counter(counter)
            if dt > 0:
                self.rates[counter] = (value - self._last_counts.get(counter, value)) / dt
            self._last_counts[counter] = value
        self._last_ts = now_s

    def rows(self, snap: Any) -> list[LatencyRow]:
        out = []
        for name, limit in LATENCY_LIMITS_NS.items():
            h = snap.stats.histogram(name)
            pcts = self.window.get(name)
            if not pcts or all(math.isnan(p) for p in pcts):  # no window yet: the run's cumulative percentiles
                pcts = [h.percentile(p) for p in PERCENTILES]
            out.append(LatencyRow(name, pcts, limit, list(self.history.get(name, [])), h.count))
        return out
