"""Book imbalance maker: join the bid when the book leans to the buyers, leave when it leans the other way.

Reads the L2 book (``on_book``, data with depth): the imbalance of the best ``levels`` levels is
(bid size - ask size) / (bid size + ask size). Above ``enter_at`` and flat, it joins the best bid with a post-only
limit (so it waits in the queue behind the size shown there, and is filled when prints at its price have used that
up); a limit not filled within ``patience`` book updates is cancelled. Long, it takes its profit at
``take_profit_frac`` above the entry, leaves at market once the imbalance falls below ``exit_at``; the stop guards the
rest.
"""

from __future__ import annotations

import math

from bot4.sdk import BUY, Param, State, Strategy, cancel, enter_limit, exit_position


class BookImbalance(Strategy):
    levels: int = Param(5, min=1, max=10, doc="book levels per side summed")
    enter_at: float = Param(0.6, min=-1.0, max=1.0, doc="imbalance that joins the bid")
    exit_at: float = Param(-0.7, min=-1.0, max=1.0, doc="imbalance under which a long leaves at market")
    patience: int = Param(50, min=1, doc="book updates a resting entry may wait before it is cancelled")
    stop_frac: float = Param(0.002, min=1e-9, max=0.5, doc="stop-loss distance from entry, fraction of price")
    take_profit_frac: float = Param(0.0004, min=0.0, max=0.5, doc="take-profit distance from entry (0 = none)")

    imbalance: float = State(0.0)
    books: int = State(0)  # book updates seen
    placed_at: int = State(0)  # the update its resting entry was placed at
    entries: int = State(0)

    @staticmethod
    def validate(params):  # type: ignore[no-untyped-def]
        if params["exit_at"] >= params["enter_at"]:
            raise ValueError(f"exit_at ({params['exit_at']}) must be below enter_at ({params['enter_at']})")

    @staticmethod
    def on_book(p, st, pos, out, bids, asks, ts_ns):  # type: ignore[no-untyped-def]
        st.books += 1
        bid_sz = 0.0
        ask_sz = 0.0
        for i in range(p.levels):
            if not math.isnan(bids[i, 1]):
                bid_sz += bids[i, 1]
            if not math.isnan(asks[i, 1]):
                ask_sz += asks[i, 1]
        if bid_sz + ask_sz <= 0.0:
            return
        st.imbalance = (bid_sz - ask_sz) / (bid_sz + ask_sz)
        if pos.qty > 0.0:
            if st.imbalance < p.exit_at:
                exit_position(out)
        elif pos.pending_buy > 0.0:
            if st.books - st.placed_at >= p.patience:
                cancel(out, BUY)
        elif st.imbalance > p.enter_at:
            px = bids[0, 0]
            if enter_limit(out, BUY, px, stop_frac=p.stop_frac, take_profit_frac=p.take_profit_frac, post_only=True):
                st.placed_at = st.books
                st.entries += 1
