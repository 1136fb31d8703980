"""The workstation's cost: CPU of the TUI process with the paper default running, and time to the first frame."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure

PROBE = Path(__file__).resolve().parent / "ui_probe.py"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(mode: str, window_s: float) -> tuple[float, float]:
    """(CPU % of one core over ``window_s`` once running, seconds from spawn to the first frame)."""
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "first_frame"
        spawned = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, str(PROBE), mode, str(Path(tmp) / "state"), str(window_s + 8), str(marker)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not marker.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {mode} probe exited with {proc.returncode}")
                time.sleep(0.01)
            first = float(marker.read_text() or "nan") - spawned
            time.sleep(2.0)  # past start-up work
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(window_s)
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 100.0 * (c1 - c0) / (t1 - t0), first


def run(quick: bool) -> list[Figure]:
    window = 10.0
    runs = 1 if quick else 3
    ui = [measure("ui", window) for _ in range(runs)]
    engine = [measure("engine", window) for _ in range(runs)]
    return [
        Figure(
            "ui_idle_cpu_percent",
            statistics.median(u[0] for u in ui),
            "%",
            "< 5",
            "engine_only_cpu_percent",
            note="TUI + engine process, paper default (replay x10), 10 s",
        ),
        Figure("engine_only_cpu_percent", statistics.median(e[0] for e in engine), "%", note="same engine, no UI"),
        Figure("ui_first_frame_s", statistics.median(u[1] for u in ui), "s", "< 2", note="spawn to first frame, warm cache"),
    ]
