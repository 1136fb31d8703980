"""The control API: status, snapshots (and a 10 Hz WebSocket stream), and the commands, over HTTP on loopback.

Every request needs ``Authorization: Bearer <token>``, compared in constant time (reads too, unless
``runtime.api_open_reads`` is set; then ``GET /status``, ``/snapshot`` and ``/stream`` are open to whoever can reach
the port). The token comes from ``BOT4_API_TOKEN`` or is generated at first start into ``<state_dir>/api_token``
(mode 0600). Binding a non-loopback address without a token from the environment is refused.

What a web page cannot do: on loopback the ``Host`` header must name loopback (a DNS-rebinding page's host is refused
with 421), and a request carrying an ``Origin`` that is not this API's own (any WebSocket a browser opens carries one)
is refused with 403. What a flood cannot do: connections are capped in total and per peer address, a connection must
finish its request's headers within ``HEADER_TIMEOUT_S`` and idles out after ``KEEPALIVE_S``, and stream clients are
capped; the snapshot streamed is built once per period for all of them. Bodies are JSON objects with known fields
only, at most 16 KiB; a body that fails validation is answered 422 with the reason.

Commands are answered with the engine's verdict: ``/kill`` says whether the core has halted (the kill is a flag the
core cannot miss; if it does not answer in time the execution side cancels at the venue itself), the others wait for
the core's result for that very command, and a command that could not be queued is ``503 not sent``.
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
MAX_CONNECTIONS = 128  # in total: the engine's own descriptors (journal, venue, data) must never run out
MAX_PER_PEER = 32  # per peer address
MAX_STREAMS = 16  # WebSocket stream clients
HEADER_TIMEOUT_S = 5.0  # a connection's first request must be in by then
KEEPALIVE_S = 5.0  # an idle kept-alive connection is closed after this
VERDICT_S = 1.0  # how long a command waits for the core's verdict
MAX_INT = 2**53  # the largest integer a JSON number carries exactly; beyond it a value is refused


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
        "book": {sym: levels for sym in engine.symbols if (levels := snap.book_levels(sym))["bids"] or levels["asks"]},
        "symbols": list(engine.symbols),
        "venue": engine.venue.name,
        "recent": {
            "orders": [{k: _clean(v) for k, v in o.items()} for o in act["orders"]],  # type: ignore[attr-defined]
            "open": [{k: _clean(v) for k, v in o.items()} for o in act["open"]],  # type: ignore[attr-defined]
            "fills": act["fills"],
            "rejects": [{k: _clean(v) for k, v in o.items()} for o in act["rejects"]],  # type: ignore[attr-defined]
            "transitions": act["transitions"],
            "trades": act["trades"],
        },
        "limits": act["limits"],
        "strategy": engine.strategy_info(),
    }


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string"}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class BodyError(ValueError):
    """A request body that fails validation (answered 422 with this message)."""


class _Door(asyncio.Protocol):
    """The first protocol of every connection: counts it against the caps, then hands the transport to aiohttp's
    handler, or closes it. A connection that has not sent a whole request's headers in time is closed."""

    def __init__(self, api: ControlApi) -> None:
        self.api = api

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        api = self.api
        api.connections = [t for t in api.connections if not t.is_closing()]
        host = _peer(transport)
        mine = [t for t in api.connections if _peer(t) == host]
        for crowd, cap in ((api.connections, MAX_CONNECTIONS), (mine, MAX_PER_PEER)):
            if len(crowd) >= cap and not api.make_room(crowd):
                api.refused_connections += 1
                transport.abort()  # type: ignore[attr-defined]
                return
        api.connections.append(transport)  # type: ignore[arg-type]
        handler = api.server_factory()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        asyncio.get_running_loop().call_later(HEADER_TIMEOUT_S, api.header_deadline, transport)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else "?"


