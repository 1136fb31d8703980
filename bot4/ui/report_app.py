"""The report viewer on its own (``bot4-tui --report DIR``): one backtest report, no engine and no core run."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from bot4.backtest.report import Report, load_report
from bot4.ui.report_screen import ReportScreen
from bot4.ui.themes import use_themes


class ReportApp(App[int]):
    """Shows ``report`` (read from ``directory``); escape or q ends it."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # the workstation's stylesheet: the same screen, same look
    TITLE = "bot4 report"
    BINDINGS = [Binding("q", "quit", "quit")]

    def __init__(self, report: Report, directory: Path, theme: str = "bot4-dark") -> None:
        super().__init__()
        use_themes(self, theme)
        self.report = report
        self.directory = directory

    def on_mount(self) -> None:
        self.push_screen(ReportScreen(self.report, self.directory), lambda _: self.exit(0))


def make_report_app(directory: Path, theme: str = "bot4-dark") -> ReportApp:
    """The viewer on the report in ``directory`` (the CLI and the tests build it here); raises ValueError saying what
    is wrong when the directory is not a report it can read."""
    return ReportApp(load_report(directory), directory, theme)
