"""Attach mode: the UI shows a headless engine's snapshot stream and sends its commands to the control API.

``RemoteSource`` keeps one WebSocket to ``/stream`` open, reconnecting with exponential back-off (0.25 s doubling to
5 s) whenever it drops; while it is down the view says so (the banner turns DISCONNECTED and the figures are marked
stale), so a dead link never looks live. Commands go out as authenticated POSTs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Any

import aiohttp
import numpy as np
import orjson

from bot4.core import records
from bot4.core.records import STATE_NAMES
from bot4.core.runner import BreakerView, Position, RingView
from bot4.runtime.trades import Fill
from bot4.ui.source import strategy_line

log = logging.getLogger("bot4.remote")


class RemoteHistogram:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @property
    def count(self) -> int:
        return int(self.doc.get("count", 0))

    def percentile(self, pct: float) -> float:
        value = self.doc.get(f"p{str(float(pct)).replace('.', '_')}")
        return math.nan if value is None else float(value)

    def buckets(self) -> None:
        return None  # the stream carries percentiles, not buckets


class RemoteStats:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def counter(self, name: str) -> int:
        return int(self.doc.get("counters", {}).get(name, 0))

    def counters(self) -> dict[str, int]:
        return dict(self.doc.get("counters", {}))

    def histogram(self, name: str) -> RemoteHistogram:
        return RemoteHistogram(self.doc.get("latency_ns", {}).get(name, {}))

    def rejects_by_reason(self) -> dict[str, int]:
        return dict(self.doc.get("rejects", {}))


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


class RemoteSnapshot:
    """The same reading interface as :class:`bot4.core.runner.CoreSnapshot`, over a snapshot document."""

    def __init__(self, doc: dict[str, Any], received_s: float) -> None:
        self.doc = doc
        self.received_s = received_s
        self.stats = RemoteStats(doc)
        self.taken_ns = time.monotonic_ns()
        self.corr = np.array([[_f(c) for c in row] for row in doc.get("correlation", [])], dtype=float).reshape(
            len(doc.get("symbols", [])), -1
        )

    def __getattr__(self, name: str) -> Any:
        if name in ("equity", "peak_equity", "drawdown", "realized", "fees", "gross_exposure", "var", "rearm_wait_s"):
            return _f(self.doc.get(name))
        raise AttributeError(name)

    @property
    def trading_state(self) -> str:
        state = str(self.doc.get("trading_state", "HALTED"))
        return state if state in STATE_NAMES else "HALTED"

    @property
    def halt_seq(self) -> int:
        return int(self.doc.get("halt_seq", 0))

    @property
    def paused(self) -> bool:
        return bool(self.doc.get("paused", False))

    @property
    def open_orders(self) -> int:
        return int(self.doc.get("open_orders", 0))

    @property
    def trades(self) -> tuple[int, int, int]:
        t = self.doc.get("trades", [0, 0, 0])
        return int(t[0]), int(t[1]), int(t[2])

    @property
    def loss_streak(self) -> int:
        return int(self.doc.get("loss_streak", 0))

    def blocks(self) -> list[tuple[str, float]]:
        return [(str(name), float(left)) for name, left in self.doc.get("blocks", [])]

    @property
    def last_command(self) -> tuple[int, int, str]:
        c = self.doc.get("last_command", {})
        return int(c.get("seq", 0)), int(c.get("kind", 0)), str(c.get("result", "ok"))

    def book_levels(self, symbol: str) -> dict[str, list[list[float]]]:
        """``symbol``'s best L2 levels as the engine published them (empty lists: no depth in its feed)."""
        return self.doc.get("book", {}).get(symbol) or {"bids": [], "asks": []}

    def positions(self) -> list[Position]:
        return [
            Position(
                **{  # type: ignore[arg-type]
                    k: p[k] if k == "symbol" else bool(p[k]) if k == "manual" else _f(p[k])
                    for k in Position.__dataclass_fields__
                    if k in p
                }
            )
            for p in self.doc.get("positions", [])
        ]

    def breakers(self) -> list[BreakerView]:
        out = []
        for b in self.doc.get("breakers", []):
            # remote monotonic clocks differ: show time in state as reported relative to now
            out.append(
                BreakerView(
                    b["name"], b["state"], 0, float(b["error_rate"]), int(b["last_latency_ns"]), int(b["last_cause"])
                )
            )
        return out

    def rings_view(self) -> list[RingView]:
        return [
            RingView(r["name"], int(r["depth"]), int(r["capacity"]), int(r["high_water"]), int(r["refused"]))
            for r in self.doc.get("rings", [])
        ]

    @property
    def pool_usage(self) -> tuple[int, int, int, int]:
        p = self.doc.get("pool", {})
        return (
            int(p.get("in_use", 0)),
            int(p.get("high_water", 0)),
            int(p.get("capacity", 1)),
            int(p.get("overflows", 0)),
        )


