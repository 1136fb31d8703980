"""The compact layout's tab bar: which pane the grid shows, and the keys that switch it."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from bot4.ui.markup import parse_line
from bot4.ui.widgets.kept import KeepLines

TABS: tuple[tuple[str, str], ...] = (
    ("market", "market"),
    ("orders", "orders"),
    ("risk", "risk"),
    ("pipeline", "pipeline"),
    ("breakers", "breakers"),
    ("events", "events"),
)
"""(pane id, label) in key order: key 1 shows the first."""


def tabs_markup(current: str, maximized: bool = False) -> str:
    """``1 market  2 orders …`` with the current one shown reversed, and the maximize key."""
    parts = []
    for i, (pane_id, label) in enumerate(TABS, start=1):
        text = f" {i} {label} "
        parts.append(f"[reverse]{text}[/reverse]" if pane_id == current else text)
    hint = "  [b]esc[/b] restore" if maximized else "  [b]m[/b] maximize"
    return "".join(parts) + hint


class TabBar(KeepLines, Static):  # type: ignore[misc]
    """One line above the grid in the compact layout."""

    DEFAULT_CSS = """
    TabBar { height: 1; width: 100%; }
    """

    current: reactive[str] = reactive("market", layout=False)
    """The pane id on show."""

    maximized: reactive[bool] = reactive(False, layout=False)
    """Whether that pane fills the screen."""

    def render(self) -> Content:
        plain, spans = parse_line(tabs_markup(self.current, self.maximized))
        return Content(plain, spans=spans)
