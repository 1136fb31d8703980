"""Run every benchmark: ``python bench/run.py [--quick] [--json PATH] [--only NAME ...]``.

Each ``bench/bench_*.py`` module exposes ``run(quick) -> list[Figure]``. Figures are medians over repeated runs;
each hot-path figure names a baseline measured in the same run, and the table shows the ratio between them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Figure, cpu_model, cpus, load_average  # noqa: E402


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))


def versions() -> dict[str, str]:
    import numba
    import numpy

    import bot4

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "bot4": bot4.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": str(len(os.sched_getaffinity(0))),
    }


def ratio(fig: Figure, by_name: dict[str, Figure]) -> float | None:
    """How many times better than its baseline (>1 means faster)."""
    base = by_name.get(fig.baseline)
    if base is None or base.value == 0 or fig.value == 0:
        return None
    return fig.value / base.value if fig.higher_is_better else base.value / fig.value


def fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.2f} M"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 2 minutes in all)")
    parser.add_argument("--json", type=Path, help="write {figures, versions, details} here")
    parser.add_argument("--only", nargs="*", help=f"benchmarks to run (default all: {', '.join(discover())})")
    args = parser.parse_args(argv)

    names = args.only or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {discover()}")
    load_start = load_average()
    figures: list[Figure] = []
    timings: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        module = importlib.import_module(f"bench.bench_{name}")
        figures.extend(module.run(args.quick))
        timings[name] = round(time.perf_counter() - start, 2)
        print(f"# {name}: {timings[name]} s", file=sys.stderr)

    by_name = {f.name: f for f in figures}
    print(f"{'figure':44} {'value':>14} {'unit':6} {'target':>14} {'ratio vs baseline':>18}")
    for f in figures:
        r = ratio(f, by_name)
        rtxt = f"{r:,.1f}x" if r is not None else ""
        print(f"{f.name:44} {fmt(f.value):>14} {f.unit:6} {f.target:>14} {rtxt:>18}")
    if args.json:
        doc = {
            "figures": {f.name: f.value for f in figures},
            "versions": versions(),
            "machine": {
                "cpu_model": cpu_model(),
                "cpus": cpus(),
                "load_start": load_start,
                "load_end": load_average(),
            },
            "details": {
                f.name: {
                    "unit": f.unit,
                    "target": f.target,
                    "baseline": f.baseline,
                    "ratio": ratio(f, by_name),
                    "higher_is_better": f.higher_is_better,
                    "note": f.note,
                    "best": f.best,
                }
                for f in figures
            },
            "seconds": timings,
            "quick": args.quick,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
