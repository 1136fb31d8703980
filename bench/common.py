"""What every benchmark shares: repeated runs reported as medians, and the figure record the runner prints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``baseline`` names the same-run figure it is compared with."""

    name: str
    value: float
    unit: str
    target: str = ""
    baseline: str = ""
    higher_is_better: bool = False
    note: str = ""
    best: float | None = None  # the best round (latency: the lowest p99), for gates that must not fail on noise


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """Median of ``runs`` calls of ``measure`` (each returns one figure)."""
    return statistics.median(measure() for _ in range(runs))


def per_op_ns(fn: Callable[[], object], ops: int) -> float:
    """Wall time of one call of ``fn`` divided by the ``ops`` it performs, in ns."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / ops
