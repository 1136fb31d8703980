"""Periodic work that wakes together: sleeping to the next multiple of a period on the event loop's clock."""

from __future__ import annotations

import asyncio


async def sleep_on_grid(period_s: float) -> None:
    """Sleep until the next multiple of ``period_s`` on the event loop's clock.

    Periodic tasks that sleep this way wake together when their periods are multiples of each other (the loop runs
    every handle that is due in one iteration): measured here, each wake-up of the engine's thread costs far more
    CPU than the work it does (a cold interpreter), so wake-ups are what to save.
    """
    now = asyncio.get_running_loop().time()
    await asyncio.sleep(period_s - now % period_s)
