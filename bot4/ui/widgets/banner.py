"""The trading-state banner: ACTIVE / REDUCING / HALTED, impossible to miss."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from bot4.ui.markup import parse_line
from bot4.ui.render import banner_markup
from bot4.ui.source import View
from bot4.ui.widgets.kept import KeepLines


class StateBanner(KeepLines, Static):  # type: ignore[misc]
    """One line across the top, coloured by trading state, with equity, drawdown and the kill key."""

    DEFAULT_CSS = """
    StateBanner { height: 1; width: 100%; content-align: center middle; text-style: bold; }
    """

    view: reactive[View | None] = reactive(None, layout=False, repaint=False)
    """The latest view of the engine."""

    _last_markup = ""

    def watch_view(self, view: View | None) -> None:
        if view is None:
            self.update("connecting…")
            return
        state_class = "-disconnected" if not view.connected else f"-{view.snapshot.trading_state.lower()}"
        for cls in ("-active", "-reducing", "-halted", "-disconnected"):
            self.set_class(cls == state_class, cls)
        markup = banner_markup(view, self.size.width)  # the short form when the long one does not fit
        if markup != self._last_markup:
            self._last_markup = markup
            plain, spans = parse_line(markup)  # the panes' reader of bot4's markup: Textual's parser costs ~0.2 ms
            self.update(Content(plain, spans=spans), layout=False)  # one fixed line: repaint only
