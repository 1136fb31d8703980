"""Round trips from fills: the closed trades and the open ones, and their performance by symbol or by day.

A trade opens when a symbol's position leaves zero and closes when it is back at zero; fills on the same side add to
it (the entry price is their size-weighted average), fills against it reduce it (the exit price likewise). A fill
that crosses zero closes the trade with the part that reached zero and opens the next with the rest, its fee split by
size. Gross PnL is each reducing size times (exit - average entry) in the trade's direction, as the journal's restore
and the core count realized PnL; net is gross less every fee of the trade (entries and exits). Plain Python over plain
values, so the UI's Trades screen, the backtest report and the tests share it.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot4.core import records

QTY_EPS = 1e-12  # a position this close to zero is flat


@dataclass(frozen=True)
class Fill:
    """One execution report of kind fill, with what its order was."""

    ts_ns: int  # when it filled (the venue's clock: market time on recorded data), epoch ns
    symbol: str
    side: int  # records.SIDE_BUY / SIDE_SELL
    price: float  # quote units
    size: float  # base units, > 0
    fee: float = 0.0  # quote units, positive = paid
    coid: int = 0  # the order's client order id
    flags: int = 0  # the order's records.FLAG_* bits (manual, stop exit, kill, reduce-only)
    stop_px: float = math.nan  # the order's protective stop (an entry's is the position's)


@dataclass(frozen=True)
class ClosedTrade:
    """A round trip from flat to flat."""

    symbol: str
    direction: int  # +1 long, -1 short
    entry_ts_ns: int
    exit_ts_ns: int
    size: float  # base units entered (the sum of the opening fills)
    entry_px: float  # size-weighted average entry
    exit_px: float  # size-weighted average exit
    gross: float  # quote units, before fees
    fees: float  # quote units, entries and exits
    exit_reason: str  # "stop", "target", "kill switch", "manual", "signal" (what the closing order was)
    manual: bool  # opened by a person (a manual order), not a strategy
    stop_px: float  # the opener's stop

    @property
    def net(self) -> float:
        return self.gross - self.fees

    @property
    def duration_s(self) -> float:
        return (self.exit_ts_ns - self.entry_ts_ns) / 1e9


@dataclass(frozen=True)
class OpenTrade:
    """The trade a symbol holds now."""

    symbol: str
    direction: int
    entry_ts_ns: int
    qty: float  # base units still held (positive)
    entry_px: float
    realized: float  # quote units, from the parts already closed
    fees: float
    manual: bool
    stop_px: float  # the opener's stop


@dataclass
class _Building:
    symbol: str
    direction: int
    entry_ts_ns: int
    manual: bool
    stop_px: float
    qty: float = 0.0  # held, positive
    entered: float = 0.0
    entry_cost: float = 0.0  # sum of size x price of the opening fills
    exited: float = 0.0
    exit_value: float = 0.0
    gross: float = 0.0
    fees: float = 0.0
    exit_flags: int = 0
    last_px: float = math.nan

    @property
    def entry_px(self) -> float:
        return self.entry_cost / self.entered if self.entered else math.nan


def exit_reason(flags: int, direction: int, entry_px: float, exit_px: float) -> str:
    """Why a trade ended, from its closing order: the core's stop exit (a loss: its stop; a gain: its target), the
    kill switch, a person, or the strategy."""
    if flags & records.FLAG_KILL:
        return "kill switch"
    if flags & records.FLAG_STOP_EXIT:
        return "target" if direction * (exit_px - entry_px) > 0 else "stop"
    if flags & records.FLAG_MANUAL:
        return "manual"
    return "signal"


def pair_trades(fills: Iterable[Fill]) -> tuple[list[ClosedTrade], list[OpenTrade]]:
    """The closed trades (in the order they closed) and the open ones (by symbol) that ``fills`` make, in order."""
    building: dict[str, _Building] = {}
    closed: list[ClosedTrade] = []
    for f in fills:
        if not (f.size > 0) or f.side not in (records.SIDE_BUY, records.SIDE_SELL):
            continue
        remaining, fee_left = f.size, f.fee
        while remaining > QTY_EPS:
            t = building.get(f.symbol)
            if t is None:
                t = _Building(f.symbol, f.side, f.ts_ns, bool(f.flags & records.FLAG_MANUAL), f.stop_px)
                building[f.symbol] = t
            if f.side == t.direction:  # opens or adds
                t.qty += remaining
                t.entered += remaining
                t.entry_cost += remaining * f.price
                t.fees += fee_left
                break
            part = min(remaining, t.qty)
            fee = fee_left * part / remaining
            t.gross += part * (f.price - t.entry_px) * t.direction
            t.exited += part
            t.exit_value += part * f.price
            t.fees += fee
            t.qty -= part
            t.exit_flags = f.flags
            remaining -= part
            fee_left -= fee
            if t.qty <= QTY_EPS * max(1.0, t.entered):
                exit_px = t.exit_value / t.exited
                closed.append(
                    ClosedTrade(
                        t.symbol,
                        t.direction,
                        t.entry_ts_ns,
                        f.ts_ns,
                        t.entered,
                        t.entry_px,
                        exit_px,
                        t.gross,
                        t.fees,
                        exit_reason(t.exit_flags, t.direction, t.entry_px, exit_px),
                        t.manual,
                        t.stop_px,
                    )
                )
                del building[f.symbol]
                if remaining <= QTY_EPS * max(1.0, f.size):
                    break
                # the rest of a fill that crossed zero opens the next trade, as an entry of this order
                nxt = _Building(f.symbol, f.side, f.ts_ns, bool(f.flags & records.FLAG_MANUAL), f.stop_px)
                building[f.symbol] = nxt
    opened = [
        OpenTrade(t.symbol, t.direction, t.entry_ts_ns, t.qty, t.entry_px, t.gross, t.fees, t.manual, t.stop_px)
        for t in building.values()
        if t.qty > QTY_EPS
    ]
    return closed, opened


@dataclass(frozen=True)
class Performance:
    """How a group of closed trades went."""

    key: str
    trades: int = 0
    wins: int = 0
    losses: int = 0
    gross: float = 0.0
    fees: float = 0.0
    best: float = math.nan
    worst: float = math.nan
    exits: dict[str, int] = field(default_factory=dict)

    @property
    def net(self) -> float:
        return self.gross - self.fees

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else math.nan


def utc_day(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d")


def performance(closed: Iterable[ClosedTrade], key: Callable[[ClosedTrade], str]) -> list[Performance]:
    """Closed trades grouped by ``key`` (e.g. ``by_symbol``, ``by_day``), in key order; a win is a positive net."""
    groups: dict[str, list[ClosedTrade]] = {}
    for t in closed:
        groups.setdefault(key(t), []).append(t)
    out = []
    for k in sorted(groups):
        ts = groups[k]
        exits: dict[str, int] = {}
        for t in ts:
            exits[t.exit_reason] = exits.get(t.exit_reason, 0) + 1
        nets = [t.net for t in ts]
        out.append(
            Performance(
                k,
                len(ts),
                sum(n > 0 for n in nets),
                sum(n < 0 for n in nets),
                sum(t.gross for t in ts),
                sum(t.fees for t in ts),
                max(nets),
                min(nets),
                exits,
            )
        )
    return out


def by_symbol(t: ClosedTrade) -> str:
    return t.symbol


def by_day(t: ClosedTrade) -> str:
    """The UTC day the trade closed."""
    return utc_day(t.exit_ts_ns)


def journal_fills(path: str | Path) -> list[Fill]:
    """Every fill a journal holds, oldest first, with its order's flags and stop (read-only: the engine may be
    writing it). Times are the venue's (market time on recorded data) where the journal has them, else the time
    the report was journaled."""
    uri = f"file:{Path(path)}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        cols = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
        ts = "COALESCE(r.ts_exch_ns, r.ts_ns)" if "ts_exch_ns" in cols else "r.ts_ns"
        rows = db.execute(
            f"SELECT {ts}, r.symbol, r.side, r.price, r.size, r.fee, r.coid, COALESCE(o.flags, 0), o.stop_px"
            " FROM reports r LEFT JOIN (SELECT coid, MAX(flags) AS flags, MAX(stop_px) AS stop_px FROM orders"
            f" WHERE action = {records.ACTION_SUBMIT} GROUP BY coid) o ON o.coid = r.coid"
            f" WHERE r.kind = {records.EXEC_FILL} ORDER BY r.id"
        ).fetchall()
    finally:
        db.close()
    return [
        Fill(
            int(t),
            str(s),
            int(side),
            float(px),
            float(size),
            float(fee),
            int(coid),
            int(flags),
            math.nan if stop is None else float(stop),
        )
        for t, s, side, px, size, fee, coid, flags, stop in rows
        if px is not None
    ]
