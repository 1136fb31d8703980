"""The control API against a real running engine: auth, validation, limits, kill and manual orders."""

from __future__ import annotations

import asyncio
import stat
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot4.compose import serve
from bot4.runtime.api import ApiError, ControlApi, load_token
from bot4.runtime.config import AppConfig
from bot4.runtime.engine import Engine


async def _with_engine(cfg: AppConfig, state_dir: Path, body):  # type: ignore[no-untyped-def]
    engine = Engine(cfg, state_dir)
    task = asyncio.create_task(serve(engine))
    base = f"http://{cfg.runtime.api_addr}"
    token = ""
    try:
        for _ in range(400):
            try:
                token = (state_dir / "api_token").read_text().strip()
                auth = {"Authorization": f"Bearer {token}"}
                async with aiohttp.ClientSession() as s, s.get(base + "/status", headers=auth) as r:
                    if r.status == 200:
                        break
            except (aiohttp.ClientConnectionError, FileNotFoundError):
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            await body(engine, session, base, token)
    finally:
        engine.request_stop()
        await task


async def test_reads_and_writes_need_the_token(app_config: AppConfig, state_dir: Path) -> None:
    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        async with s.get(base + "/status") as r:
            assert r.status == 200 and (await r.json())["trading_state"] == "ACTIVE"
        async with s.get(base + "/snapshot") as r:
            doc = await r.json()
            assert doc["symbols"] == ["BTC/USDT", "ETH/USDT"] and "latency_ns" in doc
        async with aiohttp.ClientSession() as bare:
            for path in ("/status", "/snapshot", "/stream"):
                async with bare.get(base + path) as r:
                    assert r.status == 401, path
            for path in ("/kill", "/pause", "/resume"):
                async with bare.post(base + path) as r:
                    assert r.status == 401
                async with bare.post(base + path, headers={"Authorization": "Bearer wrong"}) as r:
                    assert r.status == 401
        assert engine.core.snapshot().trading_state == "ACTIVE" and engine.gate_open
        async with s.post(base + "/kill") as r:
            doc = await r.json()
            assert r.status == 200 and doc["ok"] and doc["halted"], doc  # the verdict: the core has halted
        assert not engine.gate_open
        assert engine.core.snapshot().trading_state == "HALTED"

    await _with_engine(app_config, state_dir, body)
    mode = stat.S_IMODE((state_dir / "api_token").stat().st_mode)
    assert mode == 0o600


async def test_a_web_page_cannot_reach_the_api(app_config: AppConfig, state_dir: Path) -> None:
    """DNS rebinding (a foreign Host) and cross-origin requests and WebSockets are refused, with the token too."""

    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        async with s.get(base + "/snapshot", headers={"Host": "attacker.example:8764"}) as r:
            assert r.status == 421
        for origin in ("http://attacker.example", "null", "http://127.0.0.1:1"):
            async with s.get(base + "/status", headers={"Origin": origin}) as r:
                assert r.status == 403, origin
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(base + "/stream", headers={"Origin": "http://attacker.example"})
        assert err.value.status == 403
        async with s.post(base + "/kill", headers={"Origin": "http://attacker.example"}) as r:
            assert r.status == 403
        assert engine.gate_open and engine.core.snapshot().trading_state == "ACTIVE"
        own = "http://" + engine.config.runtime.api_addr
        async with s.get(base + "/status", headers={"Origin": own}) as r:
            assert r.status == 200

    await _with_engine(app_config, state_dir, body)


