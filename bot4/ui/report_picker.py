"""The backtest reports the workstation can open: the directories ``bot4 backtest`` wrote, newest first."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from bot4.backtest.report import SUMMARY, load_report
from bot4.ui.report_screen import ReportScreen


def written_at(directory: Path) -> str:
    """When the report was written (its summary's time, UTC), or that it has no summary."""
    summary = directory / SUMMARY
    if not summary.is_file():
        return f"no {SUMMARY}"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(summary.stat().st_mtime))


class ReportPicker(ModalScreen[None]):
    """Pick one report directory (``dirs``, newest first, found under ``root``); enter opens it on the Report screen,
    escape goes back. One that cannot be read is said in a notification, and the list stays."""

    BINDINGS = [Binding("escape", "dismiss", "back")]

    def __init__(self, dirs: list[Path], root: Path) -> None:
        super().__init__(id="report-picker")
        self.dirs = dirs
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="report-pick"):
            yield Label(f"[b]Backtest reports[/b] in {escape(str(self.root))} · enter opens, esc goes back")
            options = [
                Option(f"{escape(d.name)}  [dim]{written_at(d)}[/dim]", id=str(i)) for i, d in enumerate(self.dirs)
            ]
            yield OptionList(*options, id="report-list")

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        directory = self.dirs[int(message.option.id or 0)]
        try:
            report = load_report(directory)
        except ValueError as exc:
            self.notify(escape(str(exc)), title="cannot open this report", severity="error", timeout=10)
            return
        self.app.push_screen(ReportScreen(report, directory))
