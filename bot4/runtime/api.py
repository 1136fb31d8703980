"""The control API: status, snapshots (and a 10 Hz WebSocket stream), and the commands, over HTTP on loopback.

Reads (``GET /status``, ``GET /snapshot``, ``GET /stream``) are open to whoever can reach the port (loopback by
default); anything that changes state (``POST /kill``, ``/rearm``, ``/pause``, ``/resume``, ``/orders``) needs
``Authorization: Bearer <token>``, compared in constant time. The token comes from ``BOT4_API_TOKEN`` or is generated
at first start into ``<state_dir>/api_token`` (mode 0600). Binding a non-loopback address without a token from the
environment is refused. Bodies are JSON objects with known fields only, at most 16 KiB.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from bot4.logs import event
from bot4.runtime.engine import Engine

log = logging.getLogger("bot4.api")

MAX_BODY_BYTES = 16 * 1024
STREAM_HZ = 10.0


class ApiError(RuntimeError):
    """The API cannot start as configured."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(state_dir: Path, env: dict[str, str] | None = None) -> tuple[str, bool]:
    """(token, came_from_environment)."""
    env = dict(os.environ) if env is None else env
    if env.get("BOT4_API_TOKEN"):
        return env["BOT4_API_TOKEN"], True
    path = state_dir / "api_token"
    if path.exists():
        return path.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, False


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def snapshot_doc(engine: Engine) -> dict[str, Any]:
    """Everything a remote UI shows, as plain JSON values."""
    snap = engine.core.snapshot()
    act = engine.activity()
    hist = {}
    for name in ("decision", "risk_check", "tick_to_order", "order_to_ack"):
        h = snap.stats.histogram(name)
        hist[name] = {
            "count": h.count,
            **{f"p{str(p).replace('.', '_')}": _clean(h.percentile(p)) for p in (50.0, 95.0, 99.0, 99.9)},
        }
    return {
        "ts": time.time(),
        "trading_state": snap.trading_state,
        "halt_seq": snap.halt_seq,
        "rearm_wait_s": snap.rearm_wait_s,
        "paused": snap.paused,
        "gate_open": engine.gate_open,
        "equity": snap.equity,
        "peak_equity": snap.peak_equity,
        "drawdown": snap.drawdown,
        "realized": snap.realized,
        "fees": snap.fees,
        "gross_exposure": snap.gross_exposure,
        "var": snap.var,
        "open_orders": snap.open_orders,
        "trades": snap.trades,
        "loss_streak": snap.loss_streak,
        "blocks": [list(b) for b in snap.blocks()],
        "last_command": {"seq": snap.last_command[0], "kind": snap.last_command[1], "result": snap.last_command[2]},
        "positions": [{k: _clean(v) for k, v in p.__dict__.items()} for p in snap.positions()],
        "breakers": [b.__dict__ for b in snap.breakers()],
        "rings": [r.__dict__ for r in snap.rings_view()],
        "pool": dict(zip(("in_use", "high_water", "capacity", "overflows"), snap.pool_usage, strict=True)),
        "counters": snap.stats.counters(),
        "rejects": snap.stats.rejects_by_reason(),
        "latency_ns": hist,
        "correlation": [[_clean(float(c)) for c in row] for row in snap.corr],
        "symbols": list(engine.symbols),
        "recent": {
            "orders": [{k: _clean(v) for k, v in o.items()} for o in act["orders"]],  # type: ignore[attr-defined]
            "open": [{k: _clean(v) for k, v in o.items()} for o in act["open"]],  # type: ignore[attr-defined]
            "fills": act["fills"],
            "rejects": [{k: _clean(v) for k, v in o.items()} for o in act["rejects"]],  # type: ignore[attr-defined]
            "transitions": act["transitions"],
            "trades": act["trades"],
        },
        "limits": act["limits"],
    }


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class ControlApi:
    def __init__(self, engine: Engine, host: str, port: int, token: str, token_from_env: bool) -> None:
        if not is_loopback(host) and not token_from_env:
            raise ApiError(
                f"refusing to bind the control API to non-loopback {host}:{port} without BOT4_API_TOKEN set: "
                "set a strong token in the environment, or bind 127.0.0.1"
            )
        self.engine = engine
        self.host, self.port = host, port
        self._token = token.encode()
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        self.app.add_routes(
            [
                web.get("/status", self.status),
                web.get("/snapshot", self.snapshot),
                web.get("/stream", self.stream),
                web.post("/kill", self.kill),
                web.post("/rearm", self.rearm),
                web.post("/pause", self.pause),
                web.post("/resume", self.resume),
                web.post("/orders", self.orders),
            ]
        )
        self.runner: web.AppRunner | None = None

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    async def _body(self, request: web.Request, allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()) -> dict[str, Any]:
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
        if not raw.strip():
            data: Any = {}
        else:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise web.HTTPBadRequest(reason="body is not valid JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(reason="body must be a JSON object")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise web.HTTPBadRequest(reason=f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed)) or 'none'}")
        for key in required:
            if key not in data:
                raise web.HTTPBadRequest(reason=f"missing field {key!r}")
        for key, value in data.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, allowed[key])):
                raise web.HTTPBadRequest(reason=f"field {key!r} has the wrong type")
        return data

    async def _guard(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            event(log, "api_unauthorized", logging.WARNING, path=request.path, remote=request.remote)
            return _error(401, "missing or wrong bearer token")
        return None

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.engine.status())

    async def snapshot(self, request: web.Request) -> web.Response:
        return _json(snapshot_doc(self.engine))

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=5.0)
        await ws.prepare(request)
        try:
            while not ws.closed:
                await ws.send_str(orjson.dumps(snapshot_doc(self.engine)).decode())
                try:
                    msg = await ws.receive(timeout=1.0 / STREAM_HZ)
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        break
                except TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return ws

    async def kill(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        gate_us = self.engine.kill("api")
        return _json({"ok": True, "gate_closed_us": gate_us})

    async def rearm(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        body = await self._body(request, {"confirmation": int}, ("confirmation",))
        seq = self.engine.core.rearm(body["confirmation"])
        return _json({"ok": seq > 0, "command_seq": seq}, 202)

    async def pause(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        return _json({"ok": True, "command_seq": self.engine.core.pause()}, 202)

    async def resume(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        return _json({"ok": True, "command_seq": self.engine.core.resume()}, 202)

    async def orders(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        num = (int, float)
        body = await self._body(
            request,
            {"symbol": str, "side": str, "size": num, "stop_px": num, "price": num, "take_profit_px": num},
            ("symbol", "side", "size", "stop_px"),
        )
        if body["symbol"] not in self.engine.symbols:
            return _error(400, f"unknown symbol {body['symbol']!r}; known: {', '.join(self.engine.symbols)}")
        if body["side"] not in ("buy", "sell"):
            return _error(400, "side must be 'buy' or 'sell'")
        seq = self.engine.core.manual_order(
            body["symbol"],
            1 if body["side"] == "buy" else -1,
            float(body["size"]),
            stop_px=float(body["stop_px"]),
            price=None if body.get("price") is None else float(body["price"]),
            take_profit_px=float(body.get("take_profit_px") or math.nan),
        )
        # the core answers within a few ms: wait for its verdict so the caller sees why an order was refused
        for _ in range(100):
            last_seq, _kind, result = self.engine.core.snapshot().last_command
            if last_seq >= seq:
                status = 200 if result == "ok" else 422
                return _json({"ok": result == "ok", "result": result, "command_seq": seq}, status)
            await asyncio.sleep(0.01)
        return _json({"ok": False, "result": "pending", "command_seq": seq}, 202)

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        event(log, "api_listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
