"""First start inside the workstation: while numba compiles the trading core, a screen says what it compiles, N of
about M, and for how long, instead of a static terminal line and then a blank screen.

:func:`build_with_progress` builds the engine on a worker thread. A warm start (cached kernels: nothing compiles)
goes straight on; once numba compiles, :class:`StartingApp` shows until the engine is built. ``q`` leaves: nothing
trades yet, so there is nothing to stop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar, Static

from bot4.ui.fmt import fmt_duration
from bot4.ui.progress import CompileProgress
from bot4.ui.themes import use_themes

T = TypeVar("T")
WATCH_S = 0.05  # how often the build is looked at for a first compile before the screen shows
POLL_S = 0.2  # the screen's redraw


class Build(Generic[T]):
    """``make()`` on a daemon thread (a quit during a first start must not wait for the compiler)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self.make = make
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bot4-build", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.make()
        except BaseException as exc:  # handed to the caller's thread, raised there
            self.error = exc
        finally:
            self.done.set()

    def value(self) -> T:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class StartingApp(App[bool]):
    """The compile's progress until the build ends (returns True), or the user leaves (False)."""

    CSS = """
    Screen { align: center middle; }
    #starting { width: 76; max-width: 100%; height: auto; border: round $primary; padding: 1 2; }
    #starting ProgressBar { margin: 1 0 0 0; }
    #starting .hint { color: $foreground-muted; margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("q,ctrl+c", "leave", "quit")]

    def __init__(self, progress: CompileProgress, build: Build[object], theme: str = "bot4-dark") -> None:
        super().__init__()
        use_themes(self, theme)
        self.progress = progress
        self.build = build

    def compose(self) -> ComposeResult:
        with Vertical(id="starting"):
            yield Label("[b]bot4[/b] · first start: compiling the trading core (cached for the next start)")
            yield ProgressBar(total=max(1, self.progress.total), show_eta=False, id="bar")
            yield Static("", id="now")
            yield Static("Nothing trades until the core is ready.  [b]q[/b] quits.", classes="hint")

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.poll)
        self.poll()

    def poll(self) -> None:
        p = self.progress
        total = max(p.total, p.done, 1)
        self.query_one("#bar", ProgressBar).update(total=total, progress=p.done)
        now = p.current[-1] if p.current else "…"
        took = fmt_duration(p.clock() - p.started)
        self.query_one("#now", Static).update(f"{p.done} of ~{total} kernels · now: {now} · {took}")
        if self.build.done.is_set():
            self.exit(True)

    def action_leave(self) -> None:
        self.exit(False)


async def build_with_progress(
    make: Callable[[], T], progress: CompileProgress, headless: bool = False, theme: str = "bot4-dark"
) -> T | None:
    """``make()``'s result, with the compile shown in a screen when it takes long; None if the user left first."""
    build: Build[T] = Build(make)
    build.thread.start()
    while not build.done.is_set():
        if progress.current or progress.done:  # numba compiles: a first start (a warm one only loads its caches)
            app = StartingApp(progress, build, theme)  # type: ignore[arg-type]
            finished = await app.run_async(headless=headless)
            if not finished and not build.done.is_set():
                return None
            break
        await asyncio.sleep(WATCH_S)
    await asyncio.to_thread(build.done.wait)
    return build.value()
