"""The Strategy screen: what runs with which settings, what each symbol's strategy sees and holds (a person's
positions marked, and left alone unless configured), its signal counts and what it did with its signals. The state
banner stays on top and the kill key works here too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from bot4.ui.render import quote
from bot4.ui.render_strategy import StrategyView, counts_markup, decisions_markup, header_markup, symbols_markup
from bot4.ui.widgets.banner import StateBanner
from bot4.ui.widgets.kept import KeyFooter
from bot4.ui.widgets.panes import Pane, show_fitted

if TYPE_CHECKING:
    from bot4.ui.app import Bot4App

RELOAD_S = 0.5  # the strategy's tables are read again this often while the screen is up


class StrategyScreen(Screen[None]):
    """The running strategy; escape goes back."""

    BINDINGS = [Binding("escape,a", "app.pop_screen", "back")]

    def __init__(self) -> None:
        super().__init__(id="strategy")
        self.view: StrategyView | None = None

    @property
    def bot4(self) -> Bot4App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StateBanner(id="strategy-banner")
        yield Pane("strategy", header_markup, id="strategy-header", fit_width=True)
        yield Pane("symbols", symbols_markup, id="strategy-symbols", fit_width=True)
        yield Pane("signals since start", counts_markup, id="strategy-counts", fit_width=True)
        yield Pane("what it did (latest first)", decisions_markup, id="strategy-decisions", sized=True, fit_width=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.call_after_refresh(self.reload)  # again once laid out: the tables fit the panes' widths
        self.set_interval(RELOAD_S, self.reload)

    def on_resize(self) -> None:
        self.call_after_refresh(self.reload)

    def build(self) -> StrategyView:
        app = self.bot4
        view = app.last_view
        snap = view.snapshot if view is not None else app.source.snapshot()
        return StrategyView(
            info=app.source.strategy_info(),
            positions={p.symbol: p for p in snap.positions()},
            counters=snap.stats.counters(),
            decisions=list(app.decisions.items),
            ccy=quote(view) if view is not None else "USD",
        )

    def reload(self) -> None:
        sv = self.build()
        self.view = sv
        if self.bot4.last_view is not None:
            self.query_one(StateBanner).view = self.bot4.last_view
        show_fitted(self, sv, ("#strategy-header", "#strategy-symbols", "#strategy-counts"))  # what it did: the rest
