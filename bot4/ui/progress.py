"""First start: what numba is compiling, N of M, on the terminal line before the workstation takes the screen.

The core's kernels are compiled once and cached (``bot4.core`` keys the cache by the sources); a first start spends
minutes in numba while the engine is built. :class:`CompileProgress` listens to numba's compile events and keeps one
line up to date: ``bot4: compiling the trading core (first start only): 23 of ~61 · risk_check_nb · 1m12s``. M is
what the last first start compiled (recorded next to the caches), or, the very first time, the number of compiled
functions the core and the venues define (an upper bound: inlined helpers are never compiled on their own).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from numba.core import event as numba_event
from numba.core.registry import CPUDispatcher

from bot4.ui.fmt import fmt_duration

REDRAW_S = 0.2  # the line is redrawn at most this often while one kernel compiles
RECORD_NAME = "kernels_compiled"  # beside the per-source cache directories: what the last first start compiled


def kernels_defined() -> int:
    """Compiled functions defined by the loaded core and venue modules (numba dispatchers)."""
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith(("bot4.core", "bot4.venues")) or module is None:
            continue
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                seen.add(id(value))
    return len(seen)


class CompileProgress(numba_event.Listener):
    """Counts compilations as numba reports them and says where it is."""

    def __init__(self, write: Callable[[str], None], total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.total = total
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.current: list[str] = []
        self._drawn = 0.0

    def line(self) -> str:
        now = self.current[-1] if self.current else "…"
        total = max(self.total, self.done)
        return (
            f"bot4: compiling the trading core (first start only): {self.done} of ~{total} · {now}"
            f" · {fmt_duration(self.clock() - self.started)}"
        )

    def _show(self, force: bool) -> None:
        t = self.clock()
        if force or t - self._drawn >= REDRAW_S:
            self._drawn = t
            self.write(self.line())

    def on_start(self, event: numba_event.Event) -> None:
        dispatcher = event.data["dispatcher"]
        self.current.append(getattr(dispatcher.py_func, "__name__", "kernel"))
        self._show(force=False)

    def on_end(self, event: numba_event.Event) -> None:
        self.done += 1
        if self.current:
            self.current.pop()
        self._show(force=True)


def _terminal_writer(stream: TextIO) -> Callable[[str], None]:
    """Rewrites one line on a terminal; elsewhere (a log file, a pipe) prints nothing until the end."""
    if not stream.isatty():
        return lambda _line: None

    def write(line: str) -> None:
        width = shutil.get_terminal_size((100, 24)).columns - 1
        stream.write("\r\x1b[2K" + line[:width])
        stream.flush()

    return write


@contextlib.contextmanager
def compile_progress(
    cache_dir: str | Path | None = None, stream: TextIO = sys.stderr, line: bool = True
) -> Iterator[CompileProgress]:
    """Show the compile progress while the block runs (the engine being built); then say how long it took and
    record the count for the next first start's M. Nothing is shown when nothing compiles (a warm cache).
    ``line=False``: no terminal line while it runs (the workstation's starting screen shows the progress)."""
    if cache_dir is None:
        import numba.core.config

        import bot4.core  # noqa: F401 - sets numba's cache directory

        cache_dir = getattr(numba.core.config, "CACHE_DIR", "") or "."
    record = Path(cache_dir).parent / RECORD_NAME
    try:
        total = int(record.read_text())
    except (OSError, ValueError):
        total = kernels_defined()
    progress = CompileProgress(_terminal_writer(stream) if line else lambda _line: None, total)
    try:
        with numba_event.install_listener("numba:compile", progress):
            yield progress
    finally:
        if progress.done:
            took = fmt_duration(progress.clock() - progress.started)
            end = "\r\x1b[2K" if line and stream.isatty() else ""
            stream.write(f"{end}bot4: compiled {progress.done} kernels in {took} (cached for the next start)\n")
            stream.flush()
            with contextlib.suppress(OSError):
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text(str(progress.done))
