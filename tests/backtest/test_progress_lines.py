"""Progress of a long command (download, backtest, sweep) on standard error: a bar on a terminal, plain lines every
few seconds in a log or a pipe, then one closing line."""

from __future__ import annotations

import itertools

import pytest

from bot4.commands.backtest import PLAIN_EVERY_S, Progress


def test_off_a_terminal_a_plain_line_every_few_seconds_then_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    clock = itertools.count(0.0, 1.0)  # one second a page
    progress = Progress("download BTC/USDT trades", tty=False, clock=lambda: float(next(clock)))
    for page in range(1, 21):
        progress(page * 100, 2_000)
    progress.done("2,000 rows in 20 pages")
    lines = capsys.readouterr().err.splitlines()
    steps = [line for line in lines if " %  " in line]
    assert len(steps) == int(20 // PLAIN_EVERY_S) - 1  # every 5 s while it runs, not at the end: the end says done
    assert steps[0].startswith("download BTC/USDT trades: ") and "/2,000" in steps[0] and "\r" not in steps[0]
    assert lines[-1].startswith("download BTC/USDT trades done: 2,000 rows in 20 pages in ")
    assert all(line == line.rstrip() for line in lines)  # no padding meant for a terminal's redraw


def test_on_a_terminal_a_bar_redrawn_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    clock = itertools.count(0.0, 0.5)
    progress = Progress("backtest", tty=True, clock=lambda: float(next(clock)))
    progress(50, 100)
    progress(100, 100)
    err = capsys.readouterr().err
    assert err.count("\r") == 2 and "100.0 %" in err and "\n" not in err


def test_quiet_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("sweep", enabled=False, tty=False)
    progress(1, 2)
    progress.done("x")
    assert capsys.readouterr().err == ""
