"""The kill through the control API, idle and under a crowd of stream clients: ``python -m bench.kill_api``.

A paper engine runs with its API on loopback (in this process, as ``bot4-tui --headless`` runs it). Each round
``POST /kill`` is timed from the request to the answer that says the core has HALTED (the API waits for the core's
verdict), then the engine is re-armed (cool-down 0). Once with no other client, once while 100 WebSocket clients ask
for ``/stream`` (the API admits ``MAX_STREAMS`` of them and refuses the rest). Prints p50/p99 in ms and the ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot4.compose import serve  # noqa: E402
from bot4.runtime.api import MAX_STREAMS  # noqa: E402
from bot4.runtime.config import load_config  # noqa: E402
from bot4.runtime.engine import Engine  # noqa: E402
from tests.runtime.conftest import free_port  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def rounds(engine: Engine, s: aiohttp.ClientSession, base: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with s.post(base + "/kill") as r:
            doc = await r.json()
        out.append((time.perf_counter() - t0) * 1e3)
        assert doc["halted"], doc
        async with s.post(base + "/rearm", json={"confirmation": engine.core.snapshot().halt_seq}) as r:
            assert r.status == 200, await r.text()
        await asyncio.sleep(0.02)
    return out


async def crowd(base: str, token: str, n: int, stop: asyncio.Event) -> tuple[int, int]:
    admitted = refused = 0
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
    sockets = []
    for _ in range(n):
        try:
            sockets.append(await session.ws_connect(base + "/stream"))
            admitted += 1
        except aiohttp.WSServerHandshakeError:
            refused += 1

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        while not stop.is_set() and not ws.closed:
            await ws.receive(timeout=5)

    tasks = [asyncio.create_task(read(ws)) for ws in sockets]
    await stop.wait()
    for t in tasks:
        t.cancel()
    for ws in sockets:
        await ws.close()
    await session.close()
    return admitted, refused


async def main(n: int = 50) -> None:
    cfg = load_config(None, env={})
    cfg = replace(
        cfg,
        core=replace(cfg.core, risk=replace(cfg.core.risk, rearm_cooldown_s=0.0)),
        runtime=replace(cfg.runtime, api_addr=f"127.0.0.1:{free_port()}", metrics_addr=""),
    )
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(cfg, Path(d))
        task = asyncio.create_task(serve(engine))
        base = "http://" + cfg.runtime.api_addr
        while not (Path(d) / "api_token").exists():
            await asyncio.sleep(0.05)
        token = (Path(d) / "api_token").read_text().strip()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            for _ in range(400):
                try:
                    async with s.get(base + "/status") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            await rounds(engine, s, base, 5)  # warm
            idle = await rounds(engine, s, base, n)
            stop = asyncio.Event()
            crowd_task = asyncio.create_task(crowd(base, token, 100, stop))
            await asyncio.sleep(2.0)
            busy = await rounds(engine, s, base, n)
            stop.set()
            admitted, refused = await crowd_task
        engine.request_stop()
        await task
    print(f"kill via API -> core HALTED (ms), {n} rounds each; stream clients asked 100, admitted {admitted} "
          f"(cap {MAX_STREAMS}), refused {refused}")
    print(f"  idle             p50 {statistics.median(idle):7.2f}  p99 {pct(idle, 99):7.2f}")
    print(f"  100 stream asks  p50 {statistics.median(busy):7.2f}  p99 {pct(busy, 99):7.2f}  "
          f"(p99 ratio to idle {pct(busy, 99) / pct(idle, 99):.2f}x)")


if __name__ == "__main__":
    asyncio.run(main())
