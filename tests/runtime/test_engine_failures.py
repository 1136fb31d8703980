"""A part of the engine that fails stops the whole engine with a clear log line and a non-zero exit code."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.runtime.config import AppConfig
from bot4.runtime.engine import Engine


async def test_a_failing_feed_stops_the_engine(app_config: AppConfig, state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = replace(app_config, runtime=replace(app_config.runtime, api_addr=""))
    engine = Engine(cfg, state_dir)

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("venue exploded")

    engine.feed.lockstep.run = broken  # type: ignore[attr-defined,method-assign]
    with caplog.at_level(logging.ERROR, logger="bot4"):
        code = await asyncio.wait_for(engine.run(), timeout=60)
    assert code == 1
    assert "feed: RuntimeError: venue exploded" in engine.failed
    assert any(getattr(r, "event", "") == "task_failed" for r in caplog.records)


async def test_periodic_tasks_on_the_grid_wake_together() -> None:
    """The feed (10 ms) and the watchers (50 ms) sleep to the next multiple of their period: every watcher wake-up
    falls on a feed wake-up, so the engine's thread wakes 100 times a second rather than 120."""
    from bot4.runtime.grid import sleep_on_grid

    loop = asyncio.get_running_loop()
    woke: dict[float, list[float]] = {0.01: [], 0.05: []}

    async def every(period: float) -> None:
        while True:
            await sleep_on_grid(period)
            woke[period].append(loop.time())

    tasks = [asyncio.create_task(every(p)) for p in woke]
    await asyncio.sleep(0.6)
    for t in tasks:
        t.cancel()
    assert len(woke[0.05]) >= 5 and len(woke[0.01]) >= 25
    for w in woke[0.05]:
        assert abs(round(w / 0.05) * 0.05 - w) < 0.005  # on its grid
        assert min(abs(w - f) for f in woke[0.01]) < 0.001  # in the same loop iteration as a feed wake-up
