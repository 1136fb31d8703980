"""Parameter sweeps: a grid (or an Optuna search) of config overrides, each set a full backtest on the live core,
paper venue and risk checks, ranked by a metric; optionally walk-forward (rolling in-sample / out-of-sample).

- A parameter is a config key: ``fast_period`` means ``strategy.fast_period`` (every ``[[strategies]]`` table),
  ``strategies[1].window`` one table, ``risk.risk_per_trade_frac`` another section. Each set is validated by the
  config loader itself (``load_config(..., overrides=...)``), on the driver: an invalid set (``slow_period`` not above
  ``fast_period``, say) is skipped and counted, never sent.
- Work units: one data segment x a group of parameter sets (lanes), run in one walk over that segment's ticks on one
  worker (``run_unit``). The same units go to local processes or to Dask workers; each worker reads the data itself
  (the files named in the config, or the shipped sample) and keeps it for its next units. Results are small rows.
- Walk-forward ``K``: the span is cut into K + 1 equal segments; every set runs on every segment once; fold k picks
  the best set on segment k (in-sample) and reports it on segment k + 1 (out-of-sample). ``oos_frac``: one fold,
  the last fraction of the span out-of-sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot4.backtest.data import load_ticks
from bot4.backtest.metrics import RANKABLE, compute_metrics
from bot4.backtest.run import run_lanes
from bot4.backtest.trades import build_trades
from bot4.core.config import ConfigError
from bot4.core.records import EXEC_FILL
from bot4.runtime.config import AppConfig


@dataclass(frozen=True)
class Axis:
    """One swept key and its values (a ``start:stop:step`` range, inclusive, or ``a|b|c``)."""

    key: str  # full config key, e.g. strategy.fast_period
    values: tuple[int | float | str, ...]
    low: float | None = None  # a range's bounds and step (for Optuna); None for a list
    high: float | None = None
    step: float | None = None


def _number(text: str, where: str) -> int | float | str:
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return t  # a word (a strategy kind, say): the config loader judges it
    if not math.isfinite(v):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return v


def full_key(name: str) -> str:
    return name if "." in name else f"strategy.{name}"


def parse_grid(text: str) -> list[Axis]:
    """``"fast_period=10:200:10,slow_period=100:700:50"`` as axes; a clear ValueError naming the bad part."""
    axes: list[Axis] = []
    if not text or not text.strip():
        raise ValueError("--grid is empty: give KEY=START:STOP:STEP or KEY=A|B|C, comma-separated")
    for part in text.split(","):
        name, sep, spec = part.partition("=")
        name, spec = name.strip(), spec.strip()
        where = f"--grid {part.strip()!r}"
        if not sep or not name or not spec:
            raise ValueError(f"{where}: must be KEY=START:STOP:STEP or KEY=A|B|C")
        key = full_key(name)
        if any(a.key == key for a in axes):
            raise ValueError(f"{where}: {key} appears twice")
        if ":" in spec:
            bits = spec.split(":")
            if len(bits) != 3:
                raise ValueError(f"{where}: a range is START:STOP:STEP")
            lo, hi, st = (_number(b, where) for b in bits)
            if not all(isinstance(v, int | float) for v in (lo, hi, st)):
                raise ValueError(f"{where}: START, STOP and STEP must be numbers")
            if not st > 0 or hi < lo:  # type: ignore[operator]
                raise ValueError(f"{where}: needs STEP > 0 and STOP >= START")
            count = int(math.floor((hi - lo) / st + 1e-9)) + 1  # type: ignore[operator]
            if count > 100_000:
                raise ValueError(f"{where}: {count} values on one axis; use a larger step")
            if all(isinstance(v, int) for v in (lo, hi, st)):
                values: tuple[int | float | str, ...] = tuple(int(lo) + i * int(st) for i in range(count))
            else:
                values = tuple(round(float(lo) + i * float(st), 12) for i in range(count))
            axes.append(Axis(key, values, float(lo), float(hi), float(st)))
        else:
            axes.append(Axis(key, tuple(_number(b, where) for b in spec.split("|"))))
    return axes


def expand(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, in order."""
    keys = [a.key for a in axes]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]


@dataclass(frozen=True)
class WorkUnit:
    """One segment of the data x a few parameter sets, run in one walk on one worker."""

    unit_id: int
    segment: int
    ts_from: int | None
    ts_to: int | None
    configs: tuple[AppConfig, ...]  # the lanes, validated
    params: tuple[dict[str, Any], ...]
    bar_ns: int | None = None


