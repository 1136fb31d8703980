"""kill -9 while orders are in flight on a live venue (F1), cycle after cycle: nothing is lost and nothing is sent
twice. The engine runs as an operator runs it (``bot4-tui --headless`` against the local Binance-style exchange,
through the real ccxt client); each cycle sends a manual order whose request times out while the exchange executes
it, and the process is killed before it can find out. The last start must find every such fill at the venue by its
client order id and journal it, with the journal's positions equal to the exchange's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.localexchange.server import LocalExchange
from bot4.runtime.config import load_config
from tests.runtime.conftest import free_port
from tests.runtime.test_headless import ROOT, events

KEY = "kL9mN2bV5cX8zQ1wE4rT7yU0iO3pA6sD9fG2hJ5kL8zX1cV4bN7mQ0wE3rT6yU9i"
SECRET = "aS2dF5gH8jK1lZ4xC7vB0nM3qW6eR9tY2uI5oP8aS1dF4gH7jK0lZ3xC6vB9nM2q"
CYCLES = 3


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    cfg = load_config(None, env={})
    core = replace(cfg.core, instruments=tuple(replace(i, venue="binance") for i in cfg.core.instruments))
    ex = LocalExchange(core, api_key=KEY, secret=SECRET, speed=20.0, timeout_hang_s=1.5)
    await ex.start()
    yield ex
    await ex.stop()


def _config(ex: LocalExchange, path: Path) -> Path:
    live = ex.live_config()
    path.write_text(
        f"""strategies = []
[live]
exchange = "binance"
rest_url = "{live.rest_url}"
ws_url = "{live.ws_url}"
timeout_s = 1.0
recv_window_s = 2.0
poll_interval_s = 0.1
heartbeat_s = 600.0

[[instruments]]
symbol = "BTC/USDT"
venue = "binance"
size_step = 0.00001
price_tick = 0.01
min_size = 0.00001

[[instruments]]
symbol = "ETH/USDT"
venue = "binance"
size_step = 0.0001
price_tick = 0.01
min_size = 0.0001
"""
    )
    return path


def _start(config: Path, state: Path, log: Path, api_port: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), BOT4_BINANCE_API_KEY=KEY, BOT4_BINANCE_SECRET=SECRET)
    env.pop("BOT4_API_TOKEN", None)
    cmd = [sys.executable, "-m", "bot4.cli", "--headless", "--config", str(config), "--state-dir", str(state),
           "--metrics-addr", "", "--api-addr", f"127.0.0.1:{api_port}"]
    with open(log, "a") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env, cwd=ROOT)


def _api(port: int, state: Path, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    token = (state / "api_token").read_text().strip()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


async def _until(pred, p: subprocess.Popen[str], log: Path, timeout: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except (OSError, ValueError, KeyError):
            pass
        if p.poll() is not None:
            break
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached (engine {'exited ' + str(p.returncode) if p.poll() is not None else 'running'}):"
                         f"\n{log.read_text()[-4000:]}")


def _journal(state: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def test_kill_9_during_timed_out_orders_loses_no_fill_and_sends_nothing_twice(
    exchange: LocalExchange, tmp_path: Path
) -> None:
    config = _config(exchange, tmp_path / "live.toml")
    state, log = tmp_path / "state", tmp_path / "engine.log"
    sent = 0
    for cycle in range(CYCLES):
        port = free_port()
        p = _start(config, state, log, port)
        try:
            # the venue has connected and recovered (the API answers before that): no start-up call is left to take
            # the fault injected below
            await _until(lambda: log.read_text().count('"venue_connected"') > cycle, p, log, 400)
            await _until(lambda: _api(port, state, "/status")["trading_state"] == "ACTIVE", p, log, 30)
            await _until(lambda: (_api(port, state, "/snapshot")["positions"][0]["last_px"] or 0) > 0, p, log, 60)
            px = float(_api(port, state, "/snapshot")["positions"][0]["last_px"])  # type: ignore[index]
            exchange.inject("timeout", 1, only="POST /api/v3/order")  # executed, answered after the client gave up
            answer = await asyncio.to_thread(
                _api, port, state, "/orders", {"symbol": "BTC/USDT", "side": "buy", "size": 0.01, "stop_px": round(px * 0.98, 2)}
            )
            assert answer.get("result") == "ok", answer
            sent += 1
            await _until(lambda: exchange.faults.served >= cycle + 1, p, log, 10)  # the request is at the exchange
            await _until(lambda: log.read_text().count('"order_outcome_unknown"') > cycle, p, log, 10)
        finally:
            os.kill(p.pid, signal.SIGKILL)  # before the engine can learn what became of it
            p.wait(timeout=30)
        await asyncio.sleep(2.0)  # the exchange executes the late request meanwhile
    # the last start finds each order by its client order id, journals its fills, and agrees with the exchange
    port = free_port()
    p = _start(config, state, log, port)
    try:
        await _until(lambda: _api(port, state, "/status")["trading_state"] in ("ACTIVE", "HALTED"), p, log, 400)
        await asyncio.sleep(1.0)
        status = _api(port, state, "/status")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    evs = events(log.read_text())
    instance = _journal(state, "SELECT value FROM meta WHERE key='instance'")[0][0]
    ours = {oid: cid for oid, cid in exchange.client_ids.items() if cid.startswith(f"b4{instance}-")}
    assert len(ours) == sent == CYCLES and len(set(ours.values())) == len(ours), "an order was sent twice"
    venue_fills = {cid: sum(t.qty for t in exchange.trades if t.order_id == oid) for oid, cid in ours.items()}
    journal_fills = dict(_journal(state, "SELECT coid, SUM(size) FROM reports WHERE kind = 2 GROUP BY coid"))
    for cid, qty in venue_fills.items():
        coid = int(cid.rsplit("-", 1)[1])
        assert journal_fills.get(coid, 0.0) == pytest.approx(qty, abs=1e-9), f"fill of {cid} lost"
    venue_qty = exchange.paper.position("BTC/USDT")[0]
    assert sum(venue_fills.values()) == pytest.approx(venue_qty, abs=1e-9) and venue_qty > 0
    assert not [e for e in evs if e["event"] == "position_mismatch"]
    assert status["trading_state"] == "ACTIVE", status
    assert sum(1 for e in evs if e["event"] == "order_outcome_unknown") == CYCLES  # each cycle killed in the dark
    assert sum(1 for e in evs if e["event"] == "recover_order_found") >= 1
