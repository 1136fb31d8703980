"""Positions and PnL: fills applied to per-symbol positions, marking to market, account equity and drawdown.

Average-price accounting: a fill on the position's side (or from flat) moves the average entry; a fill against it
realizes (fill - average) * closed size * direction, and whatever exceeds the position opens the other side at the
fill price. Fees are tracked apart from realized PnL. Equity = initial + realized - fees + unrealized. A round trip
ends when the position returns to zero (or flips); its PnL net of fees decides wins, losses and the loss streak.
"""

from __future__ import annotations

import numpy as np

from bot4.core.jit import helper, kernel
from bot4.core.state import EngineState

FLAT_EPS_STEPS = 1e-6  # a position smaller than this many size steps is zero


@kernel
def apply_fill_nb(sym: np.ndarray, acct: np.ndarray, s: int, side: int, price: float, size: float, fee: float) -> float:
    """Apply one fill; returns the closed round trip's PnL net of fees, or NaN when no round trip closed."""
    q = sym[s].qty
    signed = side * size
    closed_pnl = np.nan
    if q == 0.0 or q * side > 0.0:
        new_q = q + signed
        sym[s].avg_px = (sym[s].avg_px * abs(q) + price * size) / abs(new_q) if q != 0.0 else price
        sym[s].trade_pnl -= fee
    else:
        closing = size if size < abs(q) else abs(q)
        direction = 1.0 if q > 0.0 else -1.0
        realized = closing * (price - sym[s].avg_px) * direction
        sym[s].realized += realized
        acct[0].realized += realized
        closing_fee = fee * closing / size
        sym[s].trade_pnl += realized - closing_fee
        new_q = q + signed
        if abs(new_q) < FLAT_EPS_STEPS * sym[s].size_step:
            new_q = 0.0
        if new_q == 0.0 or new_q * q < 0.0:
            closed_pnl = sym[s].trade_pnl
            sym[s].trade_pnl = -(fee - closing_fee)
        if new_q == 0.0:
            sym[s].avg_px = np.nan
        elif new_q * q < 0.0:
            sym[s].avg_px = price
    sym[s].qty = new_q
    sym[s].fees += fee
    acct[0].fees += fee
    return closed_pnl


@helper
def mark_symbol_nb(sym: np.ndarray, acct: np.ndarray, s: int) -> None:
    """Re-mark symbol ``s`` at its last price and update the account's equity, peak and drawdown."""
    q = sym[s].qty
    px = sym[s].last_px
    if q != 0.0 and px == px:
        unreal = q * (px - sym[s].avg_px)
        exposure = abs(q) * px
    else:
        unreal = 0.0
        exposure = 0.0
    acct[0].unrealized += unreal - sym[s].unrealized
    acct[0].gross += exposure - sym[s].exposure
    sym[s].unrealized = unreal
    sym[s].exposure = exposure
    update_equity_nb(acct)


@helper
def update_equity_nb(acct: np.ndarray) -> None:
    equity = acct[0].initial + acct[0].realized - acct[0].fees + acct[0].unrealized
    acct[0].equity = equity
    if equity > acct[0].peak:
        acct[0].peak = equity
    peak = acct[0].peak
    acct[0].drawdown = (peak - equity) / peak if peak > 0.0 else 0.0


@kernel
def resync_account_nb(st: EngineState) -> None:
    """Recompute the account sums from the symbols (removes any drift of the incremental updates)."""
    unreal = 0.0
    gross = 0.0
    net = 0.0
    for s in range(st.sym.shape[0]):
        q = st.sym[s].qty
        px = st.sym[s].last_px
        if q != 0.0 and px == px:
            st.sym[s].unrealized = q * (px - st.sym[s].avg_px)
            st.sym[s].exposure = abs(q) * px
            unreal += st.sym[s].unrealized
            gross += st.sym[s].exposure
            net += q * px
        else:
            st.sym[s].unrealized = 0.0
            st.sym[s].exposure = 0.0
    st.acct[0].unrealized = unreal
    st.acct[0].gross = gross
    st.acct[0].net = net
    update_equity_nb(st.acct)

