"""The local Binance-style exchange on a thread of its own, so the ``bot4 data`` commands (each runs its own event
loop) talk to it through the real ccxt client exactly as they would to an exchange."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot4.localexchange.server import LocalExchange


@dataclass
class Served:
    """A running local exchange: its REST base and streams base for ``--rest-url`` / ``--ws-url``."""

    exchange: LocalExchange
    loop: asyncio.AbstractEventLoop
    rest_url: str
    ws_url: str

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (its state belongs to that thread) and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)


def serve(**kw: Any) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        asyncio.set_event_loop(loop)
        ex = LocalExchange(api_key="k", secret="s", **kw)
        box["ex"] = ex
        box["url"] = loop.run_until_complete(ex.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(ex.stop())
        loop.close()

    thread = threading.Thread(target=main, name="local-exchange", daemon=True)
    thread.start()
    assert ready.wait(30), "the local exchange did not start"
    url = box["url"]
    try:
        yield Served(box["ex"], loop, url + "/api/v3", url.replace("http", "ws", 1) + "/stream/ws")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture(scope="module")
def history_exchange() -> Iterator[Served]:
    """A local exchange with a day of history (the recorded sample laid back over the day before its start)."""
    yield from serve(speed=10.0, history_s=86_400.0)


@pytest.fixture
def live_exchange() -> Iterator[Served]:
    """A local exchange replaying its sample at 10x real time (no history needed)."""
    yield from serve(speed=10.0, history_s=0.0)