def run_unit(unit: WorkUnit) -> list[dict[str, Any]]:
    """Run a unit where it lands (a local process or a Dask worker): one row of metrics per parameter set."""
    ticks = load_ticks(unit.configs[0], unit.ts_from, unit.ts_to)
    results = run_lanes(unit.configs, ticks, unit.bar_ns)
    rows = []
    for params, r in zip(unit.params, results, strict=True):
        trades = build_trades(r.orders, r.reports, r.last_px, r.size_step, r.ts_end)
        m = compute_metrics(
            r.curve["ts_ns"], r.curve["equity"], trades, r.initial_equity, r.fees, r.ts_start, r.ts_end, r.bar_ns
        )
        row: dict[str, Any] = dict(params)
        fills = r.reports[r.reports["kind"] == EXEC_FILL]
        row.update(
            segment=unit.segment,
            unit=unit.unit_id,
            orders=len(r.orders),
            filled_orders=len(np.unique(fills["client_order_id"])),
            ticks=r.ticks,
            wall_s=r.seconds / len(results),
        )
        row.update(m.as_dict())
        rows.append(row)
    return rows


@dataclass
class Validated:
    """The parameter sets that passed the config's validation, and what was skipped."""

    params: list[dict[str, Any]] = field(default_factory=list)
    configs: list[AppConfig] = field(default_factory=list)
    invalid: int = 0
    first_error: str = ""


def validate(sets: Iterable[dict[str, Any]], make_config: Callable[[Mapping[str, Any]], AppConfig]) -> Validated:
    out = Validated()
    for p in sets:
        try:
            cfg = make_config(p)
        except ConfigError as exc:
            if "unknown key" in str(exc) or "unknown section" in str(exc):
                raise  # a misspelt parameter is the grid's mistake, not one combination's
            out.invalid += 1
            out.first_error = out.first_error or f"{p}: {exc}"
            continue
        out.params.append(p)
        out.configs.append(cfg)
    return out


def segments(ts_start: int, ts_end: int, walk_forward: int = 0, oos_frac: float = 0.0) -> list[tuple[int, int]]:
    """[from, to) market-time segments: one (the whole span), K + 1 equal ones (walk-forward K), or two (in-sample,
    then the last ``oos_frac`` out-of-sample)."""
    end = ts_end + 1
    if walk_forward > 0:
        edges = np.linspace(ts_start, end, walk_forward + 2).astype(np.int64).tolist()
        return [(edges[i], edges[i + 1]) for i in range(walk_forward + 1)]
    if oos_frac > 0.0:
        cut = int(ts_start + (end - ts_start) * (1.0 - oos_frac))
        return [(ts_start, cut), (cut, end)]
    return [(ts_start, end)]


def make_units(
    validated: Validated,
    segs: Sequence[tuple[int, int]],
    lanes: int,
    bar_ns: int | None,
    first_id: int = 0,
    first_segment: int = 0,
) -> list[WorkUnit]:
    units = []
    uid = first_id
    for k, (a, b) in enumerate(segs, start=first_segment):
        for i in range(0, len(validated.params), lanes):
            units.append(
                WorkUnit(
                    uid,
                    k,
                    a,
                    b,
                    tuple(validated.configs[i : i + lanes]),
                    tuple(validated.params[i : i + lanes]),
                    bar_ns,
                )
            )
            uid += 1
    return units


def rank_key(metric: str) -> Callable[[dict[str, Any]], tuple[int, float]]:
    """Sort key: best first by ``metric``; rows without a value last."""
    if metric not in RANKABLE:
        raise ValueError(f"--metric {metric!r}: one of {', '.join(RANKABLE)}")
    higher = RANKABLE[metric]

    def key(row: dict[str, Any]) -> tuple[int, float]:
        v = row.get(metric)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return (1, 0.0)
        return (0, -float(v) if higher else float(v))

    return key


def ranked(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    return sorted(rows, key=rank_key(metric))


def param_id(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


def walk_forward_folds(
    rows: list[dict[str, Any]], keys: Sequence[str], n_segments: int, metric: str
) -> list[dict[str, Any]]:
    """For each fold k (in-sample segment k, out-of-sample k + 1): the best set in-sample and its out-of-sample row."""
    by_seg: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_seg.setdefault(int(r["segment"]), []).append(r)
    folds = []
    for k in range(n_segments - 1):
        ins = ranked(by_seg.get(k, []), metric)
        if not ins:
            continue
        best = ins[0]
        pid = param_id(best, keys)
        oos = next((r for r in by_seg.get(k + 1, []) if param_id(r, keys) == pid), None)
        folds.append({"fold": k, "params": dict(zip(keys, pid, strict=True)), "in_sample": best, "out_of_sample": oos})
    return folds