async def test_commands_answer_the_engines_verdict(app_config: AppConfig, state_dir: Path) -> None:
    """A command the queue cannot take is 503 "not sent"; a kill is never queued, so a full queue cannot drop it."""
    from bot4.core.records import CMD_PAUSE

    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        async with s.post(base + "/pause") as r:
            doc = await r.json()
            assert r.status == 200 and doc["result"] == "ok"
        assert engine.core.snapshot().paused
        async with s.post(base + "/rearm", json={"confirmation": 5}) as r:
            assert r.status == 422 and (await r.json())["result"] == "rearm_not_halted"
        ring = engine.core.parts.commands
        sync, owner = engine.core.state.sync, 4 * 8  # W_OWNER: a stalled step (someone else holds it)
        free = int(sync[owner])
        sync[owner] = 99
        try:
            while ring.send(CMD_PAUSE) > 0:
                pass
            async with s.post(base + "/resume") as r:
                doc = await r.json()
                assert r.status == 503 and "not sent" in doc["error"]
            async with s.post(
                base + "/orders", json={"symbol": "BTC/USDT", "side": "buy", "size": 1, "stop_px": 1}
            ) as r:
                assert r.status == 503
            async with s.post(base + "/kill") as r:
                doc = await r.json()
                assert r.status == 202 and not doc["halted"]  # the truth: the gate is shut, the core has not answered
            assert not engine.gate_open
        finally:
            sync[owner] = free
        engine.core.notify()
        for _ in range(200):
            if engine.core.snapshot().trading_state == "HALTED":
                break
            await asyncio.sleep(0.01)
        assert engine.core.snapshot().trading_state == "HALTED"  # the kill the full queue could not have held

    await _with_engine(app_config, state_dir, body)


async def test_bad_bodies_and_limits(app_config: AppConfig, state_dir: Path) -> None:
    # the replay trades meanwhile: no loss-streak cool-down, whose reason would come before the missing stop's
    risk = replace(app_config.core.risk, loss_streak_max=10**6)
    app_config = replace(app_config, core=replace(app_config.core, risk=risk))

    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        auth = {"Authorization": f"Bearer {token}"}
        cases = [
            (b"{not json", 422, "not valid JSON"),
            (b"[1, 2]", 422, "JSON object"),
            (b'{"confirmation": 1, "extra": 2}', 422, "unknown field 'extra'"),
            (b"{}", 422, "missing field 'confirmation'"),
            (b'{"confirmation": "1"}', 422, "must be an integer"),
            (b'{"confirmation": null}', 422, "must be an integer"),
            (b'{"confirmation": 123456789012345678901234567890}', 422, "confirmation"),
            (b'{"confirmation": 9007199254740993}', 422, "out of range"),
            (b'{"confirmation": 1e400}', 422, ""),
        ]
        for payload, status, msg in cases:
            async with s.post(base + "/rearm", data=payload, headers=auth) as r:
                assert r.status == status
                assert msg in (await r.json())["error"]
        async with s.post(base + "/orders", data=b"x" * 20_000, headers=auth) as r:
            assert r.status == 413
        # a manual order goes through the same risk checks: no stop -> refused with its reason (once the core has a
        # price for the symbol: before the replay's first BTC tick the refusal is no_market_price)
        for _ in range(200):
            if any(p.symbol == "BTC/USDT" and p.last_px > 0 for p in engine.core.snapshot().positions()):
                break
            await asyncio.sleep(0.05)
        order = {"symbol": "BTC/USDT", "side": "buy", "size": 2.0, "stop_px": 0}  # more than any open short: an entry
        async with s.post(base + "/orders", json=order, headers=auth) as r:
            assert r.status == 422 and (await r.json())["result"] == "stop_missing"
        async with s.post(base + "/orders", json={**order, "symbol": "DOGE/USDT"}, headers=auth) as r:
            assert r.status == 422 and "unknown symbol" in (await r.json())["error"]
        for bad in ({"size": None}, {"size": -1}, {"stop_px": None}, {"price": None}, {"size": 2**70}):
            async with s.post(base + "/orders", json={**order, **bad}, headers=auth) as r:
                assert r.status == 422, (bad, await r.text())
        async with s.post(base + "/rearm", json={"confirmation": 5}, headers=auth) as r:
            assert r.status == 422 and (await r.json())["result"] == "rearm_not_halted"

    await _with_engine(app_config, state_dir, body)


async def test_stream_sends_snapshots(app_config: AppConfig, state_dir: Path) -> None:
    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        async with s.ws_connect(base + "/stream") as ws:
            first = await ws.receive_json(timeout=5)
            second = await ws.receive_json(timeout=5)
            assert first["trading_state"] == "ACTIVE" and second["ts"] > first["ts"]
        # stream clients are capped: past the cap a client is told so, and the ones in keep their stream
        from bot4.runtime.api import MAX_STREAMS

        held = [await s.ws_connect(base + "/stream") for _ in range(MAX_STREAMS)]
        try:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(base + "/stream")
            assert err.value.status == 503
            assert (await held[0].receive_json(timeout=5))["trading_state"] == "ACTIVE"
        finally:
            for ws in held:
                await ws.close()

    await _with_engine(app_config, state_dir, body)


