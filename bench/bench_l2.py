"""L2 replay throughput: the shipped BTC/USDT capture's depth diffs and trades (320 k events, 11 minutes of
Binance spot) through the whole lockstep path (the paper venue's book and queue, the core's book, the strategy's
``on_book``, sizing, risk, orders), with the book imbalance maker of ``bot4/strategies/book_imbalance.py`` resting
limit orders in the queue. Baseline, same run: the bare book kernel applying the same depth rows to one book, the
floor the engine pays twice (the venue and the core each keep a book). Rounds alternate; medians."""

from __future__ import annotations

import statistics
import time

import numpy as np
from numba import njit

from bench.common import Figure
from bot4.core.book import APPLY_END, depth_apply_nb, new_book
from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import EXEC_FILL, TICK_DEPTH
from bot4.core.runner import Core
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_csv, merge_by_time, repeat_shifted, sample_path

DEPTH = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_depth.csv.gz"
TRADES = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz"
STRATEGY = StrategyConfig(kind="bot4.strategies.book_imbalance:BookImbalance", params={}, symbols=("BTC/USDT",))


@njit(nogil=True, cache=True)
def _apply_all(book, ticks):  # type: ignore[no-untyped-def]
    ends = 0
    for i in range(len(ticks)):
        t = ticks[i]
        if t.kind == TICK_DEPTH:
            r = depth_apply_nb(book, 0, t.side, t.price, t.size, t.bid_px, t.ask_px, np.int64(t.bid_sz))
            ends += r == APPLY_END
    return ends


def l2_ticks(laps: int) -> np.ndarray:
    depth, _ = load_csv(sample_path(DEPTH), 0)
    trades, _ = load_csv(sample_path(TRADES), 0)
    one = merge_by_time([depth, trades])
    return repeat_shifted(one, laps * len(one)) if laps > 1 else one


def book_only(ticks: np.ndarray) -> float:
    book = new_book(1)
    start = time.perf_counter()
    _apply_all(book, ticks)
    return time.perf_counter() - start


def engine(cfg: CoreConfig, ticks: np.ndarray) -> tuple[float, int, int]:
    core = Core(cfg)
    start = time.perf_counter()
    orders, reports = Lockstep(core, PaperExchange(cfg)).replay(ticks)
    seconds = time.perf_counter() - start
    return seconds, len(orders), int((reports["kind"] == EXEC_FILL).sum())


def run(quick: bool) -> list[Figure]:
    rounds = 3 if quick else 5
    ticks = l2_ticks(1 if quick else 3)
    n_depth = int((ticks["kind"] == TICK_DEPTH).sum())
    cfg = CoreConfig(strategies=(STRATEGY,), risk=RiskConfig(loss_streak_max=1000))
    engine(cfg, ticks[:20_000])  # compiled (or loaded from the cache) before the clock starts
    book_only(ticks[:1000])
    rates_engine, rates_book = [], []
    orders = fills = 0
    for _ in range(rounds):
        seconds, orders, fills = engine(cfg, ticks)
        rates_engine.append(len(ticks) / seconds)
        rates_book.append(n_depth / book_only(ticks))
    return [
        Figure(
            "l2_replay_events_per_s",
            statistics.median(rates_engine),
            "event/s",
            ">= 0.3x book only",
            "l2_book_only_rows_per_s",
            higher_is_better=True,
            note=f"{len(ticks) // 1000} k depth rows + trades, lockstep, book imbalance maker: {orders} orders, "
            f"{fills} fills",
        ),
        Figure(
            "l2_book_only_rows_per_s",
            statistics.median(rates_book),
            "row/s",
            higher_is_better=True,
            note=f"the book kernel alone on the same {n_depth // 1000} k depth rows, same run",
        ),
    ]


if __name__ == "__main__":
    import sys

    figures = run("--quick" in sys.argv)
    for f in figures:
        print(f"{f.name:32s} {f.value:14,.0f} {f.unit}  {f.note}")
    print(f"engine / book only = {figures[0].value / figures[1].value:.3f}")
