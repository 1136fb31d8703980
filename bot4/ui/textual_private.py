"""Every use bot4 makes of Textual's private internals, in one place, and the check that they are still there.

Written against Textual 8.2.8 (``pyproject.toml`` pins ``textual>=8.0,<9``). Textual makes no promise about any
name below; a minor release may rename one. Each helper falls back to Textual's ordinary path when a name is gone
(the widgets then draw and repaint as plain Textual widgets do, only slower), and ``check_textual_private_api``
raises naming what is missing, so CI fails (tests/ui/test_textual_private.py) instead of the fallback hiding it.

Why: at 10 Hz the workstation's CPU is mostly Textual redrawing what did not change.

- Kept lines (``bot4.ui.widgets.kept.KeepLines``): at every repaint the compositor asks each widget crossing the
  dirty area's bounding box for all its lines, and each answers through its styles cache, line by line, colours,
  filters and title worked out again, about 150 us a widget. The banner and the market pane change every frame, so
  the box spans the screen. A widget that knows none of the lines asked for was marked for repaint answers with its
  last strips; the marks are the styles cache's dirty lines.
- A pane's changed row (``bot4.ui.widgets.panes.Pane``): a content row whose text changed is the styles cache's
  cached row (border and padding, with the widget's colours) around the new text, instead of the styles cache's
  whole line drawing again; this reads and writes the cache's rows and dirty lines and needs the width they were
  drawn at.
- Repaint on idle (``bot4.ui.widgets.kept.MainScreen``): a screen whose widgets asked for a repaint resumes its
  update timer when it goes idle; the timer repaints at once, then sleeps to its next 1/60 s tick before it parks
  again, one more wake-up of the thread per frame with nothing to do. The main screen does at idle what the timer
  would (its callback), so the timer stays parked.

The private names, as of Textual 8.2.8:

- ``Widget._styles_cache``: the widget's ``textual._styles_cache.StylesCache``, which draws border, padding and
  content lines and keeps the drawn rows (``Widget.render_lines`` goes through it).
- ``StylesCache._cache: dict[int, Strip]``: the drawn rows by y, widget coordinates, the widget's full width.
- ``StylesCache._dirty_lines: set[int]``: the rows marked for repaint (``Widget.refresh`` and every style, theme or
  size change mark them; ``StylesCache.render`` unmarks the rows it draws).
- ``StylesCache._width: int``: the width the cached rows were drawn at (a different width clears them).
- ``Screen._on_timer_update()``: the update timer's callback: layout, repaint of the dirty widgets, compositor
  refresh, recompose; it clears the flags below.
- ``Screen._layout_required``, ``_scroll_required``, ``_repaint_required``, ``_recompose_required`` (bool) and
  ``Screen._dirty_widgets`` (set): what ``Screen._on_idle`` reads to decide whether to resume the timer.
- ``Screen._on_idle`` (coroutine): that idle handler; the main screen's public ``on_idle`` runs before it (Textual
  calls a message's handlers from the most derived class up), so it finds nothing pending.
- ``App._batch_count: int``: how deep the app is in ``batch_update``; Textual does not repaint while it is non-zero.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import textual

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen
    from textual.strip import Strip
    from textual.widget import Widget

WRITTEN_AGAINST = "8.2.8"

SCREEN_PENDING_FLAGS = ("_layout_required", "_scroll_required", "_repaint_required", "_recompose_required")


class TextualPrivateAPIError(RuntimeError):
    """The installed Textual lacks (or has changed the kind of) a private name bot4's widgets rely on."""


def dirty_lines(widget: Widget) -> set[int] | None:
    """The widget's rows marked for repaint since they were last drawn, or None when this Textual has no such set.

    This is Textual's own set (live): clearing it tells Textual those rows are drawn. None means the caller cannot
    tell what changed and should draw through Textual.
    """
    try:
        return widget._styles_cache._dirty_lines
    except AttributeError:
        return None


