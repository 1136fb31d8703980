"""Widgets that hand the compositor their last lines when nothing in them changed.

At every repaint Textual's compositor asks each widget that crosses the dirty area's bounding box for all its lines
(``render_lines``), and each answers through its styles cache: line by line, with its colours, filters and title
worked out again, even when none of its lines changed. On the main screen the banner and the market pane change
every frame, so the box spans the screen and every widget answers at 10 Hz: about 150 us each on this kind of
machine, most of a repaint. A widget with ``KeepLines`` answers with the strips it gave last time when none of the
lines asked for was marked for repaint since then (Textual marks them on every refresh, style, theme or size change)
and it is asked for the same region with the same line filters.

The marks are Textual's private state; they are read through ``bot4.ui.textual_private``, which says what each name
is and falls back to Textual's ordinary path when one is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer

from bot4.ui.textual_private import dirty_lines, repaint_now

if TYPE_CHECKING:
    from textual.geometry import Region
    from textual.strip import Strip


class KeepLines:
    """Mixin for a Widget subclass (put it first): keep the last ``render_lines`` answer while nothing changed."""

    _kept: tuple[object, list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        key = (crop, self.size, tuple(self.get_line_filters()))  # type: ignore[attr-defined]
        kept = self._kept
        dirty = dirty_lines(self)  # type: ignore[arg-type]
        if kept is not None and kept[0] == key and dirty is not None and dirty.isdisjoint(crop.line_range):
            return kept[1]
        strips: list[Strip] = super().render_lines(crop)  # type: ignore[misc]
        self._kept = (key, strips)
        return strips


class MainScreen(KeepLines, Screen):  # type: ignore[misc]
    """The workstation's main screen.

    When its widgets have asked for a repaint, a Textual screen resumes its update timer when it goes idle; the timer
    repaints at once, then sleeps to its next 1/60 s tick before it parks again, one more wake-up of the thread per
    frame with nothing to do. This screen repaints at once itself (what the timer would do, one frame per idle) and
    leaves the timer parked; anything it does not recognise goes the usual way. Textual calls this handler before
    the Screen's own idle handler, which then finds nothing pending.
    """

    ALLOW_IN_MAXIMIZED_VIEW = "#top, Footer"  # a maximized pane keeps the banner, the positions and the keys

    def on_idle(self, event: events.Idle) -> None:
        repaint_now(self)


class Grid(KeepLines, Container):  # type: ignore[misc]
    """The panes' grid."""


class KeyFooter(KeepLines, Footer):  # type: ignore[misc]
    """The key hints."""
