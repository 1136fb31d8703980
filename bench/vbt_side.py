"""The vectorbt side of ``bench_sweep.py``, run in whichever Python has vectorbt (its own venv when its pins clash
with bot4's): ``python bench/vbt_side.py PRICES.npy GRID.json OUT.json``.

The same EMA cross as bot4's ``ema_cross`` kernel, written the vectorbt way: ``vbt.MA.run(..., ewm=True)`` for the
averages (alpha = 2 / (n + 1), seeded with the first price, no side before ``slow`` prices), the side = sign of
fast - slow (a tie keeps the last side), a change of side is a signal. The orders are bot4's timeline, built with
numpy: the first signal at tick i buys or sells at tick i + 1; every later signal closes at i + 1 and opens the
other way at i + 2, each entry ``floor(notional / price / step)`` units at the price of the tick it was decided on.
Then ``Portfolio.from_orders`` (vectorbt's numba engine) fills them at those ticks' prices with the taker fee.
Everything from the averages to the portfolio's order records is timed.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np


def orders_for(
    price: np.ndarray, fast_ma: np.ndarray, slow_ma: np.ndarray, slow: int, notional: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """(fill tick indices, signed sizes) of bot4's orders for one combination.

    The signals are vectorised; turning them into orders follows bot4's rules, one signal at a time: an order
    decided at tick t fills at t + 1; a flip is the exit, then (at the exit's fill tick) the entry; a signal that
    comes while an order the other way is working waits for it to end, and a newer one replaces it; a signal for
    the side already held or being entered is ignored. Entries are ``floor(notional / price / step)`` units at the
    price of the tick they were decided on."""
    diff = fast_ma - slow_ma
    side = np.sign(np.nan_to_num(diff))
    side[: slow - 1] = 0.0
    nz = np.flatnonzero(side)
    if len(nz) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    idx = np.zeros(len(side), dtype=np.int64)
    idx[nz] = nz
    np.maximum.accumulate(idx, out=idx)
    held = side[idx]  # a tie keeps the last side
    held[: nz[0]] = 0.0
    prev = np.concatenate(([0.0], held[:-1]))
    sig = np.flatnonzero((held != prev) & (held != 0)).tolist()
    core = Timeline(price, notional, step)
    k = 0
    while k < len(sig) or core.working:
        t_sig = sig[k] if k < len(sig) else len(price)
        if core.working and core.fill_at <= t_sig:
            t = core.fill_at
            core.fill(t)  # the fill, then the signal that waited for it (bot4: reports before the tick)
            if t_sig == t:
                k += 1
                core.signal(t, held[t])
            continue
        k += 1
        core.signal(t_sig, held[t_sig])
    return np.array(core.at, dtype=np.int64), np.array(core.size)


class Timeline:
    """One combination's position and working order, the way bot4's core handles signals."""

    def __init__(self, price: np.ndarray, notional: float, step: float) -> None:
        self.price, self.notional, self.step = price, notional, step
        self.at: list[int] = []
        self.size: list[float] = []
        self.pos = 0.0  # signed position
        self.working = 0  # 0 none, 1 an exit, 2 an entry
        self.working_side = 0.0
        self.fill_at = -1
        self.deferred = 0.0

    def act(self, t: int, s: float) -> None:
        if self.pos * s > 0 or t + 1 >= len(self.price):
            return
        if self.pos * s < 0:  # a flip: the exit first, the entry once it has filled
            self._order(t, -self.pos, 1)
            self.deferred = s
            return
        q = math.floor(self.notional / self.price[t] / self.step + 1e-9) * self.step
        self._order(t, s * q, 2)

    def _order(self, t: int, signed: float, kind: int) -> None:
        self.at.append(t + 1)
        self.size.append(signed)
        self.working, self.working_side, self.fill_at = kind, math.copysign(1.0, signed), t + 1

    def fill(self, t: int) -> None:
        self.pos += self.size[-1]
        self.working = 0
        if self.deferred:
            d, self.deferred = self.deferred, 0.0
            self.act(t, d)

    def signal(self, t: int, s: float) -> None:
        if self.working:
            if self.working == 1 or self.working_side != s:
                self.deferred = s  # an order whose outcome decides the position is working: wait (newest wins)
            return
        self.deferred = 0.0
        self.act(t, s)


def main() -> int:
    import pandas as pd
    import vectorbt as vbt

    prices_path, grid_path, out_path = sys.argv[1:4]
    price = np.load(prices_path)
    with open(grid_path) as fh:
        grid = json.load(fh)
    combos = [tuple(c) for c in grid["combos"]]
    fee, notional, step, equity = grid["fee"], grid["notional"], grid["step"], grid["equity"]
    close = pd.Series(price)
    group = 10  # columns per portfolio: 1 M ticks x 10 columns of order sizes is 80 MB

    def run() -> tuple[float, list[dict[str, float]]]:
        t0 = time.perf_counter()
        windows = sorted({w for c in combos for w in c})
        ma = vbt.MA.run(close, window=windows, ewm=True, short_name="ma").ma.to_numpy()
        col = {w: i for i, w in enumerate(windows)}
        rows: list[dict[str, float]] = []
        for g in range(0, len(combos), group):
            part = combos[g : g + group]
            sizes = np.full((len(price), len(part)), np.nan)
            for j, (f, s) in enumerate(part):
                at, sz = orders_for(price, ma[:, col[f]], ma[:, col[s]], s, notional, step)
                sizes[at, j] = sz
            pf = vbt.Portfolio.from_orders(
                close, sizes, size_type="amount", direction="both", fees=fee, init_cash=equity, freq="1s"
            )
            rec = pf.orders.values
            for j, (f, s) in enumerate(part):
                mine = rec[rec["col"] == j]
                rows.append(
                    {
                        "fast": f,
                        "slow": s,
                        "orders": int(len(mine)),
                        "fees": float(mine["fees"].sum()),
                        "pnl": float(pf.total_profit().iloc[j]),
                    }
                )
        return time.perf_counter() - t0, rows

    run_small = combos[:2]
    combos_all = combos
    combos = run_small
    run()  # compile / warm vectorbt's kernels outside the clock
    combos = combos_all
    seconds, rows = run()
    with open(out_path, "w") as fh:
        json.dump({"seconds": seconds, "rows": rows, "version": vbt.__version__}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
