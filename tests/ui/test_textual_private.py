"""bot4's uses of Textual's private internals (bot4/ui/textual_private.py) against the installed Textual.

The helpers fall back to Textual's ordinary path when a private name is gone, so the UI would keep working, slower,
and nothing else would notice: these tests are what fails when Textual changes under us.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from types import SimpleNamespace

import pytest
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from bot4.ui import textual_private
from bot4.ui.app import Bot4App
from bot4.ui.screens import HelpScreen, RearmScreen
from bot4.ui.textual_private import (
    TextualPrivateAPIError,
    cached_rows,
    check_textual_private_api,
    dirty_lines,
    repaint_now,
    screen_repaint_pending,
    styles_cache_width,
    updates_batched,
)
from bot4.ui.ticket_screen import CancelScreen, OrderTicket
from bot4.ui.trades_screen import TradesScreen
from bot4.ui.widgets import kept
from bot4.ui.widgets.banner import StateBanner
from bot4.ui.widgets.kept import Grid, KeyFooter, MainScreen
from bot4.ui.widgets.panes import Pane
from bot4.ui.widgets.tabs import TabBar


def test_the_installed_textual_has_every_private_name_bot4_uses() -> None:
    check_textual_private_api()


def test_the_check_names_a_private_name_that_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Screen, "_on_timer_update")
    init = StylesCache.__init__

    def init_without_marks(self: StylesCache) -> None:
        init(self)
        del self._dirty_lines

    monkeypatch.setattr(StylesCache, "__init__", init_without_marks)
    with pytest.raises(TextualPrivateAPIError) as info:
        check_textual_private_api()
    message = str(info.value)
    assert "Screen._on_timer_update" in message and "StylesCache._dirty_lines is missing" in message
    assert "StylesCache._cache" not in message and "_width" not in message  # only what is gone


def test_the_check_names_a_private_name_of_another_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    init = App.__init__

    def init_with_a_flag(self: App[object], *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._batch_count = False  # type: ignore[assignment]

    monkeypatch.setattr(App, "__init__", init_with_a_flag)
    with pytest.raises(TextualPrivateAPIError, match=r"App\._batch_count is bool, expected int"):
        check_textual_private_api()


def test_the_helpers_fall_back_when_a_name_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Textual without these names: every helper answers 'go Textual's way' instead of raising."""
    widget = Widget()
    for name in ("_dirty_lines", "_cache", "_width"):
        monkeypatch.delattr(widget._styles_cache, name)
    assert dirty_lines(widget) is None and cached_rows(widget) is None and styles_cache_width(widget) is None
    screen = SimpleNamespace(is_current=True, app=SimpleNamespace(_batch_count=0), _repaint_required=True)
    assert not screen_repaint_pending(screen)  # type: ignore[arg-type]  # the other flags are gone
    assert updates_batched(SimpleNamespace())  # type: ignore[arg-type]  # cannot tell: leave it to Textual
    for name in textual_private.SCREEN_PENDING_FLAGS:
        setattr(screen, name, True)
    screen._dirty_widgets = set()
    assert screen_repaint_pending(screen)  # type: ignore[arg-type]
    assert not repaint_now(screen)  # type: ignore[arg-type]  # no timer callback to call


class Boxed(App[None]):
    CSS = "Static { border: round red; padding: 0 1; height: 5; }"

    def compose(self) -> ComposeResult:
        yield Static("one\ntwo\nthree", id="box")


async def test_a_refreshed_row_is_marked_and_a_repaint_unmarks_it() -> None:
    app = Boxed()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        box = app.query_one("#box", Static)
        width, height = box.outer_size
        rows = cached_rows(box)
        assert rows is not None and sorted(rows) == list(range(height))  # every row drawn, border included
        assert all(strip.cell_length == width for strip in rows.values()) and styles_cache_width(box) == width
        assert "one" in rows[box.content_offset.y].text
        assert dirty_lines(box) == set()

        box.refresh(Region(0, 1, box.size.width, 1))  # the second content row
        marks = dirty_lines(box)
        assert marks == {1 + box.content_offset.y} and dirty_lines(box) is marks  # Textual's own set
        await pilot.pause()  # Textual's way: the screen's update timer repaints
        assert marks == set() and not screen_repaint_pending(app.screen)

        box.refresh()  # the whole widget: the cached rows are dropped and every content row is marked
        assert cached_rows(box) == {} and dirty_lines(box)


