"""The local exchange's past: its recorded trades laid back to back so that they end when the server starts.

Each symbol's trades from the recorded ticks form one lap (their times relative to the recording's first tick,
the lap as long as the recording plus one second: the same loop the live replay runs). The history is ``laps``
such laps ending at ``end_ms``; trade ``g`` (its aggregate trade id) is trade ``g % n`` of lap ``g // n``. Nothing is
materialised: a page of trades or of candles is computed from the one lap, so a year of history costs what an hour
does. Candles come from those trades exactly as an exchange makes them: open, high, low, close and volume of the
trades whose time falls in the candle, an interval without trades carrying the last close with zero volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot4.core.records import SIDE_BUY, TICK_TRADE

MS = 1_000_000
INTERVALS_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


@dataclass(frozen=True)
class TradePage:
    """Trades ``ids`` (aggregate ids) with their time (ms), price, size and whether the buyer was the maker."""

    ids: np.ndarray
    time_ms: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    buyer_maker: np.ndarray


class SymbolTape:
    """One symbol's lap of trades and the history of ``laps`` of it ending at ``end_ms``."""

    def __init__(
        self,
        rel_ms: np.ndarray,
        price: np.ndarray,
        qty: np.ndarray,
        buy: np.ndarray,
        span_ms: int,
        end_ms: int,
        laps: int,
    ) -> None:
        self.rel, self.px, self.qty, self.buy = rel_ms, price, qty, buy
        self.n = len(rel_ms)
        self.span, self.end, self.laps = span_ms, end_ms, laps
        self.start = end_ms - laps * span_ms
        self.total = self.n * laps  # trades in the whole history
        zero = np.zeros(1)
        self.cum_qty = np.concatenate([zero, np.cumsum(qty)])
        self.cum_quote = np.concatenate([zero, np.cumsum(qty * price)])
        self.cum_buy = np.concatenate([zero, np.cumsum(np.where(buy, qty, 0.0))])
        self.cum_buy_quote = np.concatenate([zero, np.cumsum(np.where(buy, qty * price, 0.0))])
        self._max = _sparse(price, np.maximum) if self.n else []
        self._min = _sparse(price, np.minimum) if self.n else []

    # --- trades ------------------------------------------------------------------------------------------------------
    def time_of(self, ids: np.ndarray) -> np.ndarray:
        lap, j = np.divmod(ids, self.n)
        return self.start + lap * self.span + self.rel[j]

    def first_at(self, t_ms: np.ndarray | int) -> np.ndarray:
        """The id of the first trade at or after ``t_ms`` (``total`` when there is none)."""
        t = np.asarray(t_ms, np.int64)
        lap = np.clip((t - self.start) // self.span, 0, self.laps)
        j = np.searchsorted(self.rel, t - (self.start + lap * self.span), side="left")
        return np.minimum(lap * self.n + j, self.total)

    def page(self, first_id: int, count: int) -> TradePage:
        ids = np.arange(max(first_id, 0), min(first_id + count, self.total), dtype=np.int64)
        j = ids % self.n if self.n else ids
        return TradePage(ids, self.time_of(ids), self.px[j], self.qty[j], ~self.buy[j])

    # --- candles -----------------------------------------------------------------------------------------------------
    def _cum(self, cum: np.ndarray, g: np.ndarray) -> np.ndarray:
        lap, j = np.divmod(g, self.n)
        return lap * cum[-1] + cum[j]

    def _range(self, table: list[np.ndarray], lo: np.ndarray, hi: np.ndarray, op: np.ufunc) -> np.ndarray:
        """``op`` over the prices of trades [lo, hi) (hi > lo), a range that may run across laps."""
        length = hi - lo
        j0 = lo % self.n
        j1 = j0 + np.minimum(length, self.n)
        first = _query(table, j0, np.minimum(j1, self.n), op)
        wraps = j1 > self.n
        second = _query(table, np.zeros_like(j0), np.maximum(j1 - self.n, 1), op)
        return np.where(wraps, op(first, second), first)

    def klines(self, interval_ms: int, start_ms: int | None, end_ms: int | None, limit: int) -> list[list[object]]:
        """Binance's kline rows for the candles opening in [start_ms, end_ms], at most ``limit``, oldest first
        (no start: the latest ``limit``). Only candles the history holds whole: none is still forming."""
        if self.n == 0:
            return []
        first_open = (self.start // interval_ms) * interval_ms
        last_open = ((self.end - interval_ms) // interval_ms) * interval_ms  # complete candles only: the history ends
        lo_open = first_open if start_ms is None else max(first_open, -(-start_ms // interval_ms) * interval_ms)
        hi_open = last_open if end_ms is None else min(last_open, (end_ms // interval_ms) * interval_ms)
        if hi_open < lo_open:
            return []
        count = (hi_open - lo_open) // interval_ms + 1
        if start_ms is None and count > limit:
            lo_open = hi_open - (limit - 1) * interval_ms
        opens = lo_open + interval_ms * np.arange(min(count, limit), dtype=np.int64)
        lo = self.first_at(opens)
        hi = self.first_at(opens + interval_ms)
        traded = hi > lo
        prev = np.maximum(lo - 1, 0) % self.n  # the trade before the candle: its close carries into an empty one
        last_px = self.px[prev]
        safe_hi = np.where(traded, hi, lo + 1)
        o = np.where(traded, self.px[lo % self.n], last_px)
        c = np.where(traded, self.px[(safe_hi - 1) % self.n], last_px)
        h = np.where(traded, self._range(self._max, lo, safe_hi, np.maximum), last_px)
        low = np.where(traded, self._range(self._min, lo, safe_hi, np.minimum), last_px)
        vol = self._cum(self.cum_qty, hi) - self._cum(self.cum_qty, lo)
        quote = self._cum(self.cum_quote, hi) - self._cum(self.cum_quote, lo)
        buy = self._cum(self.cum_buy, hi) - self._cum(self.cum_buy, lo)
        buy_quote = self._cum(self.cum_buy_quote, hi) - self._cum(self.cum_buy_quote, lo)
        keep = (lo > 0) | traded  # nothing before the first trade of the history
        rows = []
        for i in np.flatnonzero(keep):
            rows.append(
                [
                    int(opens[i]),
                    _f(o[i]),
                    _f(h[i]),
                    _f(low[i]),
                    _f(c[i]),
                    _f(vol[i]),
                    int(opens[i]) + interval_ms - 1,
                    _f(quote[i]),
                    int(hi[i] - lo[i]),
                    _f(buy[i]),
                    _f(buy_quote[i]),
                    "0",
                ]
            )
        return rows


def _f(x: float) -> str:
    return format(float(x), ".8f")


def _sparse(x: np.ndarray, op: np.ufunc) -> list[np.ndarray]:
    """Sparse table: level k holds ``op`` over x[i : i + 2**k]; any range is two overlapping lookups."""
    table = [x.copy()]
    k = 1
    while (1 << k) <= len(x):
        prev = table[-1]
        half = 1 << (k - 1)
        table.append(op(prev[:-half], prev[half:]))
        k += 1
    return table


def _query(table: list[np.ndarray], lo: np.ndarray, hi: np.ndarray, op: np.ufunc) -> np.ndarray:
    length = np.maximum(hi - lo, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(len(lo))
    for level in np.unique(k):
        sel = k == level
        row = table[int(level)]
        out[sel] = op(row[lo[sel]], row[hi[sel] - (1 << int(level))])
    return out


class History:
    """Every symbol's tape, from the recorded ticks (``symbols[i]`` = symbol id i)."""

    def __init__(self, ticks: np.ndarray, symbols: tuple[str, ...], end_ms: int, history_s: float) -> None:
        self.tapes: dict[str, SymbolTape] = {}
        ts = ticks["ts_exch_ns"]
        span_ms = (int(ts[-1] - ts[0]) + 1_000_000_000) // MS if len(ticks) else 1000
        laps = max(1, -(-int(history_s * 1000) // span_ms)) if history_s > 0 else 0  # at least history_s
        for sid, sym in enumerate(symbols):
            sel = (ticks["symbol_id"] == sid) & (ticks["kind"] == TICK_TRADE)
            rel = ((ts[sel] - (ts[0] if len(ts) else 0)) // MS).astype(np.int64)
            order = np.argsort(rel, kind="stable")
            self.tapes[sym] = SymbolTape(
                rel[order],
                ticks["price"][sel][order].astype(np.float64),
                ticks["size"][sel][order].astype(np.float64),
                (ticks["side"][sel][order] == SIDE_BUY),
                span_ms,
                end_ms,
                laps,
            )

    def next_id(self, symbol: str) -> int:
        """The aggregate id the first live trade after the history gets."""
        return self.tapes[symbol].total
