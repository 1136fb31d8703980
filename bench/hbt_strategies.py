"""The two strategies of ``bench_hftbacktest.py``, on bot4's strategy SDK (the hftbacktest side writes the same rules
in ``hbt_side.py``). Kept in a file of their own: bot4 compiles one engine per strategy source, keyed by its hash,
so an edit to the bench script does not recompile the engine.

- ``EmaTarget``: EMAs of the trade price (seeded with the first price, alpha = 2 / (n + 1)); from the ``slow_period``-th
  print on, the sign of (fast - slow) is the side wanted (equal: the last side stands), and the position is moved to
  side x ``qty`` with market orders through ``target``: a change of side is an exit first, the entry once flat. It is
  asked for at every print and after every book message, so an order that did not fill in full is completed at the
  next event. The entry's mandatory stop is ``stop_frac`` away (50 %: never reached in the capture).
- ``JoinBest``: one post-only limit buy at the best bid and one post-only limit sell at the best ask, at all times;
  after each book message a resting order no longer at the best price on its side is cancelled, and a side with no
  working order joins the best again. Sizes come from bot4's sizing (the notional cap binds: floor(cap / price) to
  the step).
"""

from __future__ import annotations

import math

from bot4.sdk import BUY, SELL, Param, State, Strategy, cancel, enter_limit, helper, target


@helper
def want_position(p, st, out):  # type: ignore[no-untyped-def]
    if st.want != 0.0:
        target(out, st.want, stop_frac=p.stop_frac)


class EmaTarget(Strategy):
    fast_period: int = Param(20, min=1, doc="prints in the fast EMA")
    slow_period: int = Param(100, min=2, doc="prints in the slow EMA")
    qty: float = Param(0.001, min=1e-9, doc="position size, base units")
    stop_frac: float = Param(0.5, min=1e-9, max=0.5, doc="the entry's stop distance (50 %: never hit here)")

    ema_fast: float = State(0.0)
    ema_slow: float = State(0.0)
    count: int = State(0)
    want: float = State(0.0)  # the signed position wanted (0 until the slow EMA has seen slow_period prints)
    flips: int = State(0)  # changes of the side wanted

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):  # type: ignore[no-untyped-def]
        st.count += 1
        if st.count == 1:
            st.ema_fast = price
            st.ema_slow = price
        else:
            st.ema_fast += 2.0 / (p.fast_period + 1.0) * (price - st.ema_fast)
            st.ema_slow += 2.0 / (p.slow_period + 1.0) * (price - st.ema_slow)
        if st.count >= p.slow_period:
            diff = st.ema_fast - st.ema_slow
            want = st.want
            if diff > 0.0:
                want = p.qty
            elif diff < 0.0:
                want = -p.qty
            if want != st.want:
                st.flips += 1
                st.want = want
        want_position(p, st, out)

    @staticmethod
    def on_book(p, st, pos, out, bids, asks, ts_ns):  # type: ignore[no-untyped-def]
        want_position(p, st, out)


class JoinBest(Strategy):
    stop_frac: float = Param(0.5, min=1e-9, max=0.5, doc="each entry's stop distance (50 %: never hit here)")

    buy_px: float = State(0.0)  # price of the working buy (0: none)
    sell_px: float = State(0.0)
    buy_cancel: int = State(0)  # 1 once its cancel was asked for
    sell_cancel: int = State(0)
    posted: int = State(0)
    cancels: int = State(0)
    refused: int = State(0)

    @staticmethod
    def on_book(p, st, pos, out, bids, asks, ts_ns):  # type: ignore[no-untyped-def]
        bid = bids[0, 0]
        ask = asks[0, 0]
        if math.isnan(bid) or math.isnan(ask):
            return
        if st.buy_px > 0.0 and pos.pending_buy <= 0.0:  # filled or cancelled
            st.buy_px = 0.0
            st.buy_cancel = 0
        if st.sell_px > 0.0 and pos.pending_sell <= 0.0:
            st.sell_px = 0.0
            st.sell_cancel = 0
        if st.buy_px > 0.0:
            if st.buy_px != bid and st.buy_cancel == 0:
                cancel(out, BUY)
                st.buy_cancel = 1
                st.cancels += 1
        elif enter_limit(out, BUY, bid, stop_frac=p.stop_frac, post_only=True):
            st.buy_px = bid
            st.posted += 1
        if st.sell_px > 0.0:
            if st.sell_px != ask and st.sell_cancel == 0:
                cancel(out, SELL)
                st.sell_cancel = 1
                st.cancels += 1
        elif enter_limit(out, SELL, ask, stop_frac=p.stop_frac, post_only=True):
            st.sell_px = ask
            st.posted += 1

    @staticmethod
    def on_reject(p, st, pos, out, side, reason, ts_ns):  # type: ignore[no-untyped-def]
        st.refused += 1
