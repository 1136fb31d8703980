"""Sweeps: bot4 against vectorbt on a 100-combination EMA grid, sweep scaling over 1 and 2 processes, and what a
Dask LocalCluster costs per task.

    python bench/bench_sweep.py [--ticks 1000000] [--vbt-python /work/venv-vbt/bin/python]
    python bench/run.py --only sweep

The data: the BTC/USDT trades of the shipped capture (``bot4/data``), repeated to 1,000,000 ticks with shifted
timestamps, exactly as ``bench_nautilus.py`` uses them. The strategy on both sides: EMAs of the trade price (seeded
with the first price, alpha = 2 / (n + 1)), fast 10..100 by 10 x slow 200..650 by 50 = 100 combinations; each change
of side after ``slow`` prices flips the position with market orders acted on at the next tick (close, then open
ORDER_NOTIONAL_USD the other way, floored to the 0.00001 BTC step), taker fee 0.05 %, start equity 100,000.

- bot4: ``bot4.backtest`` sweep (the full core: strategy, sizing, every pre-trade check, the paper venue; with the
  trade list and metrics of every combination), in one process, then on 2 local processes. Risk settings that would
  otherwise refuse orders a plain vectorised backtest takes are opened (order rate, the loss-streak pause; stops at
  the 50 % maximum so they never fire); every check still runs.
- vectorbt (optional: ``pip install vectorbt``, in its own venv when its pins clash; ``--vbt-python`` names that
  interpreter): ``bench/vbt_side.py``, the averages with ``vbt.MA.run(ewm=True)`` and the orders through
  ``Portfolio.from_orders`` on its numba engine, one process.

Compared per combination: order count and total fees (identical, or the difference is printed). Timed: each side's
whole sweep after a warm-up (data loading outside the clock on both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_nautilus import trade_ticks  # noqa: E402
from bench.common import Figure  # noqa: E402
from bot4.backtest.driver import SweepSpec, run_sweep  # noqa: E402
from bot4.backtest.executors import DaskExecutor, Executor, LocalExecutor  # noqa: E402
from bot4.backtest.run import run_lanes  # noqa: E402
from bot4.backtest.sweep import Axis, WorkUnit, run_unit  # noqa: E402
from bot4.core.config import CoreConfig, InstrumentConfig, RiskConfig, StrategyConfig  # noqa: E402
from bot4.runtime.config import AppConfig  # noqa: E402
from bot4.venues.paper import PaperConfig  # noqa: E402

FAST = tuple(range(10, 101, 10))
SLOW = tuple(range(200, 651, 50))
NOTIONAL, FEE, STEP, EQUITY = 1_000.0, 0.0005, 0.00001, 100_000.0
DEFAULT_VBT_PYTHON = "/work/venv-vbt/bin/python"


def make_config(params: dict[str, int]) -> AppConfig:
    core = CoreConfig(
        instruments=(InstrumentConfig("BTC/USDT", size_step=STEP, price_tick=0.01, min_size=STEP),),
        strategies=(
            StrategyConfig(
                kind="ema_cross",
                fast_period=params["strategy.fast_period"],
                slow_period=params["strategy.slow_period"],
                stop_frac=0.5,
            ),
        ),
        risk=RiskConfig(
            initial_equity_usd=EQUITY,
            max_order_notional_usd=NOTIONAL,
            loss_streak_cooldown_s=0.0,
            max_orders_per_s=1e6,
            order_burst=1_000_000,
        ),
    )
    return AppConfig(core=core, paper=PaperConfig(maker_fee=FEE, taker_fee=FEE, latency_ms=0.0))


class FixedTicks:
    """Puts the benchmark's ticks in the sweep loader's per-process cache (forked workers inherit it)."""

    def __init__(self, ticks: np.ndarray) -> None:
        from bot4.backtest import data

        cfg = make_config({"strategy.fast_period": 10, "strategy.slow_period": 200})
        ts = ticks["ts_exch_ns"]
        self.span = (int(ts[0]), int(ts[-1]))
        a, b = self.span
        data._CACHE[(cfg.core.symbols, cfg.replay.files, a, b + 1)] = ticks


def bot4_sweep(ticks: np.ndarray, workers: int, lanes: int) -> tuple[float, dict[tuple[int, int], dict]]:
    span = FixedTicks(ticks).span
    axes = [
        Axis("strategy.fast_period", FAST, FAST[0], FAST[-1], 10),
        Axis("strategy.slow_period", SLOW, SLOW[0], SLOW[-1], 50),
    ]
    spec = SweepSpec(axes, make_config, span[0], span[1], "net_pnl", lanes)
    ex = Executor() if workers == 0 else LocalExecutor(workers)
    with ex:
        if workers:  # each process loads the compiled kernels once: do that outside the clock
            list(
                ex.run(
                    [
                        WorkUnit(
                            -1 - i,
                            0,
                            span[0],
                            span[1] + 1,
                            (make_config({"strategy.fast_period": 10, "strategy.slow_period": 200}),),
                            ({},),
                        )
                        for i in range(workers)
                    ]
                )
            )
        start = time.perf_counter()
        res = run_sweep(spec, ex)
        seconds = time.perf_counter() - start
    rows = {(r["strategy.fast_period"], r["strategy.slow_period"]): r for r in res.rows}
    return seconds, rows


def vbt_python(arg: str | None) -> str | None:
    """An interpreter that can import vectorbt: the one given, this one, or the bench's venv."""
    for cand in ([arg] if arg else []) + [sys.executable, DEFAULT_VBT_PYTHON]:
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import vectorbt"], capture_output=True).returncode == 0
            if ok:
                return cand
    return None


