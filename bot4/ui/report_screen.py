"""The Report screen: a finished backtest read from its directory (``bot4.backtest.report.load_report``).

Wide, the summary and the equity chart stand side by side over the scrollable list of closed trades; under
``SIDE_BY_SIDE_FROM`` columns one of the three at a time (keys 1-3). Nothing here runs the core: the screen only reads
what ``bot4 backtest`` wrote."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from bot4.backtest.report import Report
from bot4.ui.render_report import (
    TABS,
    WIDE_COLS,
    ReportView,
    equity_markup,
    header_markup,
    report_view,
    summary_markup,
    tabs_markup,
    trades_header,
    trades_markup,
    trades_title,
)
from bot4.ui.widgets.kept import KeyFooter
from bot4.ui.widgets.panes import Pane

SIDE_BY_SIDE_FROM = 150  # columns: the summary (two columns of figures, 80 wide) with a useful chart beside it
CHART_MIN_ROWS = 12  # the wide layout's top row is at least this tall: a summary of few lines still gets a chart


class ReportScreen(Screen[None]):
    """One backtest report: summary figures, per-symbol table, exit reasons, closed trades, equity curve; escape
    goes back."""

    BINDINGS = [
        Binding("escape", "dismiss", "back"),
        *(Binding(str(i), f"show('{pane}')", label, show=False) for i, (pane, label) in enumerate(TABS, 1)),
    ]

    def __init__(self, report: Report, directory: Path) -> None:
        super().__init__(id="report")
        self.directory = directory
        self.view = report_view(report, directory.resolve().name)
        self.tab = TABS[0][0]
        self._trades_wide: bool | None = None  # the table the trade list holds (rebuilt when the width crosses)

    def compose(self) -> ComposeResult:
        yield Pane("report", header_markup, id="report-header", fit_width=True)
        yield Static(id="report-tabs")
        with Horizontal(id="report-top"):
            with VerticalScroll(id="report-summary"):
                yield Static(id="report-summary-text")
            yield Pane(f"equity ({self.view.ccy})", equity_markup, id="report-equity", sized=True, fit_width=True)
        with Vertical(id="report-trades"):
            yield Static(id="report-trades-head")
            with VerticalScroll(id="report-trades-list"):
                yield Static(id="report-trades-text")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#report-summary").border_title = "summary"
        self.query_one("#report-trades").border_title = trades_title(self.view)
        self.lay_out()
        self.call_after_refresh(self.lay_out)  # again once laid out: the text fits the panes' widths
        self.query_one("#report-trades-list").focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self.lay_out)

    def lay_out(self) -> None:
        """Side by side from SIDE_BY_SIDE_FROM columns, else the current tab alone; every text for its pane's size."""
        rv: ReportView = self.view
        compact = self.size.width < SIDE_BY_SIDE_FROM
        self.set_class(compact, "-compact")
        header = self.query_one("#report-header", Pane)
        header.styles.height = header_markup(rv, cols=header.size.width).count("\n") + 1
        header.show_view(rv)  # type: ignore[arg-type]
        summary = self.query_one("#report-summary-text", Static)
        text = summary_markup(rv, cols=summary.size.width)
        summary.update(text)
        top, equity = self.query_one("#report-top"), self.query_one("#report-equity", Pane)
        summary_box, trades = self.query_one("#report-summary"), self.query_one("#report-trades")
        if compact:
            self.query_one("#report-tabs", Static).update(tabs_markup(self.tab))
            top.display = self.tab != "trades"
            summary_box.display = self.tab == "summary"
            equity.display = self.tab == "equity"
            trades.display = self.tab == "trades"
            top.styles.height = "1fr"
        else:
            top.display = summary_box.display = equity.display = trades.display = True
            top.styles.height = max(CHART_MIN_ROWS, text.count("\n") + 3)  # the text and the border
        equity.show_view(rv)  # type: ignore[arg-type]
        listing = self.query_one("#report-trades-text", Static)
        wide = listing.size.width >= WIDE_COLS
        if listing.size.width and wide != self._trades_wide:  # hidden (another tab on show): no width to fit yet
            self._trades_wide = wide
            self.query_one("#report-trades-head", Static).update(trades_header(wide))
            listing.update(trades_markup(rv, wide))

    def action_show(self, pane: str) -> None:
        """Keys 1-3 in the compact layout: the summary, the trades or the equity chart."""
        self.tab = pane
        self.lay_out()
        self.call_after_refresh(self.lay_out)  # the pane just shown has its size now
        if pane == "trades":
            self.query_one("#report-trades-list").focus()
        elif pane == "summary":
            self.query_one("#report-summary").focus()
