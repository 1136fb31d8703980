"""Widgets that hand the compositor their last lines when nothing in them changed.

At every repaint Textual's compositor asks each widget that crosses the dirty area's bounding box for all its lines
(``render_lines``), and each answers through its styles cache: line by line, with its colours, filters and title
worked out again, even when none of its lines changed. On the main screen the banner and the market pane change
every frame, so the box spans the screen and every widget answers at 10 Hz: about 150 us each on this kind of
machine, most of a repaint. A widget with ``KeepLines`` answers with the strips it gave last time when none of the
lines asked for was marked for repaint since then (Textual marks them on every refresh, style, theme or size change)
and it is asked for the same region with the same line filters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, RichLog

if TYPE_CHECKING:
    from textual.geometry import Region
    from textual.strip import Strip


class KeepLines:
    """Mixin for a Widget subclass (put it first): keep the last ``render_lines`` answer while nothing changed."""

    _kept: tuple[object, list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        key = (crop, self.size, tuple(self.get_line_filters()))  # type: ignore[attr-defined]
        kept = self._kept
        dirty = self._styles_cache._dirty_lines  # type: ignore[attr-defined]
        if kept is not None and kept[0] == key and (not dirty or dirty.isdisjoint(crop.line_range)):
            return kept[1]
        strips: list[Strip] = super().render_lines(crop)  # type: ignore[misc]
        self._kept = (key, strips)
        return strips


PENDING = ("_layout_required", "_scroll_required", "_repaint_required", "_recompose_required", "_dirty_widgets")


class MainScreen(KeepLines, Screen):  # type: ignore[misc]
    """The workstation's main screen.

    When its widgets have asked for a repaint, a Textual screen resumes its update timer when it goes idle; the timer
    repaints at once, then sleeps to its next 1/60 s tick before it parks again, one more wake-up of the thread per
    frame with nothing to do. This screen repaints at once itself (what the timer would do, one frame per idle) and
    leaves the timer parked; anything it does not recognise goes the usual way.
    """

    async def _on_idle(self, event: events.Idle) -> None:
        repaint = getattr(self, "_on_timer_update", None)
        pending = any(getattr(self, name, False) for name in PENDING)
        if repaint is not None and pending and self.is_current and not getattr(self.app, "_batch_count", 0):
            repaint()
        await super()._on_idle(event)


class Grid(KeepLines, Container):  # type: ignore[misc]
    """The panes' grid."""


class EventLog(KeepLines, RichLog):  # type: ignore[misc]
    """The engine's events."""


class KeyFooter(KeepLines, Footer):  # type: ignore[misc]
    """The key hints."""
