"""Round trips rebuilt from the venue's fills: entry, exit, size, gross, fees, net, why it ended, how long it lasted.

A trade opens when a symbol's position leaves zero and closes when it comes back to zero. Fills that grow the
position set its average entry; fills that shrink it realise PnL at their price against that average (the core's
own rule, ``bot4/core/positions.py``), so the trades' gross PnL adds up to the core's realized PnL. A fill that
crosses zero (a manual order larger than the position) is split in proportion: its first part closes the trade, the
rest opens the next one, each carrying its share of the fee. A position still open when the data ends is listed as
a trade with exit reason ``open``, marked at the symbol's last price with no exit fee, so the sum of every trade's
net PnL equals the account's equity change.
"""

from __future__ import annotations

import numpy as np

from bot4.core.positions import FLAT_EPS_STEPS
from bot4.core.records import EXEC_FILL, FLAG_KILL, FLAG_MANUAL, FLAG_STOP_EXIT

EXIT_SIGNAL = 0  # the strategy turned (a flip's exit, or a flat signal)
EXIT_STOP_LOSS = 1  # the position's stop was crossed
EXIT_TAKE_PROFIT = 2  # the position's take profit was crossed
EXIT_KILL = 3  # the kill switch flattened it
EXIT_MANUAL = 4  # a person's order closed it
EXIT_OPEN = 5  # still open when the data ended (marked at the last price)
EXIT_REASON_NAMES = ("signal", "stop_loss", "take_profit", "kill", "manual", "open")

TRADE_DTYPE = np.dtype(
    [
        ("symbol_id", np.int32),  # instrument table index
        ("side", np.int8),  # 1 long, -1 short
        ("exit_reason", np.int8),  # EXIT_*
        ("ts_entry_ns", np.int64),  # exchange ns of the first entry fill
        ("ts_exit_ns", np.int64),  # exchange ns of the fill that brought it to zero (open: the last tick's time)
        ("entry_px", np.float64),  # average entry price, quote units
        ("exit_px", np.float64),  # average exit price (open: the mark price)
        ("size", np.float64),  # largest absolute position reached, base units
        ("gross", np.float64),  # PnL before fees, quote units
        ("fees", np.float64),  # entry and exit fees, quote units
        ("net", np.float64),  # gross - fees
        ("entry_coid", np.int64),  # client order id of the opening order
        ("exit_coid", np.int64),  # client order id of the closing order (-1 when open)
    ],
    align=True,
)

EPS = 1e-12


class _Open:
    """One symbol's trade being built."""

    __slots__ = ("side", "qty", "avg", "size", "ts", "fees", "gross", "exit_notional", "exit_qty", "coid")

    def __init__(self, side: int, ts: int, coid: int) -> None:
        self.side, self.ts, self.coid = side, ts, coid
        self.qty = self.avg = self.size = self.fees = self.gross = self.exit_notional = self.exit_qty = 0.0


def _exit_reason(flags: int, side: int, entry_px: float, exit_px: float, tp_px: float) -> int:
    if flags & FLAG_KILL:
        return EXIT_KILL
    if flags & FLAG_STOP_EXIT:
        if tp_px == tp_px and (exit_px - entry_px) * side > 0.0:  # a take profit set, and left on the winning side
            return EXIT_TAKE_PROFIT
        return EXIT_STOP_LOSS
    if flags & FLAG_MANUAL:
        return EXIT_MANUAL
    return EXIT_SIGNAL


def build_trades(
    orders: np.ndarray, reports: np.ndarray, last_px: np.ndarray, size_step: np.ndarray, ts_end_ns: int
) -> np.ndarray:
    """Every round trip in ``reports`` (the venue's execution reports, in order), as TRADE_DTYPE records in the order
    they closed (open ones last). ``orders`` (what the venue took) gives each fill's order flags and protective
    levels; ``last_px[s]`` marks a position still open at ``ts_end_ns``; a position under a small fraction of
    ``size_step[s]`` is flat, as the core counts it."""
    flags_of: dict[int, int] = {}
    tp_of: dict[int, float] = {}
    # Columns as Python lists: reading a field of a record scalar costs ~10x a list item (a sweep pairs every lane's
    # fills: this loop was a quarter of a 4-lane work unit over 1 M ticks).
    for coid, fl, tp in zip(
        orders["client_order_id"].tolist(), orders["flags"].tolist(), orders["take_profit_px"].tolist(), strict=True
    ):
        flags_of.setdefault(coid, fl)
        tp_of.setdefault(coid, tp)
    out: list[tuple] = []
    open_: dict[int, _Open] = {}

    def close(s: int, t: _Open, ts: int, coid: int, reason: int, px: float | None = None) -> None:
        exit_px = t.exit_notional / t.exit_qty if t.exit_qty > 0 else (px if px is not None else t.avg)
        gross = t.gross
        out.append((s, t.side, reason, t.ts, ts, t.avg, exit_px, t.size, gross, t.fees, gross - t.fees, t.coid, coid))

    fills = reports[reports["kind"] == EXEC_FILL]
    steps = [float(x) for x in size_step]
    columns = ("symbol_id", "side", "size", "price", "fee", "ts_exch_ns", "client_order_id")
    for s, side, size, price, fee, ts, coid in zip(*(fills[c].tolist() for c in columns), strict=True):
        if size <= 0.0:
            continue
        while size > EPS * steps[s]:
            t = open_.get(s)
            if t is None:
                t = open_[s] = _Open(side, ts, coid)
            if side == t.side:  # grows the position: the average entry moves
                t.avg = (t.avg * t.qty + price * size) / (t.qty + size)
                t.qty += size
                t.size = max(t.size, t.qty)
                t.fees += fee
                break
            part = min(size, t.qty)  # shrinks it: PnL realised on this part
            share = fee * part / size
            t.gross += (price - t.avg) * part * t.side
            t.fees += share
            t.exit_notional += price * part
            t.exit_qty += part
            t.qty -= part
            size -= part
            fee -= share
            if t.qty < FLAT_EPS_STEPS * steps[s]:
                flags = flags_of.get(coid, 0)
                reason = _exit_reason(flags, t.side, t.avg, t.exit_notional / t.exit_qty, tp_of.get(t.coid, np.nan))
                close(s, t, ts, coid, reason)
                del open_[s]
    for s, t in sorted(open_.items()):
        mark = float(last_px[s])
        t.gross += (mark - t.avg) * t.qty * t.side
        t.exit_notional += mark * t.qty
        t.exit_qty += t.qty
        close(s, t, ts_end_ns, -1, EXIT_OPEN)
    return np.array(out, dtype=TRADE_DTYPE) if out else np.zeros(0, TRADE_DTYPE)


def trade_table(trades: np.ndarray, symbols: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The trades as named columns with readable values (symbol names, sides, reasons, seconds), for exports."""
    return {
        "symbol": np.array([symbols[i] for i in trades["symbol_id"]], dtype=object),
        "side": np.where(trades["side"] > 0, "long", "short").astype(object),
        "entry_time_ns": trades["ts_entry_ns"],
        "exit_time_ns": trades["ts_exit_ns"],
        "duration_s": (trades["ts_exit_ns"] - trades["ts_entry_ns"]) / 1e9,
        "entry_px": trades["entry_px"],
        "exit_px": trades["exit_px"],
        "size": trades["size"],
        "gross": trades["gross"],
        "fees": trades["fees"],
        "net": trades["net"],
        "exit_reason": np.array([EXIT_REASON_NAMES[i] for i in trades["exit_reason"]], dtype=object),
        "entry_order": trades["entry_coid"],
        "exit_order": trades["exit_coid"],
    }
