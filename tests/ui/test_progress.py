"""First start: the compile progress line says what numba compiles, N of M, and records M for the next time."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from numba import njit
from textual.widgets import Static

from bot4.ui.progress import RECORD_NAME, CompileProgress, compile_progress, kernels_defined
from bot4.ui.starting import Build, StartingApp, build_with_progress


def fresh_kernels():  # type: ignore[no-untyped-def]
    """Two compiled functions numba has never seen (no cache): each call compiles."""

    @njit
    def inner_nb(x):  # type: ignore[no-untyped-def]
        return x + 1

    @njit
    def outer_nb(x):  # type: ignore[no-untyped-def]
        return inner_nb(x) * 2

    return outer_nb


def test_the_line_counts_compilations_and_names_the_current_one() -> None:
    lines: list[str] = []
    ticks = iter(range(0, 1000, 5))
    progress = CompileProgress(lines.append, total=2, clock=lambda: float(next(ticks)))
    from numba.core import event

    with event.install_listener("numba:compile", progress):
        assert fresh_kernels()(3) == 8
    assert progress.done == 2  # outer, and inner compiled while typing it
    assert lines[-1].startswith("bot4: compiling the trading core (first start only): 2 of ~2")
    assert any(" of ~2 · outer_nb" in line or " of ~2 · inner_nb" in line for line in lines)
    assert "1 of ~2" in " ".join(lines)


def test_compile_progress_says_how_long_and_records_the_count(tmp_path: Path) -> None:
    cache = tmp_path / "numba" / "abc123"
    out = io.StringIO()  # not a terminal: no line rewriting, only the closing sentence
    with compile_progress(cache, out) as progress:
        fresh_kernels()(1)
    assert progress.done == 2
    assert out.getvalue().startswith("bot4: compiled 2 kernels in ")
    assert (tmp_path / "numba" / RECORD_NAME).read_text() == "2"
    out = io.StringIO()
    with compile_progress(cache, out) as again:  # a warm start: nothing compiles, nothing is said
        assert again.total == 2  # M is what the last first start compiled
    assert out.getvalue() == ""


def test_without_a_record_m_is_what_the_core_defines() -> None:
    import bot4.core.risk  # noqa: F401 - loads kernels

    assert kernels_defined() >= 10


# --- the starting screen: the same progress inside the workstation ---------------------------------------------------
async def test_a_first_start_shows_the_compile_in_a_screen_until_the_engine_is_built(tmp_path: Path) -> None:
    release = threading.Event()

    def make() -> int:
        value = fresh_kernels()(20)  # numba compiles: the screen shows
        release.wait(30)
        return value

    with compile_progress(tmp_path / "numba" / "k", io.StringIO(), line=False) as progress:
        build: Build[int] = Build(make)
        build.thread.start()
        app = StartingApp(progress, build)  # type: ignore[arg-type]
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(200):
                await pilot.pause(0.05)
                if "2 of ~" in str(app.query_one("#now", Static).render()):
                    break
            now = str(app.query_one("#now", Static).render())
            assert "2 of ~" in now and "kernels" in now, now
            assert app.is_running  # the build goes on: the screen stays
            release.set()
            for _ in range(100):
                if not app.is_running:
                    break
                await pilot.pause(0.05)
        assert app.return_value is True
    assert build.value() == 42


async def test_a_warm_start_goes_straight_on_and_a_quit_during_the_compile_returns_none(tmp_path: Path) -> None:
    with compile_progress(tmp_path / "numba" / "k", io.StringIO(), line=False) as progress:
        assert await build_with_progress(lambda: 7, progress, headless=True) == 7  # nothing compiled: no screen
        release = threading.Event()

        def slow() -> int:
            fresh_kernels()(1)
            release.wait(30)
            return 1

        build: Build[int] = Build(slow)
        build.thread.start()
        app = StartingApp(progress, build)  # type: ignore[arg-type]
        async with app.run_test() as pilot:
            await pilot.press("q")
        assert app.return_value is False
        release.set()


def test_a_failed_build_raises_in_the_callers_thread() -> None:
    def broken() -> int:
        raise ValueError("journal is damaged")

    build: Build[int] = Build(broken)
    build.thread.start()
    build.done.wait(5)
    with pytest.raises(ValueError, match="damaged"):
        build.value()