class ControlApi:
    def __init__(
        self, engine: Engine, host: str, port: int, token: str, token_from_env: bool, open_reads: bool = False
    ) -> None:
        if not is_loopback(host) and not token_from_env:
            raise ApiError(
                f"refusing to bind the control API to non-loopback {host}:{port} without BOT4_API_TOKEN set: "
                "set a strong token in the environment, or bind 127.0.0.1"
            )
        if len(token.strip()) < 16:
            raise ApiError("the control API token is blank or shorter than 16 characters: set a strong BOT4_API_TOKEN")
        self.engine = engine
        self.host, self.port = host, port
        self._token = token.encode()
        self.open_reads = open_reads
        self.loopback = is_loopback(host)
        self.connections: list[asyncio.Transport] = []
        self.refused_connections = 0
        self.refused_streams = 0
        self.streams = 0
        self._served: set[int] = set()  # id() of transports whose first request arrived
        self._stream_doc: tuple[float, str] = (0.0, "")
        self.server_factory: Any = None
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors, self._gate])
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
                web.post("/cancel", self.cancel),
            ]
        )
        self.runner: web.AppRunner | None = None

    def make_room(self, crowd: list[asyncio.Transport]) -> bool:
        """At a cap: drop the oldest connection that has not sent a request yet (a flood's, not a client's that is
        being served), so that someone who sends a request gets in; False when every one is serving."""
        for t in crowd:
            if id(t) not in self._served and not t.is_closing():
                self.refused_connections += 1
                t.abort()
                self.connections = [c for c in self.connections if c is not t]
                crowd.remove(t)
                return True
        return False

    def header_deadline(self, transport: asyncio.Transport) -> None:
        if id(transport) not in self._served and not transport.is_closing():
            self.refused_connections += 1
            transport.abort()
        self._served.discard(id(transport))

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.transport is not None:
            self._served.add(id(request.transport))
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        except BodyError as exc:
            return _error(422, str(exc))
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except Exception as exc:  # noqa: BLE001 - never a traceback to the caller; the log has it
            log.exception("api_error", extra={"fields": {"path": request.path}})
            return _error(500, f"internal error: {type(exc).__name__}")

    def _host_ok(self, request: web.Request) -> bool:
        host = request.headers.get("Host", "")
        if host.startswith("["):
            name = host[1 : host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return is_loopback(name) or name == self.host

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        own = {f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]", self.host)}
        return origin in own

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.loopback and not self._host_ok(request):
            event(log, "api_bad_host", logging.WARNING, host=request.headers.get("Host", ""), remote=request.remote)
            return _error(421, "Host header does not name this loopback API")
        if not self._origin_ok(request):
            event(log, "api_bad_origin", logging.WARNING, origin=request.headers.get("Origin"), remote=request.remote)
            return _error(403, "cross-origin requests are refused")
        if request.method == "GET" and not self.open_reads and not self._authorized(request):
            event(log, "api_unauthorized", logging.WARNING, path=request.path, remote=request.remote)
            return _error(401, "missing or wrong bearer token")
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    async def _body(
        self, request: web.Request, allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
        if not raw.strip():
            data: Any = {}
        else:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BodyError("body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BodyError("body must be a JSON object")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise BodyError(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed)) or 'none'}")
        for key in required:
            if key not in data:
                raise BodyError(f"missing field {key!r}")
        for key, value in data.items():
            want = allowed[key]
            kinds = want if isinstance(want, tuple) else (want,)
            if value is None or isinstance(value, bool) or not isinstance(value, want):
                raise BodyError(f"field {key!r} must be {' or '.join(_KIND_NAMES.get(k, k.__name__) for k in kinds)}")
            if isinstance(value, int) and abs(value) > MAX_INT:
                raise BodyError(f"field {key!r} = {value} is out of range")
            if isinstance(value, float) and not math.isfinite(value):
                raise BodyError(f"field {key!r} must be a finite number")
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

    def _shared_doc(self) -> str:
        """The streamed snapshot, built once per period however many clients read it."""
        now = time.monotonic()
        ts, doc = self._stream_doc
        if now - ts >= 0.8 / STREAM_HZ or not doc:
            doc = orjson.dumps(snapshot_doc(self.engine)).decode()
            self._stream_doc = (now, doc)
        return doc

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if self.streams >= MAX_STREAMS:
            self.refused_streams += 1
            return _error(503, f"too many stream clients (at most {MAX_STREAMS})")
        ws = web.WebSocketResponse(heartbeat=5.0)
        await ws.prepare(request)
        self.streams += 1
        try:
            while not ws.closed:
                await ws.send_str(self._shared_doc())
                try:
                    msg = await ws.receive(timeout=1.0 / STREAM_HZ)
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        break
                except TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams -= 1
        return ws

    async def kill(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        gate_us = self.engine.kill("api")
        halted = await self.engine.kill_verdict(self.engine.last_kill, VERDICT_S)
        return _json(
            {
                "ok": True,
                "halted": halted,
                "result": "halted" if halted else "gate closed; the core has not answered, the venue is cancelled",
                "gate_closed_us": gate_us,
            },
            200 if halted else 202,
        )

    async def _verdict(self, seq: int) -> web.Response:
        """The core's answer to command ``seq`` (waited for, bounded); 503 when it was never queued."""
        if seq < 0:
            return _error(503, "not sent: the command queue is full; try again")
        end = time.monotonic() + VERDICT_S
        while time.monotonic() < end:
            last_seq, _kind, result = self.engine.core.snapshot().last_command
            if last_seq >= seq:
                result = self.engine.core.command_result(seq) or (result if last_seq == seq else "done")
                status = 200 if result == "ok" else 422
                return _json({"ok": result == "ok", "result": result, "command_seq": seq}, status)
            await asyncio.sleep(0.005)
        return _json({"ok": False, "result": "pending: queued, the core has not answered yet", "command_seq": seq}, 202)

    async def rearm(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        body = await self._body(request, {"confirmation": int}, ("confirmation",))
        return await self._verdict(self.engine.core.rearm(body["confirmation"]))

    async def pause(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        return await self._verdict(self.engine.core.pause())

    async def resume(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        await self._body(request, {})
        return await self._verdict(self.engine.core.resume())

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
            raise BodyError(f"unknown symbol {body['symbol']!r}; known: {', '.join(self.engine.symbols)}")
        if body["side"] not in ("buy", "sell"):
            raise BodyError("side must be 'buy' or 'sell'")
        if not body["size"] > 0:
            raise BodyError("size must be above 0")
        seq = self.engine.core.manual_order(
            body["symbol"],
            1 if body["side"] == "buy" else -1,
            float(body["size"]),
            stop_px=float(body["stop_px"]),
            price=None if body.get("price") is None else float(body["price"]),
            take_profit_px=float(body["take_profit_px"]) if "take_profit_px" in body else math.nan,
        )
        # the core answers within a few ms: wait for its verdict so the caller sees why an order was refused
        return await self._verdict(seq)

    async def cancel(self, request: web.Request) -> web.Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        body = await self._body(request, {"coid": int}, ("coid",))
        return await self._verdict(self.engine.core.cancel(body["coid"]))

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=KEEPALIVE_S, handle_signals=False)
        await self.runner.setup()
        self.server_factory = self.runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Door(self), self.host, self.port, reuse_address=True)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        event(log, "api_listening", host=self.host, port=self.port, open_reads=self.open_reads)

    async def stop(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.close()
            for t in self.connections:
                t.abort()
            await server.wait_closed()
        if self.runner is not None:
            await self.runner.cleanup()
