"""The main screen's panes: each a bordered Static that renders one pure function of the latest view."""

from __future__ import annotations

from collections.abc import Callable

from textual.reactive import reactive
from textual.widgets import Static

from bot4.ui import render
from bot4.ui.source import View


class Pane(Static):
    """A bordered pane showing ``render_fn(view)``, redrawn on every ``every``-th refresh when its text changed."""

    DEFAULT_CSS = """
    Pane { border: round $primary 40%; padding: 0 1; height: 1fr; }
    """

    view: reactive[View | None] = reactive(None, layout=False)
    """The latest view of the engine."""

    def __init__(self, title: str, render_fn: Callable[[View], str], every: int = 1, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id)
        self.title = title
        self.render_fn = render_fn
        self.every = every  # the app refreshes at 10 Hz; slow-moving panes redraw less often
        self._last_markup = ""

    def on_mount(self) -> None:
        self.border_title = self.title

    def watch_view(self, view: View | None) -> None:
        if view is None:
            return
        markup = self.render_fn(view)
        if markup != self._last_markup:  # unchanged text: no re-render, no repaint
            self._last_markup = markup
            self.update(markup, layout=False)  # a grid cell: its size never follows its text, so no re-layout


def main_panes() -> list[Pane]:
    """The five panes of the main screen, in grid order."""
    return [
        Pane("order pipeline", render.pipeline_markup, every=5, id="pipeline"),  # percentiles move once a second
        Pane("risk", render.risk_markup, every=3, id="risk"),
        Pane("circuit breakers", render.breakers_markup, every=5, id="breakers"),
        Pane("market", render.market_markup, id="market"),
        Pane("orders & fills", render.orders_markup, every=3, id="orders"),
    ]
