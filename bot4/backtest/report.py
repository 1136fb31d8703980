"""A finished backtest as a report: metrics, per-symbol table, exit reasons, trades and equity curve; written to a
directory (CSV and Parquet beside a ``summary.json``) and read back from one (:func:`load_report`, for the UI).

Files in a report directory:
- ``summary.json``: the metrics, the per-symbol rows, the exit-reason counts, the run's facts (symbols, span, ticks,
  config source, strategies);
- ``trades.csv`` / ``trades.parquet``: one row per trade (see ``trades.TRADE_DTYPE``, with readable names);
- ``equity.csv`` / ``equity.parquet``: the equity curve (``run.CURVE_DTYPE``);
- ``report.html`` with ``--html``: equity, drawdown and the trades on the price (``html.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot4.backtest.metrics import Metrics, compute_metrics
from bot4.backtest.run import CURVE_DTYPE, LaneResult
from bot4.backtest.trades import EXIT_OPEN, EXIT_REASON_NAMES, TRADE_DTYPE, build_trades, trade_table
from bot4.core.records import EXEC_FILL

SUMMARY = "summary.json"
TRADES = "trades"
EQUITY = "equity"
REPORTS_DIR = Path("backtests")  # where ``bot4 backtest`` writes without --out, relative to the working directory


@dataclass(frozen=True)
class SymbolRow:
    symbol: str
    trades: int  # closed trades
    win_rate: float | None
    net_pnl: float  # closed trades' net plus the open one's marked PnL
    fees: float
    avg_duration_s: float | None


@dataclass
class Report:
    """Everything a report shows; built from a run (:func:`make_report`) or read from its directory."""

    metrics: Metrics
    symbols: tuple[str, ...]
    per_symbol: list[SymbolRow]
    exit_reasons: dict[str, int]
    trades: np.ndarray  # TRADE_DTYPE
    curve: np.ndarray  # CURVE_DTYPE
    info: dict[str, Any] = field(default_factory=dict)  # ticks, span, config source, strategies, wall seconds


def make_report(result: LaneResult) -> Report:
    cfg = result.config
    symbols = cfg.core.symbols
    trades = build_trades(result.orders, result.reports, result.last_px, result.size_step, result.ts_end)
    metrics = compute_metrics(
        result.curve["ts_ns"],
        result.curve["equity"],
        trades,
        result.initial_equity,
        result.fees,
        result.ts_start,
        result.ts_end,
        result.bar_ns,
    )
    rows = []
    for s, name in enumerate(symbols):
        mine = trades[trades["symbol_id"] == s]
        closed = mine[mine["exit_reason"] != EXIT_OPEN]
        n = len(closed)
        rows.append(
            SymbolRow(
                name,
                n,
                float((closed["net"] > 0).sum()) / n if n else None,
                float(mine["net"].sum()),
                float(mine["fees"].sum()),
                float(((closed["ts_exit_ns"] - closed["ts_entry_ns"]) / 1e9).mean()) if n else None,
            )
        )
    reasons = Counter(EXIT_REASON_NAMES[int(r)] for r in trades["exit_reason"])
    info = {
        "config": cfg.source,
        "strategies": [asdict(s) for s in cfg.core.strategies],
        "ticks": result.ticks,
        "ts_start_ns": result.ts_start,
        "ts_end_ns": result.ts_end,
        "orders": int(len(result.orders)),
        "fills": int((result.reports["kind"] == EXEC_FILL).sum()),
        "trading_state": result.trading_state,
        "wall_s": result.seconds,
        "realized": result.realized,
    }
    return Report(metrics, symbols, rows, dict(sorted(reasons.items())), trades, result.curve, info)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``report`` into directory ``out`` (created); the files written."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "metrics": {k: _jsonable(v) for k, v in report.metrics.as_dict().items()},
        "symbols": list(report.symbols),
        "per_symbol": [{k: _jsonable(v) for k, v in asdict(r).items()} for r in report.per_symbol],
        "exit_reasons": report.exit_reasons,
        "info": report.info,
    }
    written = [out / SUMMARY]
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, default=_jsonable))
    tables = {
        TRADES: trade_table(report.trades, report.symbols),
        EQUITY: {n: report.curve[n] for n in CURVE_DTYPE.names or ()},
    }
    for name, cols in tables.items():
        written.append(_write_csv(out / f"{name}.csv", cols))
        written.append(_write_parquet(out / f"{name}.parquet", cols))
    return written


def _write_csv(path: Path, cols: dict[str, np.ndarray]) -> Path:
    names = list(cols)
    n = len(next(iter(cols.values()))) if cols else 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for i in range(n):
            w.writerow([_cell(cols[c][i]) for c in names])
    return path


def _cell(v: Any) -> Any:
    if isinstance(v, np.floating | float):
        return repr(float(v))
    if isinstance(v, np.generic):
        return v.item()
    return v


def _write_parquet(path: Path, cols: dict[str, np.ndarray]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: (v.tolist() if v.dtype == object else v) for k, v in cols.items()})
    pq.write_table(table, path)
    return path


def new_report_dir(now: dt.datetime | None = None) -> Path:
    """The directory ``bot4 backtest`` writes to without ``--out``: ``backtests/<UTC time>`` (names sort by time)."""
    return REPORTS_DIR / (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")


def report_dirs(root: Path = REPORTS_DIR) -> list[Path]:
    """The directories under ``root`` (the reports ``bot4 backtest`` wrote), newest first by when their summary was
    written (a directory without one, by its own time: it is listed, and opening it says what is missing)."""
    if not root.is_dir():
        raise ValueError(f"no backtest reports: {root.resolve()} is not a directory (bot4 backtest writes them there)")

    def written(d: Path) -> float:
        summary = d / SUMMARY
        return (summary if summary.is_file() else d).stat().st_mtime

    return sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: (written(d), d.name), reverse=True)


INFO_KEYS = ("config", "ticks", "ts_start_ns", "ts_end_ns", "orders", "fills", "trading_state")  # what a report shows


def load_report(directory: str | Path) -> Report:
    """Read a report directory written by :func:`write_report` (the UI's way in: no plotly, no core run). A directory
    that is missing, incomplete or damaged raises ValueError saying which file and what is wrong with it."""
    d = Path(directory)
    try:
        summary = json.loads((d / SUMMARY).read_text())
    except FileNotFoundError:
        raise ValueError(f"{d} is not a backtest report directory (no {SUMMARY})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{d / SUMMARY}: not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{d / SUMMARY}: cannot be read ({exc})") from None
    for name in (f"{TRADES}.csv", f"{EQUITY}.csv"):
        if not (d / name).is_file():
            raise ValueError(f"{d / name}: missing from the report directory")
    try:
        symbols = tuple(summary["symbols"])
        metrics = Metrics(**summary["metrics"])
        rows = [SymbolRow(**r) for r in summary["per_symbol"]]
        info = dict(summary["info"])
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            raise KeyError(", ".join(missing))
        reasons = dict(summary["exit_reasons"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{d / SUMMARY}: not a report summary bot4 writes ({type(exc).__name__}: {exc})") from None
    trades = _read_table(d / f"{TRADES}.csv", lambda rows: _read_trades(rows, symbols))
    curve = _read_table(d / f"{EQUITY}.csv", _read_curve)
    return Report(metrics, symbols, rows, reasons, trades, curve, info)


def _read_table(path: Path, parse: Callable[[list[dict[str, str]]], np.ndarray]) -> np.ndarray:
    try:
        with open(path, newline="") as fh:
            return parse(list(csv.DictReader(fh)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a table bot4 writes ({type(exc).__name__}: {exc})") from None


def _read_trades(rows: list[dict[str, str]], symbols: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(rows), TRADE_DTYPE)
    for i, r in enumerate(rows):
        out[i] = (
            symbols.index(r["symbol"]),
            1 if r["side"] == "long" else -1,
            EXIT_REASON_NAMES.index(r["exit_reason"]),
            int(r["entry_time_ns"]),
            int(r["exit_time_ns"]),
            float(r["entry_px"]),
            float(r["exit_px"]),
            float(r["size"]),
            float(r["gross"]),
            float(r["fees"]),
            float(r["net"]),
            int(r["entry_order"]),
            int(r["exit_order"]),
        )
    return out


def _read_curve(rows: list[dict[str, str]]) -> np.ndarray:
    out = np.zeros(len(rows), CURVE_DTYPE)
    for i, r in enumerate(rows):
        out[i] = tuple(int(r[n]) if n == "ts_ns" else float(r[n]) for n in CURVE_DTYPE.names or ())
    return out
