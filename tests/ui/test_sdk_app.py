"""The workstation on paper with a strategy file from outside the package: it trades, and the banner names it."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import replace
from pathlib import Path

from bot4.core.config import StrategyConfig
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.ui.app import Bot4App
from bot4.ui.source import LocalSource
from tests.ui.test_app import banner_text
from tests.venues.test_sdk_lockstep import PROBE


async def test_a_user_strategy_trades_in_the_tui_and_the_banner_names_it(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(textwrap.dedent(PROBE))
    cfg = load_config(None, env={})
    strat = StrategyConfig(kind=f"{path}:Probe", params={"mode": 0, "every": 30}, symbols=("BTC/USDT",))
    cfg = replace(
        cfg,
        core=replace(cfg.core, strategies=(strat,)),
        replay=replace(cfg.replay, speed=20.0),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
    )
    engine = Engine(cfg, tmp_path / "state")
    runner = asyncio.create_task(engine.run())
    app = Bot4App(LocalSource(engine))
    try:
        async with app.run_test(size=(240, 55)) as pilot:
            for _ in range(12_000):  # up to 600 s: cold, the engine's loop compiles with the strategy in it first
                await pilot.pause(0.05)
                if engine.core.user.state[0]["placed"] >= 1:
                    break
            assert engine.core.user.state[0]["placed"] >= 1
            assert engine.core.snapshot().stats.counter("orders_out") >= 1
            assert "Probe(mode=0, every=30) from probe.py" in banner_text(app)
    finally:
        engine.request_stop()
        await runner