def vbt_sweep(python: str, ticks: np.ndarray) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bot4-vbt-"))
    try:
        np.save(tmp / "prices.npy", ticks["price"])
        combos = [(f, s) for f in FAST for s in SLOW]
        (tmp / "grid.json").write_text(
            json.dumps({"combos": combos, "fee": FEE, "notional": NOTIONAL, "step": STEP, "equity": EQUITY})
        )
        subprocess.run(
            [
                python,
                str(ROOT / "bench" / "vbt_side.py"),
                str(tmp / "prices.npy"),
                str(tmp / "grid.json"),
                str(tmp / "out.json"),
            ],
            check=True,
        )
        return json.loads((tmp / "out.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cluster_overhead(tasks: int = 40) -> tuple[float, float]:
    """(seconds per task on a 2-process LocalCluster beyond the same tasks' work, the tasks' mean work seconds): tiny
    units (2,000 real ticks each) in this process, then on the cluster."""
    from bot4.backtest.data import with_data

    data = ROOT / "tests" / "data"
    files = [f"BTC/USDT={data / 'binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.first1000.csv'}"]
    cfg = with_data(make_config({"strategy.fast_period": 5, "strategy.slow_period": 20}), files)
    units = [WorkUnit(i, 0, None, None, (cfg,), ({"i": i},)) for i in range(tasks)]
    run_unit(units[0])
    start = time.perf_counter()
    for u in units:
        run_unit(u)
    inline = time.perf_counter() - start
    with DaskExecutor("local", 2) as ex:
        list(ex.run(units[:4]))  # workers import bot4 and load the kernels
        start = time.perf_counter()
        list(ex.run(units))
        on_cluster = time.perf_counter() - start
    return (on_cluster * 2 - inline) / tasks, inline / tasks


def compare(ours: dict[tuple[int, int], dict], theirs: dict) -> tuple[int, int, list[str]]:
    same_orders = same_fees = 0
    notes = []
    for r in theirs["rows"]:
        mine = ours[(r["fast"], r["slow"])]
        o_ok = mine["filled_orders"] == r["orders"]  # vectorbt's orders are fills; bot4 may hold one the data ends on
        f_ok = abs(mine["fees"] - r["fees"]) <= 1e-6 * max(1.0, r["fees"])
        same_orders += o_ok
        same_fees += f_ok
        if not (o_ok and f_ok):
            notes.append(
                f"  {r['fast']}/{r['slow']}: bot4 {mine['orders']} orders, fees {mine['fees']:.6f}; "
                f"vectorbt {r['orders']} orders, fees {r['fees']:.6f}"
            )
    return same_orders, same_fees, notes


def lanes_figures(n_ticks: int, lanes: int = 4, rounds: int = 5) -> list[Figure]:
    """Lanes in one compiled pass (``run_lanes`` of ``lanes`` parameter sets) against the same sets run one pass
    each, same ticks, rounds interleaved; medians. Ticks/s counts every lane's ticks."""
    ticks = trade_ticks(n_ticks)
    configs = [make_config({"strategy.fast_period": f, "strategy.slow_period": 300}) for f in FAST[:lanes]]
    run_lanes(configs, ticks[:20_000])  # compiled or loaded outside the clock, both ways
    for c in configs:
        run_lanes([c], ticks[:20_000])
    together, apart = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        one_pass = run_lanes(configs, ticks)
        together.append(time.perf_counter() - start)
        start = time.perf_counter()
        each = [run_lanes([c], ticks)[0] for c in configs]
        apart.append(time.perf_counter() - start)
    assert [len(r.orders) for r in one_pass] == [len(r.orders) for r in each]
    total = lanes * n_ticks
    t1, t2 = statistics.median(together), statistics.median(apart)
    return [
        Figure(
            "sweep_lanes_separate_ticks_per_s",
            total / t2,
            "ticks/s",
            higher_is_better=True,
            note=f"{lanes} EMA parameter sets, one pass each over {n_ticks:,} real ticks (full core, venue, risk)",
        ),
        Figure(
            "sweep_lanes_ticks_per_s",
            total / t1,
            "ticks/s",
            baseline="sweep_lanes_separate_ticks_per_s",
            higher_is_better=True,
            note=f"the same {lanes} sets walked together in one compiled pass, bar by bar",
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """For bench/run.py: lanes against separate passes; the sweep scaling and cluster figures and vectorbt when it is
    available (not in --quick: minutes of work)."""
    if quick:
        print("# sweep: only the lanes figure in --quick (the sweeps are minutes of work)", file=sys.stderr)
        return lanes_figures(500_000, lanes=4, rounds=5)
    return lanes_figures(1_000_000, lanes=4, rounds=5) + figures(1_000_000, None, lanes=4)


def figures(n_ticks: int, vbt_arg: str | None, lanes: int) -> list[Figure]:
    ticks = trade_ticks(n_ticks)
    combos = len(FAST) * len(SLOW)
    t1, ours = bot4_sweep(ticks, 0, lanes)
    t2, ours2 = bot4_sweep(ticks, 2, lanes)
    assert all(ours[k]["fees"] == ours2[k]["fees"] and ours[k]["orders"] == ours2[k]["orders"] for k in ours)
    unfilled = sum(r["orders"] - r["filled_orders"] for r in ours.values())
    print(f"bot4: {sum(r['orders'] for r in ours.values())} orders, {unfilled} of them decided too late to fill")
    per_task, work = cluster_overhead()
    out = [
        Figure("sweep_1proc_s", t1, "s", note=f"{combos} combos x {n_ticks:,} ticks, lanes {lanes}"),
        Figure("sweep_2proc_s", t2, "s", baseline="sweep_1proc_s", note=f"speed-up {t1 / t2:.2f}x on 2 processes"),
        Figure(
            "localcluster_overhead_per_task_ms",
            per_task * 1e3,
            "ms",
            note=f"2-process LocalCluster, tasks of {work * 1e3:.1f} ms work",
        ),
    ]
    py = vbt_python(vbt_arg)
    if py is None:
        print(
            "# sweep vs vectorbt: skipped (vectorbt not installed: pip install vectorbt, or name its interpreter "
            "with --vbt-python)",
            file=sys.stderr,
        )
        return out
    theirs = vbt_sweep(py, ticks)
    same_o, same_f, notes = compare(ours, theirs)
    print(f"orders identical in {same_o}/{combos} combinations, fees in {same_f}/{combos}")
    for n in notes[:10]:
        print(n)
    tv = theirs["seconds"]
    out += [
        Figure("vectorbt_sweep_s", tv, "s", note=f"vectorbt {theirs['version']}, 1 process"),
        Figure(
            "sweep_vs_vectorbt_ratio",
            tv / t1,
            "x",
            ">= 1",
            higher_is_better=True,
            note=f"vectorbt s / bot4 s, both 1 process; orders same {same_o}/{combos}, fees {same_f}/{combos}",
        ),
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--vbt-python", default=os.environ.get("BOT4_VBT_PYTHON"))
    args = ap.parse_args(argv)
    for f in figures(args.ticks, args.vbt_python, args.lanes):
        print(f"{f.name:36} {f.value:12.3f} {f.unit:4} {f.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
