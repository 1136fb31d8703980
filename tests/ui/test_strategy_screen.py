"""The Strategy screen: what runs with which settings, each symbol's view and who holds its position, the signal
counts, and what the strategy did with its signals — from a frozen feed and from a running paper engine."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from bot4.core import records
from bot4.core.config import StrategyConfig
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.ui.app import Bot4App
from bot4.ui.render_strategy import DecisionLog, StrategyView, decisions_markup, header_markup, symbols_markup
from bot4.ui.source import LocalSource, View
from bot4.ui.strategy_screen import StrategyScreen
from bot4.ui.widgets.panes import Pane
from tests.ui.test_snapshots import FrozenSource, StillApp
from tests.ui.test_ticket import until


def text(screen: StrategyScreen, pane_id: str) -> str:
    return str(screen.query_one(pane_id, Pane).render())


def test_the_decision_log_keeps_the_strategys_own_orders_once() -> None:
    frozen = FrozenSource()
    view = View(frozen.snapshot(), frozen.symbols, "BTC/USDT")
    entry = {"action": "submit", "coid": 5, "ts": 1.0, "symbol": "BTC/USDT", "side": "buy", "flags": 0}
    manual = {**entry, "coid": 6, "flags": records.FLAG_MANUAL}
    cancel = {**entry, "coid": 7, "action": "cancel"}
    refused = {"reason": "paused", "coid": 0, "ts": 2.0, "symbol": "BTC/USDT", "side": "sell", "flags": 0}
    log = DecisionLog()
    for _ in range(3):  # the same activity in three frames
        log.take(replace(view, orders=[entry, manual, cancel], rejects=[refused]))
    assert [(d["decision"], d.get("coid")) for d in log.items] == [("order", 5), ("refused", 0)]


def test_the_panes_say_what_runs_who_holds_and_what_it_did() -> None:
    frozen = FrozenSource()
    snap = frozen.snapshot()
    log = DecisionLog()
    act = frozen.activity("BTC/USDT")
    log.take(View(snap, frozen.symbols, "BTC/USDT", orders=act["orders"], rejects=act["rejects"]))  # type: ignore[arg-type]
    eth = next(p for p in snap.positions() if p.symbol == "ETH/USDT")
    positions = {p.symbol: p for p in snap.positions()}
    positions["ETH/USDT"] = replace(eth, qty=1.5, manual=True)
    sv = StrategyView(frozen.strategy_info(), positions, {"signals": 12, "signals_manual_held": 3}, list(log.items))
    head = header_markup(sv)
    assert "ema_cross(fast_period=12, slow_period=26)" in head and "stop 0.50 %" in head
    assert "left alone (manage_manual = false)" in head
    rows = symbols_markup(sv).splitlines()
    eth_row = next(r for r in rows if r.startswith("ETH/USDT"))
    assert "1.50000" in eth_row and "manual[/], left alone" in eth_row
    did = decisions_markup(sv)
    assert "entry 0.80871 market, stop 61,528.45" in did
    assert "refused: loss-streak cool-down" in did
    assert "risk 2.31 %" not in did  # that refusal was a person's order (FLAG_MANUAL), not the strategy's


def test_no_strategy_and_an_engine_that_does_not_say() -> None:
    assert "no strategy runs" in header_markup(StrategyView({"strategies": [], "symbols": []}))
    assert "does not send" in header_markup(StrategyView({}))


async def test_the_strategy_screen_opens_and_closes_with_its_key() -> None:
    app = StillApp(FrozenSource())  # type: ignore[arg-type]
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, StrategyScreen)
        await pilot.pause(0.2)
        assert "ema_cross(fast_period=12, slow_period=26)" in text(screen, "#strategy-header")
        assert "manual" in text(screen, "#strategy-symbols") or "flat" in text(screen, "#strategy-symbols")
        assert "refused: loss-streak cool-down" in text(screen, "#strategy-decisions")
        await pilot.press("escape")
        assert not isinstance(app.screen, StrategyScreen)


async def test_a_running_engine_shows_its_decisions_and_a_persons_position(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    cfg = replace(
        cfg,
        # a quick EMA cross trades within seconds; no loss-streak cool-down (it would refuse the person's order too)
        core=replace(
            cfg.core,
            strategies=(StrategyConfig(fast_period=3, slow_period=8),),
            # nor a correlation refusal (the check admits until it has this many samples: longer than the test)
            risk=replace(
                cfg.core.risk,
                loss_streak_max=1_000_000,
                correlation_window=5_000,
                correlation_min_samples=5_000,
                drawdown_warn_frac=0.14,
            ),
        ),
        replay=replace(cfg.replay, speed=20.0),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
    )
    engine = Engine(cfg, tmp_path)
    engine.core.pause()  # the strategy's entries wait (a manual order does not): its first command, before a tick
    runner = asyncio.create_task(engine.run())
    app = Bot4App(LocalSource(engine))
    try:
        async with app.run_test(size=(200, 50)) as pilot:

            def eth():  # type: ignore[no-untyped-def]
                return next(p for p in engine.core.snapshot().positions() if p.symbol == "ETH/USDT")

            # first a person buys ETH/USDT while the strategy's entries are paused: theirs
            assert await until(pilot, lambda: engine.core.snapshot().paused and eth().last_px > 0.0, 3600), "no price"
            assert eth().qty == 0.0
            engine.core.manual_order("ETH/USDT", records.SIDE_BUY, 0.1, stop_px=eth().last_px * 0.9)
            assert await until(pilot, lambda: eth().qty > 0.0, 200), engine.core.snapshot().last_command
            assert eth().qty == 0.1 and eth().manual
            engine.core.resume()
            # then the strategy trades BTC/USDT, and holds its signals on ETH/USDT
            assert await until(pilot, lambda: len(app.decisions.items) > 0, 1200), "no strategy order in 60 s"
            await pilot.press("a")
            screen = app.screen
            assert isinstance(screen, StrategyScreen)
            assert await until(pilot, lambda: " entry " in text(screen, "#strategy-decisions"), 200), list(
                app.decisions.items
            )
            theirs = [d for d in app.decisions.items if d["decision"] == "order" and d["symbol"] == "ETH/USDT"]
            assert not theirs, [(d["side"], d["flags"], d["size"], d["stop_px"]) for d in theirs]
            assert "manual[/], left alone" in symbols_markup(screen.build())
            assert "manual" in text(screen, "#strategy-symbols")
            held = lambda: engine.core.snapshot().stats.counter("signals_manual_held") > 0  # noqa: E731
            assert await until(pilot, held, 1200), "the strategy never signalled on ETH/USDT"
            assert eth().qty == 0.1 and eth().manual  # still the person's
            assert "held: a person's position" in text(screen, "#strategy-counts")
    finally:
        engine.request_stop()
        await runner