class RemoteSource:
    """A headless engine reached over its control API."""

    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise ValueError(f"--connect {url!r}: expected an http(s):// URL of a bot4 control API")
        self.token = token
        self.doc: dict[str, Any] | None = None
        self.received_s = 0.0
        self.connected = False
        self.prices: dict[str, deque[tuple[float, float]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.failures = 0

    @property
    def name(self) -> str:
        """Where the screen's figures come from: the engine's venue (never assumed to be paper) and its address."""
        venue = (self.doc or {}).get("venue")
        return f"attached · {venue} · {self.base}" if venue else f"attached · {self.base}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.doc.get("symbols", [])) if self.doc else ()

    async def start(self, first_doc_timeout: float = 15.0) -> None:
        """Connect and wait for the first snapshot (a clear error if the engine cannot be reached at all)."""
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run())
        deadline = time.monotonic() + first_doc_timeout
        while self.doc is None:
            if time.monotonic() > deadline:
                await self.close()
                raise ConnectionError(f"no bot4 engine answered at {self.base}/stream within {first_doc_timeout:g} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        assert self._session is not None
        backoff = 0.25
        ws_url = self.base.replace("http", "ws", 1) + "/stream"
        while True:
            try:
                async with self._session.ws_connect(ws_url, heartbeat=5.0, headers=self._auth) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        self.doc = orjson.loads(msg.data)
                        self.received_s = time.monotonic()
                        self.connected = True
                        backoff = 0.25
                        wall = time.time()
                        for p in self.doc.get("positions", []):
                            if p.get("last_px") is not None:
                                history = self.prices.setdefault(p["symbol"], deque(maxlen=600))
                                if not history or wall - history[-1][0] >= 0.25:  # the engine samples every 0.25 s
                                    history.append((wall, float(p["last_px"])))
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.connected = False
            self.failures += 1
            await asyncio.sleep(backoff)
            backoff = min(5.0, backoff * 2)

    def snapshot(self) -> RemoteSnapshot:
        if self.doc is None:
            raise ConnectionError("not connected yet")
        if time.monotonic() - self.received_s > 2.0:
            self.connected = False  # a stream that stopped talking is down, whatever the socket says
        return RemoteSnapshot(self.doc, self.received_s)

    def activity(self, selected: str) -> dict[str, object]:
        doc = self.doc or {}
        recent = doc.get("recent", {})
        return {
            "orders": recent.get("orders", []),
            "open": recent.get("open", []),
            "fills": recent.get("fills", []),
            "rejects": recent.get("rejects", []),
            "transitions": recent.get("transitions", []),
            "trades": recent.get("trades", {}),
            "prices": list(self.prices.get(selected, [])),
            "limits": doc.get("limits", {}),
            "gate_open": bool(doc.get("gate_open", True)),
        }

    def _post(self, path: str, body: dict[str, Any] | None = None) -> bool:
        """Send a command; False, and nothing sent, while the link to the engine is down (the caller says so)."""
        if not self.connected or self._session is None:
            log.warning("remote %s not sent: not connected to %s", path, self.base)
            return False

        async def send() -> None:
            assert self._session is not None
            try:
                async with self._session.post(self.base + path, json=body or {}, headers=self._auth) as r:
                    if r.status >= 400:
                        log.warning("remote %s refused: %s %s", path, r.status, await r.text())
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("remote %s failed: %s", path, exc)

        asyncio.get_running_loop().create_task(send())
        return True

    def kill(self) -> bool:
        return self._post("/kill")

    def rearm(self, confirmation: int) -> bool:
        return self._post("/rearm", {"confirmation": confirmation})

    def pause(self) -> bool:
        return self._post("/pause")

    def resume(self) -> bool:
        return self._post("/resume")

    def cancel(self, client_order_id: int) -> bool:
        return self._post("/cancel", {"coid": client_order_id})

    def trade_fills(self) -> tuple[list[Fill], bool]:
        """The fills the stream has shown lately, and False: the full history is in the engine's journal."""
        doc = self.doc or {}
        fills = []
        for f in doc.get("recent", {}).get("fills", []):
            if f.get("price") is None:
                continue
            ts = f.get("ts_exch") or f.get("ts") or 0.0
            flags = {"stop": records.FLAG_STOP_EXIT, "kill": records.FLAG_KILL, "manual": records.FLAG_MANUAL}
            fills.append(
                Fill(
                    int(float(ts) * 1e9),
                    str(f["symbol"]),
                    records.SIDE_BUY if f["side"] == "buy" else records.SIDE_SELL,
                    float(f["price"]),
                    float(f["size"]),
                    float(f.get("fee") or 0.0),
                    int(f.get("coid") or 0),
                    flags.get(str(f.get("exit", "")), 0),
                )
            )
        return fills, False

    def strategies(self) -> list[str]:
        """What runs with which settings, as the engine's stream says (one line per strategy)."""
        info = self.strategy_info()
        risk = info.get("risk_per_trade_frac")
        return [strategy_line(s, risk) for s in info.get("strategies", [])]

    def strategy_info(self) -> dict[str, Any]:
        """The engine's strategies and what each symbol's strategy holds (bot4.runtime.strategyinfo), from the stream."""
        return dict((self.doc or {}).get("strategy", {}))

    def manual_order(self, symbol: str, side: int, size: float, stop_px: float, price: float | None) -> int:
        body: dict[str, Any] = {
            "symbol": symbol,
            "side": "buy" if side > 0 else "sell",
            "size": size,
            "stop_px": stop_px if stop_px == stop_px else 0,
        }
        if price is not None:
            body["price"] = price
        return 0 if self._post("/orders", body) else -1
