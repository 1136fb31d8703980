"""The main screen's panes. Each is a thin Static that renders one pure function of the latest view."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from bot4.ui import render
from bot4.ui.source import View


class Pane(Static):
    """A bordered pane showing ``render_fn(view)``."""

    DEFAULT_CSS = """
    Pane { border: round $primary 40%; padding: 0 1; height: 1fr; }
    """
    TITLE = ""
    EVERY = 1  # redraw on every n-th refresh (the app refreshes at 10 Hz); slow-moving panes redraw less often

    view: reactive[View | None] = reactive(None, layout=False)
    """The latest view of the engine."""

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    _last_markup = ""

    def watch_view(self, view: View | None) -> None:
        if view is None:
            return
        markup = self.render_view(view)
        if markup != self._last_markup:  # unchanged text: no re-render, no repaint
            self._last_markup = markup
            self.update(markup)

    def render_view(self, view: View) -> str:
        raise TypeError(f"{type(self).__name__} must define render_view")


class PipelinePane(Pane):
    """Latency percentiles per stage against the spec's limits, rates, rejections, rings and pools."""

    TITLE = "order pipeline"
    EVERY = 5  # its percentiles move once a second

    def render_view(self, view: View) -> str:
        return render.pipeline_markup(view)


class RiskPane(Pane):
    """Equity, drawdown gauge, exposures, VaR, correlation matrix, positions with their stops."""

    TITLE = "risk"
    EVERY = 3

    def render_view(self, view: View) -> str:
        return render.risk_markup(view)


class BreakersPane(Pane):
    """Every circuit breaker with its state, error rate and recent transitions."""

    TITLE = "circuit breakers"
    EVERY = 5

    def render_view(self, view: View) -> str:
        return render.breakers_markup(view)


class MarketPane(Pane):
    """The selected symbol's price path with fills, best bid/ask and last fills."""

    TITLE = "market"

    def render_view(self, view: View) -> str:
        return render.market_markup(view)


class OrdersPane(Pane):
    """Recent orders, fills and rejections with reasons."""

    TITLE = "orders & fills"
    EVERY = 3

    def render_view(self, view: View) -> str:
        return render.orders_markup(view)