def test_non_loopback_bind_without_env_token_is_refused(app_config: AppConfig, tmp_path: Path) -> None:
    token, from_env = load_token(tmp_path, env={})
    with pytest.raises(ApiError, match="non-loopback"):
        ControlApi(object(), "0.0.0.0", 8764, token, from_env)  # type: ignore[arg-type]
    env_token, from_env = load_token(tmp_path, env={"BOT4_API_TOKEN": "s3cret-token-value"})
    assert env_token == "s3cret-token-value" and from_env
    ControlApi(object(), "0.0.0.0", 8764, env_token, from_env)  # type: ignore[arg-type]


async def test_snapshot_carries_open_orders_market_prints_and_limits(app_config: AppConfig, state_dir: Path) -> None:
    risk = replace(app_config.core.risk, loss_streak_max=10**6, max_var_frac=0.04)
    app_config = replace(app_config, core=replace(app_config.core, risk=risk))

    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        for _ in range(200):
            btc = next(p for p in engine.core.snapshot().positions() if p.symbol == "BTC/USDT")
            if btc.last_px > 0:
                break
            await asyncio.sleep(0.05)
        # a resting buy 3 % under the market (inside the 5 % band): it works at the paper venue until cancelled
        limit = round(btc.last_px * 0.97, 2)
        order = {"symbol": "BTC/USDT", "side": "buy", "size": 0.01, "stop_px": round(limit * 0.99, 2), "price": limit}
        async with s.post(base + "/orders", json=order, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status in (200, 202), await r.text()
        working = []
        for _ in range(100):
            async with s.get(base + "/snapshot") as r:
                doc = await r.json()
            working = [o for o in doc["recent"]["open"] if o["type"] == "limit" and o["symbol"] == "BTC/USDT"]
            if working:
                break
            await asyncio.sleep(0.05)
        assert working and working[0]["price"] == pytest.approx(limit) and working[0]["filled"] == 0.0
        assert doc["limits"]["var_frac"] == 0.04 and doc["limits"]["drawdown_halt"] == 0.15
        prints = doc["recent"]["trades"]["BTC/USDT"]
        assert prints and all(p["price"] > 0 and p["size"] > 0 and p["side"] in ("buy", "sell") for p in prints)
        assert [p["ts_exch_ns"] for p in prints] == sorted(p["ts_exch_ns"] for p in prints)
        engine.core.cancel(int(working[0]["coid"]))
        for _ in range(100):
            async with s.get(base + "/snapshot") as r:
                doc = await r.json()
            if not any(o["coid"] == working[0]["coid"] for o in doc["recent"]["open"]):
                break
            await asyncio.sleep(0.05)
        assert not any(o["coid"] == working[0]["coid"] for o in doc["recent"]["open"]), "a cancelled order stays open"

    await _with_engine(app_config, state_dir, body)


async def test_a_connection_flood_does_not_keep_the_kill_out(app_config: AppConfig, state_dir: Path) -> None:
    """Hundreds of connections that never finish their headers: the API stays answerable and the kill goes through."""
    from bot4.runtime.api import MAX_CONNECTIONS

    async def body(engine, s, base, token):  # type: ignore[no-untyped-def]
        host, port = engine.config.runtime.api_addr.split(":")
        conns = []
        for _ in range(MAX_CONNECTIONS + 100):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            conns.append((reader, writer))
        await asyncio.sleep(0.1)
        try:
            async with s.get(base + "/status", timeout=aiohttp.ClientTimeout(total=5)) as r:
                assert r.status == 200
            async with s.post(base + "/kill", timeout=aiohttp.ClientTimeout(total=5)) as r:
                assert r.status == 200 and (await r.json())["halted"]
            for reader, _w in conns:
                await asyncio.wait_for(reader.read(), 10)  # the API drops every one of them (cap or header deadline)
            assert all(reader.at_eof() for reader, _w in conns)
        finally:
            for _r, w in conns:
                w.close()

    await _with_engine(app_config, state_dir, body)
