"""Channel breakout: a price above the highest of the previous ``lookback`` prices buys, below the lowest sells.

A breakout the same way as the last one is not a new signal; the other way is a flip. Trades and bar closes feed it.
"""

from __future__ import annotations

import numpy as np

from bot4.sdk import BUY, SELL, Param, State, Strategy, enter, helper


@helper
def update(p, st, out, price):  # type: ignore[no-untyped-def]
    n = p.lookback
    if st.count >= n:
        hi = -np.inf
        lo = np.inf
        for k in range(n):
            v = st.hist[k]
            hi = max(hi, v)
            lo = min(lo, v)
        side = 0
        if price > hi:
            side = BUY
        elif price < lo:
            side = SELL
        if side != 0 and side != st.last_dir:
            st.last_dir = side
            enter(out, side, stop_frac=p.stop_frac, take_profit_frac=p.take_profit_frac)
    st.hist[st.hist_pos] = price  # the window is a ring: the oldest price gives way
    st.hist_pos = (st.hist_pos + 1) % n
    st.count += 1


class Breakout(Strategy):
    lookback: int = Param(100, min=2, doc="prices in the channel")
    stop_frac: float = Param(0.005, min=1e-9, max=0.5, doc="stop-loss distance from entry, fraction of price")
    take_profit_frac: float = Param(0.0, min=0.0, max=1.0, doc="take-profit distance (0 = none)")

    hist: float = State(0.0, size="lookback")  # the last `lookback` prices
    hist_pos: int = State(0)  # next write position in hist
    count: int = State(0)  # prices seen
    last_dir: int = State(0)  # last side entered

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, price)

    @staticmethod
    def on_bar(p, st, pos, out, open_, high, low, close, volume, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, close)
