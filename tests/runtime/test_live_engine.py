"""The engine on a live venue, end to end: the real ccxt client, the local Binance-style exchange on loopback.

Market data arrives over the exchange's websocket streams, the core decides, orders leave through ccxt's REST calls,
fills come back, and the core's book agrees with the exchange's. Keys come from the environment and appear in no
log line.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.compose import serve
from bot4.core.records import SIDE_BUY
from bot4.localexchange.server import LocalExchange
from bot4.runtime.config import AppConfig, load_config
from bot4.runtime.engine import Engine
from tests.runtime.conftest import free_port

KEY = "Zx81ff0cH2pQ4yTq0b2dU5yFfF3gKkq0hZ3tWmM8ryS1eN7aVv6jLb9oPp4cXx2u"
SECRET = "Qw3eR5tY7uI9oP1aS3dF5gH7jK9lZ1xC3vB5nM7qW9eR1tY3uI5oP7aS9dF1gH3j"


def live_app_config(ex: LocalExchange, metrics_addr: str = "") -> AppConfig:
    cfg = load_config(None, env={})
    core = replace(cfg.core, instruments=tuple(replace(i, venue="binance") for i in cfg.core.instruments))
    live = ex.live_config(
        timeout_s=2.0,
        poll_interval_s=0.1,
        heartbeat_s=0.5,
        reconnect_min_s=0.1,
        reconnect_max_s=1.0,
    )
    return replace(cfg, core=core, live=live, runtime=replace(cfg.runtime, api_addr="", metrics_addr=metrics_addr))


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    cfg = load_config(None, env={})
    core = replace(cfg.core, instruments=tuple(replace(i, venue="binance") for i in cfg.core.instruments))
    ex = LocalExchange(core, api_key=KEY, secret=SECRET, speed=20.0)
    await ex.start()
    yield ex
    await ex.stop()


async def test_engine_trades_through_ccxt_against_the_local_exchange(
    exchange: LocalExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BOT4_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BOT4_BINANCE_SECRET", SECRET)
    port = free_port()
    engine = Engine(live_app_config(exchange, f"127.0.0.1:{port}"), tmp_path / "state")
    with caplog.at_level(logging.DEBUG):
        run = asyncio.create_task(serve(engine, run_for=60))
        for _ in range(600):  # live ticks reach the core over the websocket
            if engine.core.snapshot().positions()[0].last_px > 0:
                break
            await asyncio.sleep(0.05)
        px = engine.core.snapshot().positions()[0].last_px
        assert px > 0
        engine.core.manual_order("BTC/USDT", SIDE_BUY, 0.01, stop_px=round(px * 0.99, 2))
        for _ in range(400):
            if engine.core.snapshot().stats.counter("fills") >= 1 and abs(engine.core.snapshot().positions()[0].qty) > 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # let strategy orders flow a little too
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        )
        engine.request_stop()
        code = await asyncio.wait_for(run, timeout=30)
    assert code == 0, engine.failed
    snap = engine.core.snapshot()
    assert snap.stats.counter("ticks_in") > 100
    assert snap.stats.counter("fills") >= 1
    assert engine.venue.stats()["accepted"] >= 1
    # the core's book is the exchange's book
    for p in snap.positions():
        venue_qty, _avg = exchange.paper.position(p.symbol)
        assert p.qty == pytest.approx(venue_qty, abs=1e-9), p.symbol
    assert snap.positions()[0].qty != 0 or any(t.symbol == "BTC/USDT" for t in exchange.trades)
    assert sum(t.fee for t in exchange.trades) == pytest.approx(snap.fees, rel=1e-6)
    text = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert KEY not in text and SECRET not in text
    assert any(getattr(r, "event", "") == "venue_connected" for r in caplog.records)
    assert 'bot4_venue_orders_total{venue="binance"}' in metrics
    assert 'bot4_breaker_state{breaker="venue:binance",state="CLOSED"} 1.0' in metrics


def test_cli_without_keys_says_which_variables_to_set(tmp_path: Path) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        '[runtime]\napi_addr = ""\nmetrics_addr = ""\nstate_dir = "%s"\n\n[live]\nexchange = "binance"\n'
        'rest_url = "http://127.0.0.1:9/api/v3"\n\n[[instruments]]\nsymbol = "BTC/USDT"\nvenue = "binance"\n'
        % (tmp_path / "state")
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    r = subprocess.run(
        [sys.executable, "-m", "bot4.cli", "--headless", "--config", str(cfg), "--run-for", "5"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert r.returncode == 1
    assert "BOT4_BINANCE_API_KEY and BOT4_BINANCE_SECRET" in r.stderr