async def test_repaint_now_does_the_update_timers_work_at_once() -> None:
    app = Boxed()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        box, screen = app.query_one("#box", Static), app.screen
        assert not screen_repaint_pending(screen) and not repaint_now(screen)  # nothing to do
        box.refresh(Region(0, 0, box.size.width, 1))
        screen.refresh()
        assert screen_repaint_pending(screen) and dirty_lines(box)
        with app.batch_update():
            assert updates_batched(app) and not repaint_now(screen)  # Textual does not repaint in a batch either
        assert not updates_batched(app)
        assert repaint_now(screen)
        assert not screen_repaint_pending(screen)
        assert dirty_lines(box) == set()  # the compositor asked the box for its lines, marked ones drawn again


class OnMain(App[None]):
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Pane("probe", str, id="probe")


async def test_the_main_screen_repaints_at_idle_and_a_pane_redraws_its_changed_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repaints: list[bool] = []

    def watched(screen: Screen) -> bool:
        repaints.append(repaint_now(screen))
        return repaints[-1]

    monkeypatch.setattr(kept, "repaint_now", watched)
    app = OnMain()
    async with app.run_test(size=(40, 10)) as pilot:
        pane = app.query_one("#probe", Pane)
        pane.show("first\nsecond\nthird")
        await pilot.pause()
        assert True in repaints  # the main screen's idle handler repainted
        assert not screen_repaint_pending(app.screen)
        rows = cached_rows(pane)
        assert rows is not None and dirty_lines(pane) == set()
        before = dict(rows)
        top = pane.content_offset.y

        pane.show("first\nsecond, moved\nthird")
        assert dirty_lines(pane) == {top + 1}
        whole = Region(0, 0, *pane.outer_size)
        drawn = pane.render_lines(whole)
        assert dirty_lines(pane) == set()  # the pane drew the marked row and said so
        assert rows[top + 1] is not before[top + 1] and "second, moved" in rows[top + 1].text
        assert all(rows[y] is before[y] for y in before if y != top + 1)  # the others kept
        assert [row.text for row in drawn] == [rows[y].text for y in range(pane.outer_size.height)]


def is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def own_private_names(cls: type) -> set[str]:
    """The underscore names bot4's classes in ``cls``'s MRO define: in the class body, and set on ``self`` anywhere in
    their methods."""
    names: set[str] = set()
    for own in cls.__mro__:
        if not own.__module__.startswith("bot4."):
            continue
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(own)))):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(stmt.name)
                    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                        names.add(stmt.target.id)
                    elif isinstance(stmt, ast.Assign):
                        names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_self(node.value):
                names.add(node.attr)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_no_bot4_widget_shadows_a_private_name_of_textual() -> None:
    """A Textual release that adds a private name bot4's widgets also use would break both silently."""
    source = SimpleNamespace(symbols=("BTC/USDT",))
    ours: list[object] = [
        Pane("t", str, id="p"),
        StateBanner(),
        MainScreen(),
        Grid(),
        KeyFooter(),
        HelpScreen(),
        RearmScreen(1, 0.0),
        OrderTicket(("BTC/USDT",), "BTC/USDT"),
        CancelScreen([]),
        TradesScreen(),
        TabBar(),
        Bot4App(source),  # type: ignore[arg-type]
    ]
    clashes = []
    for widget in ours:
        base_cls = next(c for c in type(widget).__mro__ if not c.__module__.startswith("bot4."))
        base = base_cls()
        for name in own_private_names(type(widget)):
            if hasattr(base_cls, name) or name in vars(base):
                clashes.append(f"{type(widget).__name__}.{name} (also {base_cls.__name__}.{name})")
    assert clashes == []