def cached_rows(widget: Widget) -> dict[int, Strip] | None:
    """The rows the widget's styles cache drew last (y -> strip, border included), or None when it has none.

    Textual's own dict (live): a row written here is what Textual hands the compositor until the row is marked.
    """
    try:
        return widget._styles_cache._cache
    except AttributeError:
        return None


def styles_cache_width(widget: Widget) -> int | None:
    """The width the cached rows were drawn at (another width means they are stale), or None when unknown."""
    try:
        return widget._styles_cache._width
    except AttributeError:
        return None


def screen_repaint_pending(screen: Screen) -> bool:
    """Whether the screen's update timer has something to do (a layout, scroll, repaint, recompose or dirty widget).

    False when this Textual lacks the flags: the caller then leaves the screen to Textual's timer.
    """
    try:
        return bool(
            screen._layout_required
            or screen._scroll_required
            or screen._repaint_required
            or screen._recompose_required
            or screen._dirty_widgets
        )
    except AttributeError:
        return False


def updates_batched(app: App[Any]) -> bool:
    """Whether the app is inside ``batch_update`` (no repaint until it ends); True when this Textual cannot say."""
    try:
        return bool(app._batch_count)
    except AttributeError:
        return True


def repaint_now(screen: Screen) -> bool:
    """Do now what the screen's update timer would do at its next tick; whether it was done.

    Nothing is done (False) when the screen is not the current one, the app is in a batch update, nothing is
    pending, or this Textual lacks the timer's callback: the timer then does it the usual way.
    """
    if not screen.is_current or updates_batched(screen.app) or not screen_repaint_pending(screen):
        return False
    try:
        repaint = screen._on_timer_update
    except AttributeError:
        return False
    repaint()
    return True


def _expect(problems: list[str], owner: str, obj: object, name: str, kind: type) -> None:
    if not hasattr(obj, name):
        problems.append(f"{owner}.{name} is missing (expected {kind.__name__})")
        return
    value = getattr(obj, name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(f"{owner}.{name} is {type(value).__name__}, expected {kind.__name__}")


def check_textual_private_api() -> None:
    """Raise ``TextualPrivateAPIError`` naming every private Textual name above that is gone or changed kind.

    Each is looked up where Textual puts it: on a fresh ``StylesCache``, ``Widget``, ``Screen`` and ``App``, and as a
    method on the ``Screen`` class. The helpers' fallbacks keep the UI working without them; this keeps CI honest.
    """
    from textual.app import App
    from textual.screen import Screen
    from textual.widget import Widget

    problems: list[str] = []
    try:
        from textual._styles_cache import StylesCache
    except ImportError as exc:
        problems.append(f"textual._styles_cache.StylesCache cannot be imported ({exc})")
    else:
        cache = StylesCache()
        for name, kind in (("_cache", dict), ("_dirty_lines", set), ("_width", int)):
            _expect(problems, "StylesCache", cache, name, kind)
        _expect(problems, "Widget", Widget(), "_styles_cache", StylesCache)

    screen: Screen[None] = Screen()
    for name in SCREEN_PENDING_FLAGS:
        _expect(problems, "Screen", screen, name, bool)
    _expect(problems, "Screen", screen, "_dirty_widgets", set)
    timer_update = getattr(Screen, "_on_timer_update", None)
    if not inspect.isfunction(timer_update) or inspect.iscoroutinefunction(timer_update):
        problems.append("Screen._on_timer_update is missing or not a plain method (the update timer's callback)")
    elif list(inspect.signature(timer_update).parameters) != ["self"]:
        problems.append(f"Screen._on_timer_update{inspect.signature(timer_update)} takes arguments; expected (self)")
    if not inspect.iscoroutinefunction(getattr(Screen, "_on_idle", None)):
        problems.append("Screen._on_idle is missing or not a coroutine method (the screen's idle handler)")

    _expect(problems, "App", App(), "_batch_count", int)

    if problems:
        raise TextualPrivateAPIError(
            f"Textual {textual.__version__} lacks what bot4/ui/textual_private.py was written against "
            f"(Textual {WRITTEN_AGAINST}): " + "; ".join(problems)
        )
