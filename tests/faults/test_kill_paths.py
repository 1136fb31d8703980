"""Every kill path fails safe (F3): a KILL file is seen while the watcher's other work fails on every pass (a full
descriptor table), and a stalled core still has its working orders cancelled, from the execution side."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.compose import serve
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine


def _config():  # type: ignore[no-untyped-def]
    cfg = load_config(None, env={})
    return replace(cfg, runtime=replace(cfg.runtime, api_addr="", metrics_addr=""), replay=replace(cfg.replay, speed=20.0))


async def test_a_kill_file_halts_while_every_watcher_pass_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(_config(), tmp_path / "state")

    def emfile() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(engine.watchers, "_state_changes", emfile)
    run = asyncio.create_task(serve(engine))
    try:
        await asyncio.sleep(1.0)
        assert engine.core.snapshot().trading_state == "ACTIVE"
        (tmp_path / "state" / "KILL").touch()
        for _ in range(100):
            if engine.core.snapshot().trading_state == "HALTED":
                break
            await asyncio.sleep(0.02)
        assert engine.core.snapshot().trading_state == "HALTED" and not engine.gate_open
        assert not (tmp_path / "state" / "KILL").exists()
        assert engine.watchers.errors > 0 and not run.done()  # the watcher kept going, and so did the engine
    finally:
        engine.request_stop()
        await asyncio.wait_for(run, 60)


async def test_a_core_that_does_not_answer_a_kill_has_its_orders_cancelled_by_the_execution_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot4.core.records import SIDE_BUY
    from bot4.localexchange.server import LocalExchange
    from tests.runtime.test_live_engine import KEY, SECRET, live_app_config

    monkeypatch.setenv("BOT4_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BOT4_BINANCE_SECRET", SECRET)
    cfg0 = load_config(None, env={})
    ex = LocalExchange(
        replace(cfg0.core, instruments=tuple(replace(i, venue="binance") for i in cfg0.core.instruments)),
        api_key=KEY, secret=SECRET, speed=20.0,
    )
    await ex.start()
    cfg = live_app_config(ex)
    cfg = replace(cfg, core=replace(cfg.core, strategies=()))
    engine = Engine(cfg, tmp_path / "state")
    run = asyncio.create_task(serve(engine))
    try:
        for _ in range(600):
            if engine.core.snapshot().positions()[0].last_px > 0:
                break
            await asyncio.sleep(0.05)
        px = engine.core.snapshot().positions()[0].last_px
        limit = round(px * 0.97, 2)
        engine.core.manual_order("BTC/USDT", SIDE_BUY, 0.01, stop_px=round(limit * 0.99, 2), price=limit)
        for _ in range(200):
            if ex.paper.fetch_open_orders():
                break
            await asyncio.sleep(0.05)
        assert len(ex.paper.fetch_open_orders()) == 1
        engine.core.stop()  # the core no longer runs its step: nothing it would do about a kill happens
        engine.kill("test")
        for _ in range(100):
            if not ex.paper.fetch_open_orders():
                break
            await asyncio.sleep(0.05)
        assert ex.paper.fetch_open_orders() == [], "the resting order outlived the kill"
        assert not engine.gate_open
        assert any(getattr(r, "event", "") == "kill_core_unresponsive" for r in caplog.records)
    finally:
        engine.request_stop()
        await asyncio.wait_for(run, 60)
        await ex.stop()
