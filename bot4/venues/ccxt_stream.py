"""A live venue's market data: trades and best bid/ask through ccxt.pro's websockets, as tick records.

Each stream reconnects after any error with exponential back-off (with jitter); every message or error is an
outcome for the feed's circuit breaker, which judges the data but never drops it: once OPEN (errors, or silence past
``stale_after_s``) it waits its open timeout, then the next messages are its probes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from bot4.core.instruments import Instruments
from bot4.core.records import SIDE_BUY, SIDE_SELL, TICK_BBO, TICK_DTYPE, TICK_TRADE
from bot4.logs import event
from bot4.venues.base import PushTicks
from bot4.venues.ccxt_client import LiveStats, backoff_delays
from bot4.venues.live_config import LiveConfig

log = logging.getLogger("bot4.live")


class CcxtStream:
    """The exchange's trades and best bid/ask for every instrument, pushed into the core as ticks."""

    def __init__(
        self,
        client: Any,
        config: LiveConfig,
        instruments: Instruments,
        outcome: Callable[[bool, int], None],
        stats: LiveStats,
    ) -> None:
        self.client = client
        self.config = config
        self.instruments = instruments
        self.symbols = instruments.symbols
        self.outcome = outcome  # (ok, latency ns) for the feed's breaker
        self.stats_ = stats
        self.tick_seq = 0
        self._ticks = np.zeros(1024, TICK_DTYPE)

    async def run_feed(self, stopping: asyncio.Event, push: PushTicks) -> None:
        """Trades and best bid/ask for every instrument, pushed as tick records; reconnects with back-off."""
        await asyncio.gather(
            self._stream("trades", lambda: self.client.watch_trades_for_symbols(list(self.symbols)), self._trade_ticks, stopping, push),
            self._stream("bids_asks", lambda: self.client.watch_bids_asks(list(self.symbols)), self._bbo_ticks, stopping, push),
        )

    async def _stream(
        self,
        name: str,
        watch: Callable[[], Awaitable[Any]],
        convert: Callable[[Any], int],
        stopping: asyncio.Event,
        push: PushTicks,
    ) -> None:
        delays = backoff_delays(self.config.reconnect_min_s, self.config.reconnect_max_s)
        while not stopping.is_set():
            t0 = time.monotonic_ns()
            try:
                data = await watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any stream error: count it, back off, reconnect
                self.outcome(False, time.monotonic_ns() - t0)
                self.stats_.reconnects += 1
                wait = next(delays)
                event(log, "stream_error", logging.WARNING, stream=name, error=type(exc).__name__, retry_in_s=round(wait, 3))
                await asyncio.sleep(wait)
                continue
            delays = backoff_delays(self.config.reconnect_min_s, self.config.reconnect_max_s)
            self.outcome(True, 0)
            n = convert(data)
            self.stats_.stream_messages += 1
            done = 0
            while done < n:
                done += push(self._ticks[done:n], n - done)
                if done < n:
                    await asyncio.sleep(0.001)  # the md ring is full: the core is behind, wait for room

    def _next_seq(self) -> int:
        self.tick_seq += 1
        return self.tick_seq

    def _trade_ticks(self, trades: list[dict[str, Any]]) -> int:
        buf = self._ticks
        n = 0
        now = time.time_ns()
        for tr in trades[-len(buf):]:
            sym = tr.get("symbol")
            if sym not in self.instruments.ids:
                continue
            t = buf[n]
            t["ts_exch_ns"] = int(tr["timestamp"]) * 1_000_000 if tr.get("timestamp") else now
            t["ts_in_ns"] = 0
            t["seq"] = self._next_seq()
            t["symbol_id"] = self.instruments.ids[sym]
            t["kind"] = TICK_TRADE
            t["side"] = SIDE_BUY if tr.get("side") == "buy" else SIDE_SELL
            t["price"] = float(tr["price"])
            t["size"] = float(tr["amount"])
            t["bid_px"] = t["ask_px"] = math.nan
            t["bid_sz"] = t["ask_sz"] = 0.0
            n += 1
        return n

    def _bbo_ticks(self, tickers: dict[str, dict[str, Any]]) -> int:
        buf = self._ticks
        n = 0
        now = time.time_ns()
        for sym, tk in list(tickers.items())[: len(buf)]:
            if sym not in self.instruments.ids or tk.get("bid") is None or tk.get("ask") is None:
                continue
            t = buf[n]
            t["ts_exch_ns"] = int(tk["timestamp"]) * 1_000_000 if tk.get("timestamp") else now
            t["ts_in_ns"] = 0
            t["seq"] = self._next_seq()
            t["symbol_id"] = self.instruments.ids[sym]
            t["kind"] = TICK_BBO
            t["side"] = 0
            t["bid_px"], t["bid_sz"] = float(tk["bid"]), float(tk.get("bidVolume") or 0.0)
            t["ask_px"], t["ask_sz"] = float(tk["ask"]), float(tk.get("askVolume") or 0.0)
            t["price"] = (t["bid_px"] + t["ask_px"]) / 2
            t["size"] = 0.0
            n += 1
        return n
