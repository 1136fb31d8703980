"""The workstation under Pilot, driving a real in-process engine."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input

from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.ui.app import Bot4App
from bot4.ui.refusals import reason_words
from bot4.ui.screens import HelpScreen, RearmScreen
from bot4.ui.source import LocalSource
from bot4.ui.ticket_screen import OrderTicket
from bot4.ui.widgets.banner import StateBanner
from bot4.ui.widgets.panes import Pane
from bot4.venues.replay import SAMPLE_DEPTH, SAMPLE_FILES, sample_path
from tests.ui.test_snapshots import cells


def make_engine(tmp_path: Path, cooldown_s: float = 1.0) -> Engine:
    cfg = load_config(None, env={})
    cfg = replace(
        cfg,
        core=replace(cfg.core, risk=replace(cfg.core.risk, rearm_cooldown_s=cooldown_s)),
        replay=replace(cfg.replay, speed=20.0),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
    )
    return Engine(cfg, tmp_path)


async def run_app(tmp_path: Path, body, cooldown_s: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(tmp_path, cooldown_s)
    runner = asyncio.create_task(engine.run())
    app = Bot4App(LocalSource(engine))
    try:
        async with app.run_test(size=(200, 55)) as pilot:
            await pilot.pause(0.5)
            await body(app, pilot, engine)
    finally:
        engine.request_stop()
        await runner


def banner_text(app: Bot4App) -> str:
    return str(app.query_one(StateBanner).render())


async def test_kill_key_halts_at_once_and_the_banner_says_so(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        assert "ACTIVE" in banner_text(app)
        await pilot.press("k")
        assert not engine.gate_open  # closed synchronously by the key
        for _ in range(50):
            await pilot.pause(0.05)
            if "HALTED" in banner_text(app):
                break
        assert "HALTED" in banner_text(app)
        assert app.query_one(StateBanner).has_class("-halted")
        assert engine.core.snapshot().trading_state == "HALTED"

    await run_app(tmp_path, body)


async def test_rearm_is_refused_in_cooldown_and_accepted_after_confirmation(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        await pilot.press("k")
        await pilot.pause(0.3)
        halt_seq = engine.core.snapshot().halt_seq
        await pilot.press("r")
        assert isinstance(app.screen, RearmScreen)
        app.screen.query_one(Input).value = str(halt_seq)
        await pilot.press("enter")
        await pilot.pause(0.6)
        seq, _kind, result = engine.core.snapshot().last_command
        assert (seq, result) == (1, "rearm_cooldown")  # the first command: a kill is a flag, not a command
        assert engine.core.snapshot().kills == 1
        assert engine.core.snapshot().trading_state == "HALTED"
        await asyncio.sleep(max(0.0, engine.core.snapshot().rearm_wait_s) + 0.1)
        await pilot.press("r")
        app.screen.query_one(Input).value = str(halt_seq + 7)  # a wrong confirmation is refused too
        await pilot.press("enter")
        await pilot.pause(0.6)
        assert engine.core.snapshot().last_command[2] == "rearm_bad_confirmation"
        await pilot.press("r")
        app.screen.query_one(Input).value = str(halt_seq)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if "ACTIVE" in banner_text(app):
                break
        assert engine.core.snapshot().trading_state == "ACTIVE"
        assert "ACTIVE" in banner_text(app) and engine.gate_open

    await run_app(tmp_path, body, cooldown_s=10.0)  # a Pilot key press waits up to ~2 s for an idle app


async def test_manual_order_is_refused_with_its_reason(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        for _ in range(200):  # the replay's first BTC tick: before it the refusal would be no_market_price
            if any(p.symbol == "BTC/USDT" and p.last_px > 0 for p in engine.core.snapshot().positions()):
                break
            await pilot.pause(0.05)
        await pilot.press("o")
        assert isinstance(app.screen, OrderTicket)
        values = {"#symbol": "BTC/USDT", "#size": "50", "#stop": "1000", "#price": ""}
        for sel, value in values.items():
            app.screen.query_one(sel, Input).value = value
        app.screen.query_one("#size", Input).focus()
        await pilot.press("enter", "enter")  # review, then send
        for _ in range(40):
            await pilot.pause(0.05)
            if any("refused" in str(n.message) for n in app._notifications):
                break
        # 50 BTC with a stop ~60,000 away risks far more than 2 % of equity (an earlier rule may refuse it first,
        # e.g. a loss-streak cool-down of the running strategy): the UI must show the core's own reason
        result = engine.core.snapshot().last_command[2]
        assert result in ("risk_per_trade", "loss_streak_cooldown", "reducing_only")
        said = [str(n.message) for n in app._notifications]
        assert any(f"refused: {reason_words(result)[:12]}" in m for m in said), said
        if result == "risk_per_trade":  # in words, with the core's own figures
            assert any("% of equity > limit 2.00 %" in m for m in said), said

    await run_app(tmp_path, body)


async def test_theme_switch_and_help(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        assert app.theme == "bot4-dark"
        await pilot.press("t")
        assert app.theme == "bot4-light"
        await pilot.press("t")
        assert app.theme == "bot4-contrast"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help").query("Static").first().render())
        for key in ("kill switch", "re-arm", "pause", "theme", "manual order", "trades", "cancel one", "maximize"):
            assert key in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    await run_app(tmp_path, body)


async def test_panes_fill_from_the_engine(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        await pilot.pause(1.5)
        view = app.last_view
        assert view is not None and view.snapshot.stats.counter("ticks_in") > 0
        pipeline = str(app.query_one("#pipeline").render())
        assert "decision" in pipeline and "tick_to_order" in pipeline
        risk = str(app.query_one("#risk").render())
        assert "BTC/USDT" in risk and "equity" in risk
        assert app.first_frame_s is not None and app.frames > 5

    await run_app(tmp_path, body)


async def test_market_pane_charts_the_price_marks_our_fills_and_lists_the_prints(tmp_path: Path) -> None:
    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        for _ in range(100):  # the replay's first fills come within seconds
            await pilot.pause(0.2)
            if engine.recent_fills and len(engine.price_history["BTC/USDT"]) > 24:
                break
        await pilot.pause(1.2)  # the chart draws finished seconds
        fills = {f["symbol"] for f in engine.recent_fills}
        app.selected = "BTC/USDT" if "BTC/USDT" in fills else "ETH/USDT"
        app.refresh_view()
        await pilot.pause(0.3)
        pane = app.query_one("#market", Pane)
        lines = pane._lines
        assert len(lines) == pane.size.height  # header, a chart as tall as the pane allows, legend
        text = str(pane.render())
        assert "last trades" in text and "▲ buy" in text and "last fill" in text
        prints = [line for line in text.splitlines() if line.count(":") >= 2 and (" buy " in line or " sell " in line)]
        assert len(prints) >= 3  # market prints with time, side, price, size
        assert sum(line.count("█") for line in text.splitlines()) > 20  # the area chart is drawn
        chart_rows = text.splitlines()[1:-1]
        assert any("▲" in row or "▼" in row for row in chart_rows)  # our fills, marked in the chart
        orders = str(app.query_one("#orders", Pane).render())
        assert "open orders" in orders and "recent fills" in orders and "refusals" in orders

    await run_app(tmp_path, body)


async def test_a_pane_repaints_only_the_lines_that_changed(tmp_path: Path) -> None:
    """A new view that moves one figure re-renders that one line: the others keep their rendered strips and are not
    marked for repaint (the whole pane was re-parsed and repainted each frame before)."""

    async def body(app, pilot, engine):  # type: ignore[no-untyped-def]
        pane = app.query_one("#market", Pane)
        pane.every = 10**9  # the app's refresh leaves this pane alone from now on
        pane.show("[b]first[/b] line\nsecond line\nthird line")
        await pilot.pause(0.2)
        before = [pane.render_line(y) for y in range(3)]
        # the compositor's question, asked twice with nothing changed between: the same answer, not worked out again
        whole = Region(0, 0, pane.outer_size.width, pane.outer_size.height)
        kept = pane.render_lines(whole)
        assert pane.render_lines(whole) is kept
        pane.show("[b]first[/b] line\nsecond line [$success]moved[/]\nthird line")
        drawn_by_textual = []  # the styles cache's own line drawing, watched on this pane only
        textual_line = pane._styles_cache.render_line
        pane._styles_cache.render_line = lambda *a, **k: drawn_by_textual.append(a[1]) or textual_line(*a, **k)
        fresh = pane.render_lines(whole)
        del pane._styles_cache.render_line
        assert drawn_by_textual == []  # the changed row went around the cached border, not through Textual's drawing
        assert fresh is not kept and "second line moved" in fresh[1 + pane.content_offset.y].text
        # the changed row was drawn around the cached row's border and padding: the same cells Textual draws afresh
        pane._styles_cache.clear()
        textual = Widget.render_lines(pane, whole)
        assert [cells(row) for row in fresh] == [cells(row) for row in textual]
        dirty = {r.y for r in pane._repaint_regions}
        assert dirty == {1 + pane.content_offset.y}  # only the second line, in the widget's coordinates
        after = [pane.render_line(y) for y in range(3)]
        assert after[0] is before[0] and after[2] is before[2]
        assert after[1] is not before[1] and "moved" in after[1].text
        assert "second line moved" in str(pane.render())
        await pilot.press("t")  # another theme: every cached line is rendered again, in its colours
        await pilot.pause(0.2)
        assert pane.render_line(0) is not before[0] and pane.render_line(0).text.startswith("first line")
        recoloured = pane.render_lines(whole)
        assert recoloured is not fresh and recoloured[0] != fresh[0]  # the border's colours are the new theme's

    await run_app(tmp_path, body)


async def test_the_market_pane_shows_the_l2_book_when_the_feed_has_one(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    files = tuple(f"BTC/USDT={sample_path(name)}" for name in (SAMPLE_DEPTH["BTC/USDT"], SAMPLE_FILES["BTC/USDT"][0]))
    cfg = replace(
        cfg,
        replay=replace(cfg.replay, speed=20.0, files=files),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
    )
    engine = Engine(cfg, tmp_path)
    runner = asyncio.create_task(engine.run())
    app = Bot4App(LocalSource(engine))
    try:
        async with app.run_test(size=(200, 55)) as pilot:
            text = ""
            for _ in range(100):
                await pilot.pause(0.2)
                app.selected = "BTC/USDT"
                app.refresh_view()
                text = str(app.query_one("#market", Pane).render())
                if "book (best" in text:
                    break
            assert "book (best 5 a side)" in text and "last trades" in text
            snap = engine.core.snapshot()
            levels = snap.book_levels("BTC/USDT")
            assert len(levels["bids"]) == len(levels["asks"]) == 10
            lines = text.splitlines()
            asks = [line for line in lines if re.search(r"ask +[\d,.]+ +\d+\.\d{5} *$", line)]
            bids = [line for line in lines if re.search(r"bid +[\d,.]+ +\d+\.\d{5} *$", line)]
            assert len(asks) == len(bids) == 5  # five levels a side, asks over bids
            assert lines.index(asks[-1]) < lines.index(bids[0])
    finally:
        engine.request_stop()
        await runner
