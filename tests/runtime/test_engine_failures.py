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

    engine.venue.on_ticks = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="bot4"):
        code = await asyncio.wait_for(engine.run(), timeout=60)
    assert code == 1
    assert "feed: RuntimeError: venue exploded" in engine.failed
    assert any(getattr(r, "event", "") == "task_failed" for r in caplog.records)
