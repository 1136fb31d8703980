"""Cold start: from an empty compile cache to live market data in the core, and the same start again warm.

    python bench/bench_coldstart.py [--runs 1]
    python bench/run.py --only coldstart

Each start is a fresh interpreter (``python -m bench.bench_coldstart --child``) with ``XDG_CACHE_HOME`` pointed at a
temporary directory, so bot4's numba cache (``bot4.core``: keyed by the sources, under the cache home) starts empty;
the second start in the same directory finds every kernel cached. A start is timed from the interpreter's first
line to the core's first consumed tick of the built-in paper replay (the default config, as ``bot4-tui`` runs it):
imports, config, the engine's build (where the kernels compile or load), the replay feed and the core thread.
The goals (issue #21): cold within 60 s on 2 cores, warm under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Figure  # noqa: E402

T0 = time.perf_counter()  # the child's clock starts with the interpreter's first bot4 line


def child() -> None:
    """One start, timed; prints ``{"live_s": ..., "kernels": ...}``."""
    import asyncio
    from dataclasses import replace

    from numba.core import event as numba_event

    from bot4.runtime.config import load_config
    from bot4.runtime.engine import Engine

    class Count(numba_event.Listener):
        n = 0

        def on_start(self, event: numba_event.Event) -> None:
            pass

        def on_end(self, event: numba_event.Event) -> None:
            Count.n += 1

    async def start() -> float:
        cfg = load_config(None, env={})
        cfg = replace(cfg, runtime=replace(cfg.runtime, api_addr="", metrics_addr=""))
        with numba_event.install_listener("numba:compile", Count()):
            engine = Engine(cfg, Path(tempfile.mkdtemp(prefix="bot4-coldstart-")))
            runner = asyncio.create_task(engine.run())
            while engine.core.snapshot().stats.counter("ticks_in") == 0:
                if runner.done():
                    runner.result()  # an engine that failed to start: its error, not a hang
                await asyncio.sleep(0.005)
            live = time.perf_counter() - T0
        engine.request_stop()
        await runner
        return live

    live = asyncio.run(start())
    print(json.dumps({"live_s": live, "kernels": Count.n}))


def one_start(cache_home: str) -> dict[str, float]:
    env = dict(os.environ, XDG_CACHE_HOME=cache_home, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_coldstart", "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def figures(runs: int = 1) -> list[Figure]:
    cold, warm, kernels = [], [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bot4-cache-") as home:
            first = one_start(home)
            second = one_start(home)
        cold.append(first["live_s"])
        warm.append(second["live_s"])
        kernels = int(first["kernels"])
        print(
            f"# coldstart: cold {first['live_s']:.1f} s ({kernels} kernels), warm {second['live_s']:.2f} s "
            f"({int(second['kernels'])} compiled)",
            file=sys.stderr,
        )
    cold.sort()
    warm.sort()
    c, w = cold[len(cold) // 2], warm[len(warm) // 2]
    return [
        Figure("cold_start_s", c, "s", target="<= 60", note=f"empty cache to live data, {kernels} kernels compiled"),
        Figure(
            "warm_start_s", w, "s", target="< 2", baseline="cold_start_s", note="the same start, every kernel cached"
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """For bench/run.py: one cold and one warm start (not in --quick: a cold start is minutes of compiling)."""
    if quick:
        print("# coldstart: skipped in --quick (a cold compile takes minutes)", file=sys.stderr)
        return []
    return figures(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=1, help="cold + warm pairs (each in a new cache); the median")
    args = parser.parse_args()
    if args.child:
        child()
        return
    for f in figures(args.runs):
        print(f"{f.name:<16} {f.value:8.2f} {f.unit}  {f.target:<7} {f.note}")


if __name__ == "__main__":
    main()
