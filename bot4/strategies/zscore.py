"""Z-score mean reversion: buy when the price is ``entry_z`` deviations under its rolling mean, sell when over, and
close when it comes back within ``exit_z``.

The mean and deviation are over the previous ``window`` prices, kept as running sums, re-derived from the window once
per lap so rounding never accumulates. Trades and bar closes feed it.
"""

from __future__ import annotations

import math

from bot4.sdk import BUY, SELL, Param, State, Strategy, enter, exit_position, helper


@helper
def update(p, st, out, price):  # type: ignore[no-untyped-def]
    n = p.window
    count = st.count
    pos = st.hist_pos
    if count >= n:
        mean = st.sum / n
        var = st.sumsq / n - mean * mean
        if var > 1e-18 * mean * mean:
            z = (price - mean) / math.sqrt(var)
            last = st.last_dir
            if z <= -p.entry_z:
                side = BUY
            elif z >= p.entry_z:
                side = SELL
            elif abs(z) <= p.exit_z and last != 0:
                side = 2  # close
            else:
                side = 0
            if side == 2:
                st.last_dir = 0
                exit_position(out)
            elif side != 0 and side != last:
                st.last_dir = side
                enter(out, side, stop_frac=p.stop_frac, take_profit_frac=p.take_profit_frac)
        old = st.hist[pos]
        st.sum += price - old
        st.sumsq += price * price - old * old
    else:
        st.sum += price
        st.sumsq += price * price
    st.hist[pos] = price
    pos = (pos + 1) % n
    st.hist_pos = pos
    st.count = count + 1
    if pos == 0 and count >= n:
        total = 0.0
        total_sq = 0.0
        for k in range(n):
            total += st.hist[k]
            total_sq += st.hist[k] * st.hist[k]
        st.sum = total
        st.sumsq = total_sq


class ZScore(Strategy):
    window: int = Param(100, min=2, doc="prices in the rolling mean and deviation")
    entry_z: float = Param(2.0, min=1e-9, doc="|z| to enter against the move")
    exit_z: float = Param(0.5, min=0.0, doc="|z| under which the position is closed")
    stop_frac: float = Param(0.005, min=1e-9, max=0.5, doc="stop-loss distance from entry, fraction of price")
    take_profit_frac: float = Param(0.0, min=0.0, max=1.0, doc="take-profit distance (0 = none)")

    hist: float = State(0.0, size="window")
    hist_pos: int = State(0)
    count: int = State(0)
    last_dir: int = State(0)  # the view: +1, -1, 0 (none)
    sum: float = State(0.0)
    sumsq: float = State(0.0)

    @staticmethod
    def validate(params):  # type: ignore[no-untyped-def]
        if params["exit_z"] >= params["entry_z"]:
            raise ValueError(f"exit_z ({params['exit_z']}) must be < entry_z ({params['entry_z']})")

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, price)

    @staticmethod
    def on_bar(p, st, pos, out, open_, high, low, close, volume, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, close)
