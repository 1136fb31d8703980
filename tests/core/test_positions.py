"""Position and PnL accounting against an independent pure-Python reference on random fill sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot4.core.positions import apply_fill_nb, mark_symbol_nb
from bot4.core.state import ACCOUNT_DTYPE, SYMBOL_DTYPE


class ReferenceBook:
    """FIFO-free average-cost book, written independently of the kernel."""

    def __init__(self) -> None:
        self.qty = 0.0
        self.cost = 0.0  # signed qty * average price
        self.realized = 0.0
        self.fees = 0.0
        self.trade_pnls: list[float] = []
        self._trade = 0.0

    def fill(self, side: int, price: float, size: float, fee: float) -> None:
        self.fees += fee
        signed = side * size
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost += signed * price
            self._trade -= fee
            return
        avg = self.cost / self.qty
        closing = min(size, abs(self.qty))
        pnl = closing * (price - avg) * (1 if self.qty > 0 else -1)
        self.realized += pnl
        part_fee = fee * closing / size
        self._trade += pnl - part_fee
        remaining_open = size - closing
        new_qty = self.qty + signed
        if abs(new_qty) < 1e-11:
            new_qty = 0.0
        if new_qty == 0.0 or remaining_open > 0:
            self.trade_pnls.append(self._trade)
            self._trade = -(fee - part_fee)
        if new_qty == 0.0:
            self.cost = 0.0
        elif remaining_open > 0:
            self.cost = new_qty * price
        else:
            self.cost = new_qty * avg
        self.qty = new_qty

    def avg(self) -> float:
        return self.cost / self.qty if self.qty else math.nan

    def unrealized(self, mark: float) -> float:
        return self.qty * (mark - self.avg()) if self.qty else 0.0


fills = st.lists(
    st.tuples(
        st.sampled_from([1, -1]),
        st.floats(10.0, 1000.0, allow_nan=False),
        st.integers(1, 500).map(lambda k: k * 0.01),
        st.floats(0.0, 0.002),
    ),
    min_size=1,
    max_size=60,
)


@given(fills, st.floats(10.0, 1000.0))
@settings(max_examples=300, deadline=None)
def test_random_fill_sequences_match_reference(seq, mark: float) -> None:  # type: ignore[no-untyped-def]
    sym = np.zeros(1, SYMBOL_DTYPE)
    sym["size_step"][0] = 0.01
    sym["avg_px"][0] = np.nan
    acct = np.zeros(1, ACCOUNT_DTYPE)
    acct["initial"][0] = acct["equity"][0] = acct["peak"][0] = 10_000.0
    ref = ReferenceBook()
    closed: list[float] = []
    for side, price, size, fee_rate in seq:
        fee = price * size * fee_rate
        pnl = apply_fill_nb(sym, acct, 0, side, price, size, fee)
        ref.fill(side, price, size, fee)
        if not math.isnan(pnl):
            closed.append(pnl)
    sym["last_px"][0] = mark
    mark_symbol_nb(sym, acct, 0)
    assert sym["qty"][0] == pytest.approx(ref.qty, abs=1e-9)
    if ref.qty:
        assert sym["avg_px"][0] == pytest.approx(ref.avg(), rel=1e-9)
    else:
        assert math.isnan(sym["avg_px"][0])
    assert acct["realized"][0] == pytest.approx(ref.realized, rel=1e-9, abs=1e-6)
    assert acct["fees"][0] == pytest.approx(ref.fees, rel=1e-9, abs=1e-9)
    assert acct["unrealized"][0] == pytest.approx(ref.unrealized(mark), rel=1e-9, abs=1e-6)
    expected_equity = 10_000.0 + ref.realized - ref.fees + ref.unrealized(mark)
    assert acct["equity"][0] == pytest.approx(expected_equity, rel=1e-9)
    assert closed == pytest.approx(ref.trade_pnls, rel=1e-9, abs=1e-6)


def test_partial_close_then_flip_by_hand() -> None:
    sym = np.zeros(1, SYMBOL_DTYPE)
    sym["size_step"][0] = 0.001
    sym["avg_px"][0] = np.nan
    acct = np.zeros(1, ACCOUNT_DTYPE)
    acct["initial"][0] = acct["equity"][0] = acct["peak"][0] = 1000.0
    assert math.isnan(apply_fill_nb(sym, acct, 0, 1, 100.0, 2.0, 0.2))  # long 2 @ 100
    assert math.isnan(apply_fill_nb(sym, acct, 0, 1, 110.0, 2.0, 0.2))  # long 4 @ 105
    assert sym["avg_px"][0] == pytest.approx(105.0)
    assert math.isnan(apply_fill_nb(sym, acct, 0, -1, 115.0, 1.0, 0.1))  # partial close: +10
    assert acct["realized"][0] == pytest.approx(10.0)
    pnl = apply_fill_nb(sym, acct, 0, -1, 95.0, 5.0, 0.5)  # close 3 (-30) and open short 2 @ 95
    assert acct["realized"][0] == pytest.approx(-20.0)
    assert sym["qty"][0] == pytest.approx(-2.0) and sym["avg_px"][0] == pytest.approx(95.0)
    # the round trip: +10 - 30 realized, fees 0.2 + 0.2 + 0.1 + 0.3 (3/5 of the last fee)
    assert pnl == pytest.approx(-20.0 - 0.8)
