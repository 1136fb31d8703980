"""A strategy file written outside the package, unchanged, in the running engine: headless on paper (the run names
the strategy and its parameters) and live through ccxt against the local exchange, limit entries and cancels
included."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot4.commands.new_strategy import write_template
from bot4.compose import serve
from bot4.core.config import StrategyConfig
from bot4.localexchange.server import LocalExchange
from bot4.runtime.engine import Engine
from tests.runtime.test_live_engine import KEY, SECRET, exchange, live_app_config  # noqa: F401 - the fixture
from tests.venues.test_sdk_lockstep import PROBE

ROOT = Path(__file__).resolve().parents[2]


def test_a_new_strategy_runs_headless_on_paper_and_says_so(tmp_path: Path) -> None:
    path, name = write_template("my_cross", tmp_path / "strategies")
    config = tmp_path / "my.toml"
    config.write_text(f'[[strategies]]\nkind = "strategies/{path.name}:{name}"\n[strategies.params]\nfast = 10\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BOT4_API_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "bot4.cli",
        "--headless",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "s"),
        "--speed",
        "0",
        "--until-end",
        "--metrics-addr",
        "",
        "--api-addr",
        "",
        "--log-format",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["event"] == "engine_start")
    summary = next(e for e in events if e["event"] == "run_summary")
    described = "MyCross(fast=10, slow=26, stop_frac=0.005) from my_cross.py"
    assert start["strategy"] == summary["strategy"] == f"BTC/USDT, ETH/USDT: {described}"
    assert summary["orders"] >= 4 and summary["fills"] == summary["orders"] and summary["data_ended"] is True
    # the template asks again at the next cross, not at every trade, while the loss-streak cool-down refuses it
    assert 0 < summary["refused"] < 2_000  # 34,177 when it asked at every trade


def test_debug_strategy_needs_a_user_strategy() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bot4.cli", "--headless", "--debug-strategy"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == 'bot4: --debug-strategy: the config runs no user strategy (kind = "file.py:Class")'


async def test_limit_entries_and_cancels_reach_the_local_exchange(
    exchange: LocalExchange,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT4_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BOT4_BINANCE_SECRET", SECRET)
    path = tmp_path / "probe.py"
    path.write_text(textwrap.dedent(PROBE))
    created: list[tuple[Any, ...]] = []
    cancelled: list[Any] = []
    real_create, real_cancel = exchange.paper.create_order, exchange.paper.cancel_order

    def create(symbol, otype, side, qty, price=None, params=None):  # type: ignore[no-untyped-def]
        created.append((symbol, otype, side, price, dict(params or {})))
        return real_create(symbol, otype, side, qty, price, params)

    def cancel(order_id, symbol=None):  # type: ignore[no-untyped-def]
        cancelled.append(order_id)
        return real_cancel(order_id, symbol)

    monkeypatch.setattr(exchange.paper, "create_order", create)
    monkeypatch.setattr(exchange.paper, "cancel_order", cancel)
    cfg = live_app_config(exchange)
    strat = StrategyConfig(kind=f"{path}:Probe", params={"mode": 5, "every": 30}, symbols=("BTC/USDT",))
    cfg = replace(cfg, core=replace(cfg.core, strategies=(strat,)))
    engine = Engine(cfg, tmp_path / "state")
    run = asyncio.create_task(serve(engine, run_for=900))
    state = engine.core.user.state
    for _ in range(12_000):  # up to 600 s: a cold start compiles the strategy into the engine first
        if state[0]["cancels"] >= 1 and cancelled:
            break
        await asyncio.sleep(0.05)
    engine.request_stop()
    code = await asyncio.wait_for(run, timeout=60)
    assert code == 0, engine.failed
    limits = [c for c in created if c[1] == "limit"]
    assert len(limits) >= 1 and state[0]["placed"] >= 1
    assert all(c[4].get("timeInForce") == "GTC" for c in limits)
    assert len(cancelled) >= 1 and state[0]["cancels"] >= 1, (state[0], created, engine.venue.stats())
    assert engine.venue.stats()["canceled"] >= 1
