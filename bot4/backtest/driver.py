"""A whole sweep, driven from one place: the grid or the Optuna search, over one segment or walk-forward folds,
with the work units handed to an executor (inline, local processes, Dask)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot4.backtest.executors import Executor
from bot4.backtest.metrics import RANKABLE
from bot4.backtest.sweep import (
    Axis,
    Validated,
    WorkUnit,
    expand,
    make_units,
    ranked,
    segments,
    validate,
    walk_forward_folds,
)
from bot4.runtime.config import AppConfig


@dataclass(frozen=True)
class SweepSpec:
    axes: list[Axis]
    make_config: Callable[[Mapping[str, Any]], AppConfig]  # overrides -> validated config (raises ConfigError)
    ts_start: int
    ts_end: int
    metric: str = "sharpe"
    lanes: int = 4
    bar_ns: int | None = None
    walk_forward: int = 0
    oos_frac: float = 0.0
    optuna_trials: int = 0  # 0: the grid
    seed: int = 0


@dataclass
class SweepResult:
    keys: list[str]
    rows: list[dict[str, Any]]  # one per (parameter set, segment) run
    segments: list[tuple[int, int]]
    combinations: int = 0  # parameter sets considered (grid size, or Optuna trials)
    invalid: int = 0  # skipped by the config's validation
    first_error: str = ""
    units: int = 0
    seconds: float = 0.0
    executor: str = ""
    folds: list[dict[str, Any]] = field(default_factory=list)

    def best(self, metric: str, segment: int = 0) -> list[dict[str, Any]]:
        return ranked([r for r in self.rows if r["segment"] == segment], metric)


def run_sweep(spec: SweepSpec, executor: Executor, on_unit: Callable[[int, int], None] | None = None) -> SweepResult:
    if spec.metric not in RANKABLE:
        raise ValueError(f"--metric {spec.metric!r}: one of {', '.join(RANKABLE)}")
    if spec.lanes < 1:
        raise ValueError(f"--lanes {spec.lanes}: must be at least 1")
    segs = segments(spec.ts_start, spec.ts_end, spec.walk_forward, spec.oos_frac)
    result = SweepResult([a.key for a in spec.axes], [], segs, executor=executor.name)
    start = time.perf_counter()
    if spec.optuna_trials > 0:
        _optuna(spec, executor, result, on_unit)
    else:
        sets = expand(spec.axes)
        result.combinations = len(sets)
        valid = validate(sets, spec.make_config)
        result.invalid, result.first_error = valid.invalid, valid.first_error
        if not valid.params:
            raise ValueError(f"none of the {len(sets)} parameter sets is a valid config; first: {valid.first_error}")
        units = make_units(valid, segs, spec.lanes, spec.bar_ns)
        result.units = len(units)
        for i, (_unit, rows) in enumerate(executor.run(units)):
            result.rows.extend(rows)
            if on_unit is not None:
                on_unit(i + 1, len(units))
        if len(segs) > 1:
            result.folds = walk_forward_folds(result.rows, result.keys, len(segs), spec.metric)
    result.seconds = time.perf_counter() - start
    return result


def _suggest(trial: Any, axes: list[Axis]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in axes:
        if a.low is None:
            out[a.key] = trial.suggest_categorical(a.key, list(a.values))
        elif all(isinstance(v, int) for v in a.values):
            out[a.key] = trial.suggest_int(a.key, int(a.low), int(a.high), step=int(a.step))  # type: ignore[arg-type]
        else:
            out[a.key] = trial.suggest_float(a.key, a.low, a.high, step=a.step)  # type: ignore[arg-type]
    return out


def _optuna(
    spec: SweepSpec, executor: Executor, result: SweepResult, on_unit: Callable[[int, int], None] | None
) -> None:
    """Optuna (TPE, seeded) on each in-sample segment, ask-and-tell in batches as wide as the executor; then, with
    folds, the best set of each run on the next segment."""
    try:
        import optuna
    except ImportError:
        raise ValueError("--optuna needs Optuna: pip install 'bot4[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    segs = result.segments
    searched = range(len(segs) - 1) if len(segs) > 1 else range(1)
    uid = 0
    batch_width = executor.parallelism * spec.lanes
    total_units = 0
    for k in searched:
        study = optuna.create_study(
            direction="maximize" if RANKABLE[spec.metric] else "minimize",
            sampler=optuna.samplers.TPESampler(seed=spec.seed + k),
        )
        asked = 0
        seg_rows: list[dict[str, Any]] = []
        while asked < spec.optuna_trials:
            n = min(batch_width, spec.optuna_trials - asked)
            trials = [study.ask() for _ in range(n)]
            asked += n
            valid = Validated()
            owners = []
            for t in trials:
                p = _suggest(t, spec.axes)
                one = validate([p], spec.make_config)
                if one.invalid:
                    result.invalid += 1
                    result.first_error = result.first_error or one.first_error
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                    continue
                valid.params.append(p)
                valid.configs.append(one.configs[0])
                owners.append(t)
            units = make_units(valid, [segs[k]], spec.lanes, spec.bar_ns, uid, first_segment=k)
            uid += len(units)
            total_units += len(units)
            trial_of = {}
            for u in units:
                base = (u.unit_id - units[0].unit_id) * spec.lanes
                for j in range(len(u.params)):
                    trial_of[(u.unit_id, j)] = owners[base + j]
            for unit, rows in executor.run(units):
                for j, row in enumerate(rows):
                    value = row.get(spec.metric)
                    t = trial_of[(unit.unit_id, j)]
                    if value is None:
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(t, float(value))
                    row["trial"] = t.number
                seg_rows.extend(rows)
                if on_unit is not None:
                    on_unit(total_units, total_units)
        result.combinations += spec.optuna_trials
        result.rows.extend(seg_rows)
        if len(segs) > 1 and seg_rows:
            best = ranked(seg_rows, spec.metric)[0]
            params = {key: best[key] for key in result.keys}
            cfg = spec.make_config(params)
            oos_unit = WorkUnit(uid, k + 1, segs[k + 1][0], segs[k + 1][1], (cfg,), (params,), spec.bar_ns)
            uid += 1
            total_units += 1
            oos = None
            for _u, rows in executor.run([oos_unit]):
                oos = rows[0]
            result.folds.append({"fold": k, "params": params, "in_sample": best, "out_of_sample": oos})
    result.units = total_units
