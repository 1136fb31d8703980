"""The Trades screen: every trade the journal holds (so it survives restarts), open and closed, with performance by
symbol and by day, filtered by symbol; the state banner stays on top and the kill key works here too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from bot4.runtime.trades import by_day, by_symbol, pair_trades, performance
from bot4.ui.render import quote
from bot4.ui.render_trades import (
    TradesView,
    closed_trades_markup,
    header_markup,
    open_trades_markup,
    performance_markup,
)
from bot4.ui.widgets.banner import StateBanner
from bot4.ui.widgets.kept import KeyFooter
from bot4.ui.widgets.panes import Pane, show_fitted

if TYPE_CHECKING:
    from bot4.ui.app import Bot4App

RELOAD_S = 1.0  # the journal is read again this often while the screen is up


class TradesScreen(Screen[None]):
    """Closed and open trades from the journal; ``f`` cycles the symbol filter, escape goes back."""

    BINDINGS = [
        Binding("escape,h", "app.pop_screen", "back"),
        Binding("f", "next_filter", "filter"),
    ]

    def __init__(self, symbol: str = "") -> None:
        super().__init__(id="trades")
        self.symbol = symbol
        self.view: TradesView | None = None

    @property
    def bot4(self) -> Bot4App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StateBanner(id="trades-banner")
        yield Pane("trades", header_markup, id="trades-header", fit_width=True)
        yield Pane("open trades", open_trades_markup, id="open-trades", fit_width=True)
        yield Pane("closed trades (latest first)", closed_trades_markup, id="closed-trades", sized=True, fit_width=True)
        yield Pane("performance", performance_markup, id="performance", fit_width=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.call_after_refresh(self.reload)  # again once laid out: the tables fit the panes' widths
        self.set_interval(RELOAD_S, self.reload)

    def on_resize(self) -> None:
        self.call_after_refresh(self.reload)

    def build(self) -> TradesView:
        """The trades of the journal (or, attached, of the stream), for the current filter."""
        app = self.bot4
        fills, complete = app.source.trade_fills()
        closed, opened = pair_trades(fills)
        if self.symbol:
            closed = [t for t in closed if t.symbol == self.symbol]
            opened = [t for t in opened if t.symbol == self.symbol]
        view = app.last_view
        positions = {p.symbol: p for p in view.snapshot.positions()} if view is not None else {}
        return TradesView(
            closed=closed,
            opened=opened,
            by_symbol=performance(closed, by_symbol),
            by_day=performance(closed, by_day),
            positions=positions,
            symbol=self.symbol,
            symbols=app.source.symbols,
            strategies=tuple(app.source.strategies()),
            complete=complete,
            ccy=quote(view) if view is not None else "USD",
        )

    def reload(self) -> None:
        tv = self.build()
        self.view = tv
        if self.bot4.last_view is not None:
            self.query_one(StateBanner).view = self.bot4.last_view
        show_fitted(self, tv, ("#trades-header", "#open-trades", "#performance"))  # the closed trades: the rest

    def action_next_filter(self) -> None:
        """All symbols, then each in turn."""
        choices = ("", *self.bot4.source.symbols)
        self.symbol = choices[(choices.index(self.symbol) + 1) % len(choices)] if self.symbol in choices else ""
        self.reload()
