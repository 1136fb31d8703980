"""Market data into the core: recorded data replayed on a clock, or the venue's own live streams.

:class:`ReplayFeed` releases recorded ticks in batches paced at ``replay.speed`` (0 = as fast as possible) onto the
engine's grid, through the core and the paper venue in lockstep. :class:`StreamFeed` runs a live venue's
websockets. Both keep each symbol's last market prints for the views and count what they delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from bot4.core.records import TICK_DTYPE, TICK_TRADE
from bot4.core.runner import Core
from bot4.logs import event
from bot4.runtime.config import ReplayConfig
from bot4.runtime.grid import sleep_on_grid
from bot4.venues.base import MarketStream
from bot4.venues.lockstep import Lockstep

log = logging.getLogger("bot4.feed")

PRINTS = 20  # market trades kept per symbol for the views
BATCH = 8192  # ticks per push at most



class Prints:
    """Each symbol's last PRINTS market trades, kept as records on the feed's path and turned into values only when
    a view asks (the market pane's "last trades")."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self._book = {s: np.zeros(PRINTS, TICK_DTYPE) for s in symbols}
        self._n = dict.fromkeys(symbols, 0)

    def note(self, ticks: np.ndarray) -> None:
        is_trade = ticks["kind"] == TICK_TRADE
        ids = ticks["symbol_id"]
        for s, sym in enumerate(self.symbols):
            mine = np.flatnonzero(is_trade & (ids == s))[-PRINTS:]
            k = len(mine)
            if k:
                book = self._book[sym]
                book[: PRINTS - k] = book[k:]  # the older ones move up, the new ones go last
                book[PRINTS - k :] = ticks[mine]
                self._n[sym] = min(PRINTS, self._n[sym] + k)

    def of(self, symbol: str) -> list[dict[str, object]]:
        """``symbol``'s last market trades, oldest first: exchange time, price, size, aggressor side."""
        return [
            {
                "ts_exch_ns": int(t["ts_exch_ns"]),
                "price": float(t["price"]),
                "size": float(t["size"]),
                "side": "buy" if t["side"] > 0 else "sell" if t["side"] < 0 else "",
            }
            for t in self._book[symbol][PRINTS - self._n[symbol] :]
        ]


class Feed(ABC):
    """What both feeds share: the core they push into, the prints, and the counts the views and watchdogs read."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.prints = Prints(core.symbols)
        self.done = asyncio.Event()  # set when a finite replay has delivered everything
        self.ticks_sent = 0
        self.last_tick_s = time.monotonic()

    def _push(self, ticks: np.ndarray, count: int) -> int:
        pushed = self.core.push_ticks(ticks, 0, count)  # orders they cause wake the execution loop (output_fd)
        if pushed:
            self.prints.note(ticks[:pushed])
            self.ticks_sent += pushed
            self.last_tick_s = time.monotonic()
        return pushed

    @abstractmethod
    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver market data until ``stopping`` is set (or a finite replay ends: :attr:`done`)."""


class StreamFeed(Feed):
    """A live venue's trades and best bid/ask, as they come."""

    def __init__(self, core: Core, stream: MarketStream) -> None:
        super().__init__(core)
        self.stream = stream

    async def run(self, stopping: asyncio.Event) -> None:
        await self.stream.run_feed(stopping, self._push)


class ReplayFeed(Feed):
    """Recorded ticks through core and paper venue in lockstep (``bot4.venues.lockstep``), paced at ``config.speed``
    (0 = as fast as possible) in batches on the engine's grid.

    Each batch runs on a worker thread with the GIL released, holding the core's step; what the venue took and
    reported is journaled after it (``drain``). Market time decides every order and fill, so the same data and
    config give the same orders, fills and equity at any speed, and the same as a backtest.
    """

    def __init__(
        self, core: Core, ticks: np.ndarray, config: ReplayConfig, lockstep: Lockstep, drain: Callable[[], int]
    ) -> None:
        super().__init__(core)
        self.ticks = ticks
        self.config = config
        self.lockstep = lockstep
        self.drain = drain
        self.laps = 0

    def _run_batch(self, batch: np.ndarray, k: int) -> int:
        """The whole batch through the lockstep (ticks done: all of them, draining the taps when they fill)."""
        done = 0
        while done < k:
            step = self.lockstep.run(batch, done, k - done)
            if step == 0:
                return done  # the rings need the event loop (taps drained there): the caller comes back
            done += step
        return done

    async def run(self, stopping: asyncio.Event) -> None:
        ticks = self.ticks
        n = len(ticks)
        if n == 0:
            event(log, "feed_empty", logging.ERROR)
            self.done.set()
            return
        ts = ticks["ts_exch_ns"]
        span = int(ts[-1] - ts[0]) + 1_000_000_000
        speed = self.config.speed
        period = self.config.batch_ms / 1000.0  # config.ReplayConfig.batch_ms says what it trades
        pos = 0
        wall0 = time.monotonic_ns()
        data0 = int(ts[0])
        batch = np.zeros(BATCH, ticks.dtype)
        while not stopping.is_set():
            if speed > 0:
                due = data0 + int((time.monotonic_ns() - wall0) * speed) - self.laps * span
                end = min(int(np.searchsorted(ts, due, side="right")), pos + len(batch))
            else:
                end = min(n, pos + len(batch))
            if end > pos:
                k = end - pos
                batch[:k] = ticks[pos:end]
                if self.laps:
                    batch["ts_exch_ns"][:k] += self.laps * span
                done = await asyncio.to_thread(self._run_batch, batch, k)
                self.drain()
                if done:
                    self.prints.note(batch[:done])
                    self.ticks_sent += done
                    self.last_tick_s = time.monotonic()
                pos += done
            if pos >= n:
                if not self.config.loop:
                    event(log, "feed_finished", ticks=self.ticks_sent)
                    self.done.set()
                    return
                self.laps += 1
                pos = 0
            if speed > 0:
                await sleep_on_grid(period)
            else:
                await asyncio.sleep(0)
