"""``bot4 sweep``: many parameter sets over the same data (a grid or an Optuna search), ranked by a metric, on every
local core or on a Dask.distributed cluster, optionally walk-forward."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from bot4.commands.backtest import Progress, add_data_args, load_inputs

SHOWN = ("net_pnl", "sharpe", "max_drawdown", "trades", "win_rate", "fees")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sweep",
        help="backtest many parameter sets (grid or Optuna) on every core or a Dask cluster, ranked by a metric",
        description="Each parameter set is a full backtest (the live core, paper venue and risk checks). A "
        "parameter is a config key: fast_period means strategy.fast_period; risk.KEY and strategies[i].KEY work "
        "too. Invalid sets (slow_period <= fast_period, say) are skipped and counted.",
    )
    add_data_args(p)
    p.add_argument(
        "--grid",
        required=True,
        metavar="SPEC",
        help='e.g. "fast_period=10:200:10,slow_period=100:700:50" (START:STOP:STEP inclusive, or A|B|C)',
    )
    p.add_argument(
        "--optuna",
        type=int,
        default=0,
        metavar="N",
        help="search with Optuna (TPE) for N trials within the grid's ranges instead of running it all",
    )
    p.add_argument(
        "--metric",
        default="sharpe",
        help="rank by: sharpe (default), sortino, calmar, net_pnl, "
        "total_return, cagr, profit_factor, expectancy, win_rate, max_drawdown, fees, trades",
    )
    p.add_argument(
        "--walk-forward",
        type=int,
        default=0,
        metavar="K",
        help="K rolling folds: K + 1 equal segments, pick on one, report on the next",
    )
    p.add_argument(
        "--oos",
        type=float,
        default=0.0,
        metavar="FRAC",
        help="one out-of-sample split: pick on the first 1 - FRAC of the span, report on the rest",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local processes (default: every core; 0 = this process); with --scheduler local, workers",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run on Dask.distributed: tcp://HOST:8786, or 'local' for a LocalCluster started here",
    )
    p.add_argument("--lanes", type=int, default=4, metavar="L", help="parameter sets per work unit (one walk)")
    p.add_argument("--seed", type=int, default=0, help="Optuna sampler seed")
    p.add_argument("--top", type=int, default=10, help="rows shown")
    p.add_argument("--out", metavar="DIR", help="write sweep.csv, sweep.parquet and sweep.json there")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot4.core.config import ConfigError

    try:
        return _run(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"bot4 sweep: {exc}", file=sys.stderr)
        return 2


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}"
    return str(v)


def table(rows: list[dict[str, Any]], keys: list[str], metric: str, top: int) -> list[str]:
    cols = [
        "#",
        *[k.split(".", 1)[1] if k.startswith("strategy.") else k for k in keys],
        metric,
        *[c for c in SHOWN if c != metric],
    ]
    fields = [*keys, metric, *[c for c in SHOWN if c != metric]]
    body = [[str(i + 1), *[_fmt(r.get(f)) for f in fields]] for i, r in enumerate(rows[:top])]
    widths = [max(len(c), *(len(b[j]) for b in body)) if body else len(c) for j, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return lines


def _run(args: argparse.Namespace) -> int:
    from bot4.backtest.data import with_data
    from bot4.backtest.driver import SweepSpec, run_sweep
    from bot4.backtest.executors import make_executor
    from bot4.backtest.metrics import RANKABLE
    from bot4.backtest.sweep import parse_grid
    from bot4.runtime.config import load_config

    if args.metric not in RANKABLE:
        raise ValueError(f"--metric {args.metric!r}: one of {', '.join(RANKABLE)}")
    if args.walk_forward < 0 or args.walk_forward > 50:
        raise ValueError(f"--walk-forward {args.walk_forward}: between 0 and 50")
    if not 0.0 <= args.oos < 1.0:
        raise ValueError(f"--oos {args.oos}: a fraction between 0 and 1")
    if args.walk_forward and args.oos:
        raise ValueError("--walk-forward and --oos: choose one")
    if args.optuna < 0 or args.lanes < 1 or (args.workers is not None and args.workers < 0):
        raise ValueError("--optuna, --lanes and --workers must not be negative (--lanes at least 1)")
    axes = parse_grid(args.grid)
    config, ticks, bar_ns = load_inputs(args)

    def make_config(overrides: Any) -> Any:
        return with_data(load_config(args.config, overrides=overrides), args.data)

    make_config({})  # the base config itself must be valid
    ts = ticks["ts_exch_ns"]
    spec = SweepSpec(
        axes,
        make_config,
        int(ts[0]),
        int(ts[-1]),
        args.metric,
        args.lanes,
        bar_ns,
        args.walk_forward,
        args.oos,
        args.optuna,
        args.seed,
    )
    progress = Progress("sweep")
    with make_executor(args.workers, args.scheduler) as ex:
        result = run_sweep(spec, ex, progress)
    progress.done(f"{result.units} units on {result.executor}")
    valid = result.combinations - result.invalid
    print(
        f"sweep: {result.combinations} parameter sets, {valid} run, {result.invalid} skipped as invalid; "
        f"{len(result.segments)} segment(s), {result.units} work units, {result.seconds:.2f} s on {result.executor}"
    )
    if result.invalid:
        print(f"  first skipped: {result.first_error}")
    keys = result.keys
    if result.folds:
        print(f"\nwalk-forward by {args.metric}: best in-sample set per fold, and how it did out of sample")
        for f in result.folds:
            oos = f["out_of_sample"] or {}
            ps = ", ".join(f"{k.removeprefix('strategy.')}={v}" for k, v in f["params"].items())
            print(
                f"  fold {f['fold']}: {ps}  in-sample {args.metric} {_fmt(f['in_sample'].get(args.metric))}, "
                f"net {_fmt(f['in_sample'].get('net_pnl'))}  |  out-of-sample {args.metric} "
                f"{_fmt(oos.get(args.metric))}, net {_fmt(oos.get('net_pnl'))}"
            )
        total = sum((f["out_of_sample"] or {}).get("net_pnl") or 0.0 for f in result.folds)
        print(f"  out-of-sample net PnL over the folds: {total:,.2f}")
    print(f"\nranked by {args.metric}" + (" (first segment)" if len(result.segments) > 1 else "") + ":")
    for line in table(result.best(args.metric), keys, args.metric, args.top):
        print("  " + line)
    if args.out:
        _write(Path(args.out), result)
        print(f"\nresults: {args.out}/ (sweep.csv, sweep.parquet, sweep.json)")
    return 0


def _write(out: Path, result: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    rows = result.rows
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r if k not in names)
    with open(out / "sweep.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), out / "sweep.parquet")
    (out / "sweep.json").write_text(
        json.dumps(
            {
                "keys": result.keys,
                "segments": result.segments,
                "combinations": result.combinations,
                "invalid": result.invalid,
                "units": result.units,
                "seconds": result.seconds,
                "executor": result.executor,
                "folds": result.folds,
            },
            indent=2,
            default=str,
        )
    )
