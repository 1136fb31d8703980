"""The main screen's panes: each a bordered widget that shows one pure function of the latest view.

A pane keeps its text line by line and repaints only the lines that changed: a new view that moves one figure
re-renders and repaints that one line (a Static re-parses, re-wraps and repaints its whole text, and the screen's
compositor then re-renders every widget across the dirty area). At 10 Hz that is most of the workstation's CPU.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

from bot4.ui import render
from bot4.ui.source import View


class Pane(Widget):
    """A bordered pane showing ``render_fn(view)`` (markup, one line per row; long lines are cut at the border)."""

    DEFAULT_CSS = """
    Pane { border: round $primary 40%; padding: 0 1; height: 1fr; }
    """

    def __init__(self, title: str, render_fn: Callable[[View], str], every: int = 1, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id)
        self.title = title
        self.render_fn = render_fn
        self.every = every  # the app refreshes at 10 Hz; slow-moving panes redraw less often
        self._markup = ""
        self._lines: list[str] = []
        self._strips: dict[int, Strip] = {}
        self._strips_for: tuple[int, str] = (-1, "")  # (width, theme) the cached strips were rendered for

    def on_mount(self) -> None:
        self.border_title = self.title

    def show_view(self, view: View) -> None:
        """Display ``render_fn(view)``."""
        self.show(self.render_fn(view))

    def show(self, markup: str) -> None:
        """Display ``markup``; only the lines that differ from what is shown are re-rendered and repainted."""
        if markup == self._markup:
            return
        old, new = self._lines, markup.split("\n")
        self._markup, self._lines = markup, new
        width = self.size.width
        for y in range(max(len(old), len(new))):
            if y >= len(old) or y >= len(new) or old[y] != new[y]:
                self._strips.pop(y, None)
                self.refresh(Region(0, y, width, 1))

    def render(self) -> Content:
        """The whole text (what tests and exports read; the screen draws line by line through render_line)."""
        return Content.from_markup(self._markup)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        key = (width, self.app.theme)
        if key != self._strips_for:  # resized or re-themed: every cached line is stale
            self._strips.clear()
            self._strips_for = key
        strip = self._strips.get(y)
        if strip is None:
            style = self.visual_style
            if y < len(self._lines):
                strips = Visual.to_strips(self, Content.from_markup(self._lines[y]), width, 1, style, pad=True)
                strip = strips[0].crop_extend(0, width, style.rich_style) if strips else None
            if strip is None:
                strip = Strip.blank(width, style.rich_style)
            self._strips[y] = strip
        return strip


def main_panes() -> list[Pane]:
    """The five panes of the main screen, in grid order."""
    return [
        Pane("order pipeline", render.pipeline_markup, every=5, id="pipeline"),  # percentiles move once a second
        Pane("risk", render.risk_markup, every=3, id="risk"),
        Pane("circuit breakers", render.breakers_markup, every=5, id="breakers"),
        Pane("market", render.market_markup, id="market"),
        Pane("orders & fills", render.orders_markup, every=3, id="orders"),
    ]
