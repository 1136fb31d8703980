"""Attach mode against a real headless engine on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from pathlib import Path

from bot4.ui.app import Bot4App
from bot4.ui.remote import RemoteSource
from bot4.ui.widgets.banner import StateBanner
from tests.runtime.conftest import free_port
from tests.runtime.test_headless import headless


def status(port: int, state_dir: Path) -> dict[str, object]:
    token = (state_dir / "api_token").read_text().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/status", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback
        return json.loads(r.read())


async def test_attach_shows_the_remote_engine_kills_it_and_notices_when_it_dies(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    proc = headless(tmp_path, "--api-addr", f"127.0.0.1:{port}")
    try:
        for _ in range(600):
            await asyncio.sleep(0.1)
            if (tmp_path / "api_token").exists():
                try:
                    status(port, tmp_path)
                    break
                except OSError:
                    continue
        token = (tmp_path / "api_token").read_text().strip()
        source = RemoteSource(f"http://127.0.0.1:{port}", token)
        await source.start()
        app = Bot4App(source)  # type: ignore[arg-type]
        try:
            async with app.run_test(size=(200, 55)) as pilot:
                await pilot.pause(1.0)
                banner = app.query_one(StateBanner)
                assert "ACTIVE" in str(banner.render()) and "attached" in str(banner.render())
                assert source.name.startswith("attached · paper · ")  # the venue is the engine's, said by it
                risk = str(app.query_one("#risk").render())
                assert "BTC/USDT" in risk and "ETH/USDT" in risk
                assert "decision" in str(app.query_one("#pipeline").render())
                # what runs, as the engine's stream says it: the Strategy screen works attached too
                assert source.strategies()[0].startswith("ema_cross(fast_period=12, slow_period=26) · stop 0.50 %")
                assert [s["symbol"] for s in source.strategy_info()["symbols"]] == ["BTC/USDT", "ETH/USDT"]
                assert all(not p.manual for p in source.snapshot().positions())
                await pilot.press("a")
                assert "ema_cross(fast_period=12" in str(app.screen.query_one("#strategy-header").render())
                await pilot.press("escape")
                await pilot.press("k")
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if status(port, tmp_path)["trading_state"] == "HALTED":
                        break
                assert (
                    status(port, tmp_path)["trading_state"] == "HALTED" and status(port, tmp_path)["gate_open"] is False
                )
                await pilot.pause(0.5)
                assert "HALTED" in str(banner.render())
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                for _ in range(60):
                    await pilot.pause(0.1)
                    if "DISCONNECTED" in str(banner.render()):
                        break
                assert "DISCONNECTED" in str(banner.render())
                assert banner.has_class("-disconnected")
                # no false confirmation while the link is down: nothing is sent, and the screen says so
                assert source.kill() is False and source.pause() is False
                said: list[str] = []
                app.notify = lambda message, **_kw: said.append(str(message))  # type: ignore[method-assign]
                await pilot.press("p")
                await pilot.press("k")
                await pilot.pause(0.2)
                assert any("NOT SENT: pause" in m for m in said) and any("NOT SENT: KILL" in m for m in said), said
        finally:
            await source.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert env == dict(os.environ)
