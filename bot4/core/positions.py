"""Positions and PnL: fills applied to per-symbol positions, marking to market, account equity and drawdown.

Average-price accounting: a fill on the position's side (or from flat) moves the average entry; a fill against it
realizes (fill - average) * closed size * direction, and whatever exceeds the position opens the other side at the
fill price. Fees are tracked apart from realized PnL. Equity = initial + realized - fees + unrealized. A round trip
ends when the position returns to zero (or flips); its PnL net of fees decides wins, losses and the loss streak.
"""

from __future__ import annotations

import numpy as np

from bot4.core.jit import helper, kernel
from bot4.core.state import (
    A_DRAWDOWN,
    A_EQUITY,
    A_FEES,
    A_GROSS,
    A_INITIAL,
    A_NET,
    A_PEAK,
    A_REALIZED,
    A_UNREALIZED,
    S_AVG_PX,
    S_EXPOSURE,
    S_FEES,
    S_LAST_PX,
    S_QTY,
    S_REALIZED,
    S_SIZE_STEP,
    S_TRADE_PNL,
    S_UNREALIZED,
    EngineState,
)

FLAT_EPS_STEPS = 1e-6  # a position smaller than this many size steps is zero


@kernel
def apply_fill_nb(sym: np.ndarray, acct: np.ndarray, s: int, side: int, price: float, size: float, fee: float) -> float:
    """Apply one fill; returns the closed round trip's PnL net of fees, or NaN when no round trip closed."""
    q = sym[s, S_QTY]
    signed = side * size
    closed_pnl = np.nan
    if q == 0.0 or q * side > 0.0:
        new_q = q + signed
        sym[s, S_AVG_PX] = (sym[s, S_AVG_PX] * abs(q) + price * size) / abs(new_q) if q != 0.0 else price
        sym[s, S_TRADE_PNL] -= fee
    else:
        closing = size if size < abs(q) else abs(q)
        direction = 1.0 if q > 0.0 else -1.0
        realized = closing * (price - sym[s, S_AVG_PX]) * direction
        sym[s, S_REALIZED] += realized
        acct[A_REALIZED] += realized
        closing_fee = fee * closing / size
        sym[s, S_TRADE_PNL] += realized - closing_fee
        new_q = q + signed
        if abs(new_q) < FLAT_EPS_STEPS * sym[s, S_SIZE_STEP]:
            new_q = 0.0
        if new_q == 0.0 or new_q * q < 0.0:
            closed_pnl = sym[s, S_TRADE_PNL]
            sym[s, S_TRADE_PNL] = -(fee - closing_fee)
        if new_q == 0.0:
            sym[s, S_AVG_PX] = np.nan
        elif new_q * q < 0.0:
            sym[s, S_AVG_PX] = price
    sym[s, S_QTY] = new_q
    sym[s, S_FEES] += fee
    acct[A_FEES] += fee
    return closed_pnl


@helper
def mark_symbol_nb(sym: np.ndarray, acct: np.ndarray, s: int) -> None:
    """Re-mark symbol ``s`` at its last price and update the account's equity, peak and drawdown."""
    q = sym[s, S_QTY]
    px = sym[s, S_LAST_PX]
    if q != 0.0 and px == px:
        unreal = q * (px - sym[s, S_AVG_PX])
        exposure = abs(q) * px
    else:
        unreal = 0.0
        exposure = 0.0
    acct[A_UNREALIZED] += unreal - sym[s, S_UNREALIZED]
    acct[A_GROSS] += exposure - sym[s, S_EXPOSURE]
    sym[s, S_UNREALIZED] = unreal
    sym[s, S_EXPOSURE] = exposure
    update_equity_nb(acct)


@helper
def update_equity_nb(acct: np.ndarray) -> None:
    equity = acct[A_INITIAL] + acct[A_REALIZED] - acct[A_FEES] + acct[A_UNREALIZED]
    acct[A_EQUITY] = equity
    if equity > acct[A_PEAK]:
        acct[A_PEAK] = equity
    peak = acct[A_PEAK]
    acct[A_DRAWDOWN] = (peak - equity) / peak if peak > 0.0 else 0.0


@kernel
def resync_account_nb(st: EngineState) -> None:
    """Recompute the account sums from the symbols (removes any drift of the incremental updates)."""
    unreal = 0.0
    gross = 0.0
    net = 0.0
    for s in range(st.sym.shape[0]):
        q = st.sym[s, S_QTY]
        px = st.sym[s, S_LAST_PX]
        if q != 0.0 and px == px:
            st.sym[s, S_UNREALIZED] = q * (px - st.sym[s, S_AVG_PX])
            st.sym[s, S_EXPOSURE] = abs(q) * px
            unreal += st.sym[s, S_UNREALIZED]
            gross += st.sym[s, S_EXPOSURE]
            net += q * px
        else:
            st.sym[s, S_UNREALIZED] = 0.0
            st.sym[s, S_EXPOSURE] = 0.0
    st.acct[A_UNREALIZED] = unreal
    st.acct[A_GROSS] = gross
    st.acct[A_NET] = net
    update_equity_nb(st.acct)

