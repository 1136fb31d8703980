"""EMA cross: long while the fast EMA is above the slow one, short while below; a change of side is a flip.

The EMAs (alpha = 2 / (n + 1)) start at the first price; the strategy speaks only after ``slow_period`` prices and
only when its side changes (equal EMAs: no side, the last view stands). Trades and bar closes feed it.
"""

from __future__ import annotations

from bot4.sdk import BUY, SELL, Param, State, Strategy, enter, helper


@helper
def update(p, st, out, price):  # type: ignore[no-untyped-def]
    st.count += 1
    if st.count == 1:
        st.ema_fast = price
        st.ema_slow = price
    else:
        st.ema_fast += 2.0 / (p.fast_period + 1.0) * (price - st.ema_fast)
        st.ema_slow += 2.0 / (p.slow_period + 1.0) * (price - st.ema_slow)
    if st.count < p.slow_period:
        return
    diff = st.ema_fast - st.ema_slow
    if diff == 0.0:
        return
    side = BUY if diff > 0.0 else SELL
    if side != st.last_dir:
        st.last_dir = side
        enter(out, side, stop_frac=p.stop_frac, take_profit_frac=p.take_profit_frac)


class EmaCross(Strategy):
    fast_period: int = Param(12, min=1, doc="prices in the fast EMA")
    slow_period: int = Param(26, min=2, doc="prices in the slow EMA")
    stop_frac: float = Param(0.005, min=1e-9, max=0.5, doc="stop-loss distance from entry, fraction of price")
    take_profit_frac: float = Param(0.0, min=0.0, max=1.0, doc="take-profit distance (0 = none)")

    ema_fast: float = State(0.0)
    ema_slow: float = State(0.0)
    count: int = State(0)  # prices seen
    last_dir: int = State(0)  # last side entered (+1, -1, 0)

    @staticmethod
    def validate(params):  # type: ignore[no-untyped-def]
        if params["slow_period"] <= params["fast_period"]:
            raise ValueError(f"slow_period ({params['slow_period']}) must be > fast_period ({params['fast_period']})")

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, price)

    @staticmethod
    def on_bar(p, st, pos, out, open_, high, low, close, volume, ts_ns):  # type: ignore[no-untyped-def]
        update(p, st, out, close)
