"""The Report screen under Pilot on a report a real backtest wrote: its figures as the report has them, the compact
layout's panes, the b key's list (newest first, a damaged report said in words), ``bot4-tui --report`` without the
engine, and the screen's pictures at 80x24 and 200x50 (update them with ``--snapshot-update`` after an intended
change)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

from bot4.backtest.report import load_report
from bot4.backtest.text import fmt_num
from bot4.cli import main as tui_main
from bot4.ui.render import visible_width
from bot4.ui.report_app import make_report_app
from bot4.ui.report_picker import ReportPicker
from bot4.ui.report_screen import ReportScreen
from bot4.ui.widgets.panes import Pane
from tests.ui.conftest import BROKEN_NAME, REPORT_NAME
from tests.ui.test_snapshots import FrozenSource, StillApp, settle


def text(screen: ReportScreen, selector: str) -> str:
    widget = screen.query_one(selector)
    return str(widget.render()) if isinstance(widget, Pane) else str(widget.query_one(Static).render())


def said(app: object) -> list[str]:
    return [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]


async def test_the_report_screen_shows_the_reports_figures(reports_dir: Path) -> None:
    report = load_report(reports_dir / REPORT_NAME)
    m = report.metrics
    assert m.trades >= 10 and m.open_trades == 1
    app = make_report_app(reports_dir / REPORT_NAME)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        header = text(screen, "#report-header")
        assert REPORT_NAME in header and "2,000 ticks" in header and "ema_cross 5/20" in header
        summary = str(screen.query_one("#report-summary-text", Static).render())
        assert f"{m.net_pnl:+,.2f} USDT" in summary and f"{m.fees:,.2f} USDT" in summary
        assert f"{m.trades} closed, 1 open" in summary and fmt_num(m.sharpe) in summary
        assert "max DD duration" in summary and "trades per day" in summary and "CAGR" in summary
        assert f"signal {report.exit_reasons['signal']}" in summary and "open 1" in summary
        symbol_row = next(line for line in summary.split("\n") if line.startswith("BTC/USDT"))
        assert symbol_row.split()[:2] == ["BTC/USDT", str(m.trades)]
        assert f"{report.per_symbol[0].net_pnl:+,.2f}" in symbol_row
        listing = str(screen.query_one("#report-trades-text", Static).render()).split("\n")
        assert len(listing) == m.trades  # every closed trade, the open one apart
        first = report.trades[0]
        assert f"{first['net']:+,.2f}" in listing[0] and f"{first['entry_px']:,.2f}" in listing[0]
        assert screen.query_one("#report-trades").border_title == f"closed trades ({m.trades}; 1 open at the end)"
        equity = screen.query_one("#report-equity", Pane)
        lines = str(equity.render()).split("\n")
        assert len(lines) == equity.size.height  # the chart fills the pane
        assert all(visible_width(line) <= equity.size.width for line in lines)
        assert sum(any(0x2800 <= ord(c) <= 0x28FF for c in line) for line in lines) == equity.size.height - 2
        await pilot.press("escape")
    assert app.return_value == 0


async def test_under_150_columns_keys_1_to_3_show_one_pane_at_a_time(reports_dir: Path) -> None:
    app = make_report_app(reports_dir / REPORT_NAME)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        shown = {"summary": "#report-summary", "trades": "#report-trades", "equity": "#report-equity"}

        def on_show() -> set[str]:
            return {name for name, sel in shown.items() if screen.query_one(sel).region.area}

        assert on_show() == {"summary"} and "1 summary" in str(screen.query_one("#report-tabs", Static).render())
        await pilot.press("2")
        await pilot.pause(0.1)
        assert on_show() == {"trades"} and screen.focused is screen.query_one("#report-trades-list")
        head = str(screen.query_one("#report-trades-head", Static).render())
        assert "reason" in head and "gross" not in head  # the short table in 76 columns
        await pilot.press("3")
        await pilot.pause(0.1)
        assert on_show() == {"equity"}
        equity = screen.query_one("#report-equity", Pane)
        assert equity.size.width == 76 and len(str(equity.render()).split("\n")) == equity.size.height


async def test_the_trade_list_scrolls_when_it_is_longer_than_its_pane(reports_dir: Path) -> None:
    app = make_report_app(reports_dir / REPORT_NAME)
    async with app.run_test(size=(80, 16)) as pilot:  # 8 rows of trades for 15
        await pilot.press("2")
        await pilot.pause(0.2)
        listing = app.screen.query_one("#report-trades-list")
        assert listing.max_scroll_y > 0 and listing.scroll_y == 0
        await pilot.press("end")
        await pilot.pause(0.2)
        assert listing.scroll_y == listing.max_scroll_y


async def test_b_lists_the_reports_newest_first_and_says_why_one_will_not_open(reports_dir: Path) -> None:
    app = StillApp(FrozenSource(), reports_dir=reports_dir)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("b")
        picker = app.screen
        assert isinstance(picker, ReportPicker)
        assert [d.name for d in picker.dirs] == [BROKEN_NAME, REPORT_NAME]
        await pilot.press("enter")  # the damaged one
        await pilot.pause(0.1)
        assert app.screen is picker
        assert any("summary.json: not valid JSON" in s and BROKEN_NAME in s for s in said(app))
        await pilot.press("down", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ReportScreen) and app.screen.view.name == REPORT_NAME
        await pilot.press("b")  # not over a report
        assert isinstance(app.screen, ReportScreen)
        await pilot.press("escape")
        assert app.screen is picker
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def test_b_without_reports_says_where_they_would_be(tmp_path: Path) -> None:
    app = StillApp(FrozenSource(), reports_dir=tmp_path / "backtests")  # type: ignore[arg-type]
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("b")
        assert app.screen is app.screen_stack[0]
        assert any(f"{tmp_path / 'backtests'} is not a directory" in s for s in said(app))
        (tmp_path / "backtests").mkdir()
        await pilot.press("b")
        assert any("no backtest reports in" in s for s in said(app))


def damage(report: Path, how: str) -> None:
    if how == "no trades.csv":
        (report / "trades.csv").unlink()
    elif how == "a cut trades.csv":
        rows = (report / "trades.csv").read_text().splitlines()
        (report / "trades.csv").write_text("\n".join([*rows[:2], rows[2][:20]]))
    elif how == "a summary without info":
        summary = json.loads((report / "summary.json").read_text())
        del summary["info"]["ticks"]
        (report / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("no trades.csv", "trades.csv: missing from the report directory"),
        ("a cut trades.csv", "trades.csv: not a table bot4 writes"),
        ("a summary without info", "summary.json: not a report summary bot4 writes (KeyError: 'ticks')"),
    ],
)
def test_a_damaged_report_is_one_clear_line(reports_dir: Path, tmp_path: Path, how: str, message: str) -> None:
    copy = tmp_path / "report"
    shutil.copytree(reports_dir / REPORT_NAME, copy)
    damage(copy, how)
    with pytest.raises(ValueError) as err:
        load_report(copy)
    assert message in str(err.value) and str(copy) in str(err.value)


def test_report_flag_opens_the_viewer_without_the_engine(reports_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``bot4-tui --report DIR`` builds the viewer with the UI's modules and none of the engine's (no core compile, no
    state directory); a directory that is not a report is one line and exit code 1."""
    probe = (
        "import sys; from bot4 import cli; app = cli.report_app(sys.argv[1]); "
        "print(type(app).__name__, sorted(m for m in sys.modules if m in "
        "('bot4.runtime.engine', 'bot4.runtime.api', 'bot4.compose', 'bot4.runtime.feed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(reports_dir / REPORT_NAME)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["ReportApp", "[]"], out.stderr
    assert tui_main(["--report", str(reports_dir / BROKEN_NAME)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid JSON" in err[0] and err[0].startswith("bot4: ")
    with pytest.raises(SystemExit):
        tui_main(["--report", str(reports_dir / REPORT_NAME), "--headless"])
    assert "--report opens a finished report" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_report_screen_snapshot(snap_compare, reports_dir: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The real report, wide (summary and chart over the trades) and compact (the summary tab)."""
    assert snap_compare(make_report_app(reports_dir / REPORT_NAME), terminal_size=size, run_before=settle)
