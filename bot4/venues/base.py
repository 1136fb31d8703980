"""What the engine needs of a venue: the paper exchange and the ccxt adapter are both one, and it cannot tell them apart.

Orders go in as records (``pump`` takes the core's order ring), execution reports come out as records (``reports``,
a ring the engine hands on to the core). A venue that is also the market feed (a real exchange's websockets) says
so with ``streams_market_data`` and runs :meth:`MarketStream.run_feed`; otherwise the engine replays recorded data
and shows each batch to the venue (``on_ticks``) after the core has decided on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import numpy as np

from bot4.core.ring import Ring

PushTicks = Callable[[np.ndarray, int], int]  # (ticks, count) -> how many the core took


class Venue(Protocol):
    name: str  # "paper", or the ccxt exchange id
    reports: Ring  # execution reports (FILL_DTYPE) for the core
    streams_market_data: bool  # True: the venue is the market feed too (run_feed)
    on_report: Callable[[], None] | None  # called when reports are waiting in ``reports`` (the engine's kick)
    recovers_orders: bool  # True: start() resolves the orders the journal left open, reporting what became of them

    def restore(self, positions: dict[int, tuple[float, float, float, float]], realized: float, fees: float) -> None:
        """Positions as the journal left them: symbol id -> (qty, average price, realized, fees)."""

    async def start(self, journal_open: list[dict[str, object]], instance: str = "") -> None:
        """Connect and reconcile with what the journal left open; raises ``VenueError`` when it cannot be used.
        ``instance``: the state dir's engine id, which prefixes the venue's client order ids."""

    async def holdings(self) -> dict[str, float] | None:
        """The account's holdings of each instrument's base asset as the venue reports them now; None when the venue
        is this process's own simulation (nothing to compare)."""

    def background(self, stopping: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """The loops the venue runs while the engine runs (sending, polling), named by their coroutine."""

    def pump(self, orders: Ring) -> int:
        """Take the orders (and cancels) waiting in ``orders``; how many."""

    def on_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Market events the venue matches against (a simulated venue); how many were applied."""

    def busy(self) -> bool:
        """Orders still on their way or of unknown outcome: stopping now would lose what happens to them."""

    def stats(self) -> dict[str, int]:
        """Counters for the views (accepted, rejected, fills, ...)."""

    async def close(self) -> None:
        """Release connections; nothing is sent after this."""


class MarketStream(Protocol):
    async def run_feed(self, stopping: asyncio.Event, push: PushTicks) -> None:
        """Stream market data into ``push`` until ``stopping`` is set, reconnecting on errors."""
