"""Run the workstation (or the bare engine) headless for the UI benchmarks; not a user-facing entry point.

usage: python bench/ui_probe.py (ui|engine) STATE_DIR SECONDS FIRST_FRAME_FILE
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot4.runtime.config import load_config  # noqa: E402
from bot4.runtime.engine import Engine  # noqa: E402
from bot4.ui.app import Bot4App  # noqa: E402
from bot4.ui.source import LocalSource  # noqa: E402


def write_marker(marker: Path) -> None:
    """The first-frame time, written whole (a rename): the benchmark polls for the file and reads it at once."""
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(str(time.monotonic()))
    tmp.rename(marker)


class ProbeApp(Bot4App):
    def __init__(self, *args, marker: Path, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.marker = marker

    def refresh_view(self, force: bool = False) -> None:
        first = self.first_frame_s is None
        super().refresh_view(force)
        if first and self.first_frame_s is not None:
            write_marker(self.marker)


async def main(mode: str, state_dir: Path, seconds: float, marker: Path) -> None:
    cfg = load_config(None, env={})
    cfg = replace(cfg, runtime=replace(cfg.runtime, api_addr="", metrics_addr=""))
    engine = Engine(cfg, state_dir)
    runner = asyncio.create_task(engine.run())
    try:
        if mode == "ui":
            app = ProbeApp(LocalSource(engine), run_for=seconds, marker=marker)
            await app.run_async(headless=True)
        else:
            write_marker(marker)
            await asyncio.sleep(seconds)
    finally:
        engine.request_stop()
        await runner


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])))
