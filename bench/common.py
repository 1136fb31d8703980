"""What every benchmark shares: repeated runs reported as medians, and the figure record the runner prints."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


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


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as one line."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpus() -> str:
    return f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()}"
