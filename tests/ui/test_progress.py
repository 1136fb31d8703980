"""First start: the compile progress line says what numba compiles, N of M, and records M for the next time."""

from __future__ import annotations

import io
from pathlib import Path

from numba import njit

from bot4.ui.progress import RECORD_NAME, CompileProgress, compile_progress, kernels_defined


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
