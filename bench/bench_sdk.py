"""The strategy SDK's cost: the EMA cross written on the SDK (``bot4/strategies/ema_cross.py``) against the in-core
built-in, side by side in one run, on the tick path (10 M real trades through strategy, sizing, risk, order record)
and the lockstep replay path (1 M recorded ticks through paper venue, core, paper fills). Rounds alternate between
the two so a busy neighbour slows both alike; each figure is a median and names the built-in as its baseline."""

from __future__ import annotations

import statistics

from bench.bench_core import GENEROUS, drive, real_ticks
from bench.common import Figure
from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.runner import Core
from bot4.venues.lockstep import run_backtest
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_sample, repeat_shifted

BUILTIN = StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26)
SDK = StrategyConfig(kind="bot4.strategies.ema_cross:EmaCross", params={"fast_period": 12, "slow_period": 26})


def tick_path(strat: StrategyConfig, ticks) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    cfg = CoreConfig(strategies=(strat,), risk=RiskConfig(**GENEROUS))  # type: ignore[arg-type]
    drive(Core(cfg), ticks[:10_000])  # compiled (or loaded from the cache) before the clock starts
    core = Core(cfg)
    seconds = drive(core, ticks)
    return len(ticks) / seconds, core.snapshot().stats.counter("orders_out")


def replay_path(strat: StrategyConfig, ticks) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    cfg = CoreConfig(strategies=(strat,))
    run_backtest(Core(cfg), PaperExchange(cfg), ticks[:5000])
    core = Core(cfg)
    seconds = run_backtest(core, PaperExchange(cfg), ticks)
    return len(ticks) / seconds, core.snapshot().stats.counter("orders_out")


def run(quick: bool) -> list[Figure]:
    rounds = 5  # medians of 5 in --quick too: the ratio is gated; 3 rounds on a shared 2-core machine swung it 15 %
    trades = real_ticks(2_000_000 if quick else 10_000_000)
    recorded = repeat_shifted(load_sample(), 500_000 if quick else 1_000_000)
    tp: dict[str, list[float]] = {"builtin": [], "sdk": []}
    rp: dict[str, list[float]] = {"builtin": [], "sdk": []}
    orders: dict[str, int] = {}
    for _ in range(rounds):
        for name, strat in (("builtin", BUILTIN), ("sdk", SDK)):
            rate, n = tick_path(strat, trades)
            tp[name].append(rate)
            orders[name] = n
            rate, _ = replay_path(strat, recorded)
            rp[name].append(rate)
    if orders["builtin"] != orders["sdk"]:
        raise RuntimeError(f"the SDK EMA cross sent {orders['sdk']} orders, the built-in {orders['builtin']}")
    n_tp, n_rp = len(trades) // 1_000_000, len(recorded) // 1_000
    return [
        Figure(
            "sdk_tick_path_ticks_per_s",
            statistics.median(tp["sdk"]),
            "tick/s",
            ">= 0.9x built-in",
            "sdk_builtin_tick_path_ticks_per_s",
            higher_is_better=True,
            note=f"EMA cross on the SDK, {n_tp} M real trades, {orders['sdk']} orders",
        ),
        Figure(
            "sdk_builtin_tick_path_ticks_per_s",
            statistics.median(tp["builtin"]),
            "tick/s",
            higher_is_better=True,
            note="the in-core EMA cross, same ticks, same run",
        ),
        Figure(
            "sdk_replay_path_ticks_per_s",
            statistics.median(rp["sdk"]),
            "tick/s",
            ">= 0.9x built-in",
            "sdk_builtin_replay_path_ticks_per_s",
            higher_is_better=True,
            note=f"lockstep paper venue + core, {n_rp} k recorded ticks",
        ),
        Figure(
            "sdk_builtin_replay_path_ticks_per_s",
            statistics.median(rp["builtin"]),
            "tick/s",
            higher_is_better=True,
            note="the in-core EMA cross, same run",
        ),
    ]


if __name__ == "__main__":
    import sys

    figures = run("--quick" in sys.argv)
    values = {f.name: f.value for f in figures}
    for f in figures:
        print(f"{f.name:40s} {f.value:14,.0f} {f.unit}  {f.note}")
    for kind in ("tick_path", "replay_path"):
        ratio = values[f"sdk_{kind}_ticks_per_s"] / values[f"sdk_builtin_{kind}_ticks_per_s"]
        print(f"{kind}: SDK / built-in = {ratio:.3f}")
