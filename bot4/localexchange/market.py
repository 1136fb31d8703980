"""The local exchange's public market data in Binance spot's dialect: history over REST, live streams over websocket.

REST (what ccxt's ``binance`` calls for ``fetch_ohlcv``, ``fetch_trades`` and the order-book snapshot behind
``watch_order_book``):

- ``GET /api/v3/klines`` (``symbol``, ``interval``, ``startTime``, ``endTime``, ``limit`` default 500, at most 1000);
- ``GET /api/v3/aggTrades`` (``fromId`` or ``startTime``/``endTime`` less than an hour apart, never both; ``limit``
  default 500, at most 1000; none of them: the latest trades);
- ``GET /api/v3/depth`` (``limit`` default 100, at most 5000).

Streams (``SUBSCRIBE`` on ``/stream/ws/{n}``): ``<symbol>@trade`` (trade ids consecutive per symbol, continuing the
history's aggregate ids), ``<symbol>@bookTicker`` and ``<symbol>@depth@100ms`` / ``<symbol>@depth`` (diffs with
``U``/``u`` update ids, one message per symbol per replay batch). Without L2 data for a symbol the book is the
recorded best bid and ask: one level a side, each top-of-book change one book update (``u``), the same ids the
bookTicker carries. With L2 rows in the replay (``TICK_DEPTH``: ``--depth``, the shipped BTC/USDT book) the book is
every level and the diffs and ids are the recorded exchange's: ``/depth`` returns its levels, best first, with the last
applied id. :meth:`MarketData.lose_depth_updates` drops diffs while the ids run on, a lost message for tests of gap
detection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

from bot4.core.book import DEPTH_CLEAR, DEPTH_END
from bot4.core.records import SIDE_BUY, TICK_BBO, TICK_DEPTH, TICK_TRADE
from bot4.localexchange.dialect import ApiError, fmt_num, market_id
from bot4.localexchange.history import INTERVALS_MS, History

MAX_LIMIT = 1000
HOUR_MS = 3_600_000


@dataclass
class TopBook:
    """A symbol's book as the server knows it: the best bid and ask, and the last update id."""

    bid_px: float = 0.0
    bid_sz: float = 0.0
    ask_px: float = 0.0
    ask_sz: float = 0.0
    update_id: int = 0
    lose: int = 0  # diffs still to drop (a lost message)


@dataclass
class FullBook:
    """A symbol's L2 book from recorded depth rows: every level a side, and the last update id applied."""

    bids: dict[float, float]
    asks: dict[float, float]
    update_id: int = 0
    offset: int = 0  # added to the recorded ids, so they run on when the replay starts its data again
    current: int = 0  # the id of the message being applied
    pending: tuple[int, dict[float, float], dict[float, float]] | None = None  # its changes so far (first id, levels)

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return [[fmt_num(p), fmt_num(q)] for p, q in bids], [[fmt_num(p), fmt_num(q)] for p, q in asks]


def _int(params: Any, name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(
            400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        ) from None


def _limit(params: Any, default: int, most: int) -> int:
    given = _int(params, "limit")
    limit = default if given is None else given
    if not 1 <= limit <= most:
        raise ApiError(400, -1130, f"Invalid data sent for a parameter: limit must be between 1 and {most}.")
    return limit


class MarketData:
    """History pages, the live book and the stream messages of the replayed market."""

    def __init__(self, ticks: np.ndarray, symbols: tuple[str, ...], end_ms: int, history_s: float) -> None:
        self.symbols = symbols
        self.ids = {market_id(s): s for s in symbols}
        self.history = History(ticks, symbols, end_ms, history_s)
        self.next_trade_id = {s: self.history.next_id(s) for s in symbols}
        self.books = {s: TopBook() for s in symbols}
        depth_ids = np.unique(ticks["symbol_id"][ticks["kind"] == TICK_DEPTH]) if len(ticks) else []
        self.full = {symbols[int(i)]: FullBook({}, {}) for i in depth_ids}  # the symbols with L2 rows

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/api/v3/aggTrades", self._agg_trades)
        app.router.add_get("/api/v3/depth", self._depth)

    def lose_depth_updates(self, symbol: str, count: int = 1) -> None:
        """The next ``count`` depth messages of ``symbol`` are never sent; their update ids are used up."""
        self.books[symbol].lose += count

    # --- REST ------------------------------------------------------------------------------------------------------
    def _symbol(self, request: web.Request) -> str:
        mid = request.query.get("symbol", "")
        if not mid:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if mid not in self.ids:
            raise ApiError(400, -1121, "Invalid symbol.")
        return self.ids[mid]

    async def _klines(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        q = request.query
        interval = q.get("interval", "")
        if interval not in INTERVALS_MS:
            raise ApiError(400, -1120, "Invalid interval.")
        start, end = _int(q, "startTime"), _int(q, "endTime")
        limit = _limit(q, 500, MAX_LIMIT)
        if start is not None and end is not None and end < start:
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        rows = self.history.tapes[symbol].klines(INTERVALS_MS[interval], start, end, limit)
        return web.json_response(rows)

    async def _agg_trades(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        tape = self.history.tapes[symbol]
        q = request.query
        from_id, start, end = _int(q, "fromId"), _int(q, "startTime"), _int(q, "endTime")
        limit = _limit(q, 500, MAX_LIMIT)
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and not 0 <= end - start <= HOUR_MS:
            raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        if from_id is not None:
            page = tape.page(from_id, limit)
        elif start is not None or end is not None:
            hi = int(tape.first_at(end + 1)) if end is not None else tape.total
            lo = int(tape.first_at(start)) if start is not None else max(0, hi - limit)
            page = tape.page(lo, min(limit, hi - lo))
        else:
            page = tape.page(max(0, tape.total - limit), limit)
        out = [
            {
                "a": int(i),
                "p": fmt_num(float(p)),
                "q": fmt_num(float(s)),
                "f": int(i),
                "l": int(i),
                "T": int(t),
                "m": bool(m),
                "M": True,
            }
            for i, t, p, s, m in zip(page.ids, page.time_ms, page.price, page.qty, page.buyer_maker, strict=True)
        ]
        return web.json_response(out)

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        limit = _limit(request.query, 100, 5000)
        full = self.full.get(symbol)
        if full is not None:
            bids, asks = full.levels(limit)
            return web.json_response({"lastUpdateId": full.update_id, "bids": bids, "asks": asks})
        b = self.books[symbol]
        bids = [[fmt_num(b.bid_px), fmt_num(b.bid_sz)]] if b.bid_px > 0 else []
        asks = [[fmt_num(b.ask_px), fmt_num(b.ask_sz)]] if b.ask_px > 0 else []
        return web.json_response({"lastUpdateId": b.update_id, "bids": bids, "asks": asks})

    # --- streams ---------------------------------------------------------------------------------------------------
    def _depth_row(self, sym: str, t: np.void, ms: int, diffs: dict[str, Any]) -> None:
        """One recorded L2 row into the symbol's book; a message's changes go out (into ``diffs``) once its last row
        is in, so a replay batch that ends inside a message never sends half of it (the REST book may show the half:
        its ``lastUpdateId`` is the last whole message, so the next diff makes it whole)."""
        full = self.full[sym]
        flags = int(t["bid_sz"])
        raw_u = int(t["ask_px"])
        if flags & DEPTH_CLEAR and raw_u + full.offset <= full.update_id:
            full.offset = full.update_id + 1 - raw_u  # the data again (a new lap): the ids run on
        u = raw_u + full.offset
        if flags & DEPTH_CLEAR:  # a snapshot starts the book over: every level it had goes
            full.pending = (full.update_id + 1, dict.fromkeys(full.bids, 0.0), dict.fromkeys(full.asks, 0.0))
            full.bids.clear()
            full.asks.clear()
            full.current = u
        elif u != full.current:
            if u <= full.update_id:
                return  # older than the book
            full.current = u
            if full.pending is None:
                full.pending = (max(int(t["bid_px"]) + full.offset, full.update_id + 1), {}, {})
        if full.pending is None:
            full.pending = (full.update_id + 1, {}, {})
        side = full.bids if int(t["side"]) == SIDE_BUY else full.asks
        px, qty = float(t["price"]), float(t["size"])
        if qty > 0:
            side[px] = qty
        else:
            side.pop(px, None)
        (full.pending[1] if side is full.bids else full.pending[2])[px] = qty
        if flags & DEPTH_END:
            full.update_id = u
            first, bids, asks = full.pending
            full.pending = None
            if sym in diffs:
                first = diffs[sym][0]
                diffs[sym][2].update(bids)
                diffs[sym][3].update(asks)
                bids, asks = diffs[sym][2], diffs[sym][3]
            diffs[sym] = (first, ms, bids, asks)

    def messages(self, ticks: np.ndarray, encode: bool = True) -> dict[str, list[str]]:
        """The stream messages for a batch of replayed ticks (stamped with the wall clock), by stream name; the
        book and the trade ids move on either way (``encode`` False: nobody listens, no text is made)."""
        msgs: dict[str, list[str]] = {}
        diffs: dict[str, tuple[int, int, dict[float, float], dict[float, float]]] = {}
        for t in ticks:
            sym = self.symbols[int(t["symbol_id"])]
            mid = market_id(sym)
            ms = int(t["ts_exch_ns"]) // 1_000_000
            kind = int(t["kind"])
            if kind == TICK_TRADE:
                tid = self.next_trade_id[sym]
                self.next_trade_id[sym] = tid + 1
                if not encode:
                    continue
                body = {
                    "e": "trade",
                    "E": ms,
                    "s": mid,
                    "t": tid,
                    "p": fmt_num(float(t["price"])),
                    "q": fmt_num(float(t["size"])),
                    "T": ms,
                    "m": int(t["side"]) != SIDE_BUY,
                    "M": True,
                }
                msgs.setdefault(f"{mid.lower()}@trade", []).append(json.dumps(body))
            elif kind == TICK_DEPTH:
                self._depth_row(sym, t, ms, diffs)
            elif kind == TICK_BBO:
                book = self.books[sym]
                if sym not in self.full:  # with L2 rows the depth stream carries the recorded diffs instead
                    first, _, bids, asks = diffs.get(sym, (book.update_id + 1, 0, {}, {}))
                    _move(bids, book.bid_px, float(t["bid_px"]), float(t["bid_sz"]))
                    _move(asks, book.ask_px, float(t["ask_px"]), float(t["ask_sz"]))
                    diffs[sym] = (first, ms, bids, asks)
                book.bid_px, book.bid_sz = float(t["bid_px"]), float(t["bid_sz"])
                book.ask_px, book.ask_sz = float(t["ask_px"]), float(t["ask_sz"])
                book.update_id += 1
                if not encode:
                    continue
                body = {
                    "u": book.update_id,
                    "s": mid,
                    "b": fmt_num(book.bid_px),
                    "B": fmt_num(book.bid_sz),
                    "a": fmt_num(book.ask_px),
                    "A": fmt_num(book.ask_sz),
                }
                msgs.setdefault(f"{mid.lower()}@bookTicker", []).append(json.dumps(body))
        for sym, (first, ms, bids, asks) in diffs.items():
            book = self.books[sym]
            if book.lose > 0:
                book.lose -= 1
                continue
            if not encode:
                continue
            mid = market_id(sym)
            body = {
                "e": "depthUpdate",
                "E": ms,
                "s": mid,
                "U": first,
                "u": self.full[sym].update_id if sym in self.full else book.update_id,
                "b": [[fmt_num(p), fmt_num(s)] for p, s in bids.items()],
                "a": [[fmt_num(p), fmt_num(s)] for p, s in asks.items()],
            }
            text = json.dumps(body)
            msgs.setdefault(f"{mid.lower()}@depth@100ms", []).append(text)
            msgs.setdefault(f"{mid.lower()}@depth", []).append(text)
        return msgs


def _move(levels: dict[float, float], old_px: float, new_px: float, new_sz: float) -> None:
    """The level changes of a side whose best moves from ``old_px`` to ``new_px`` (one level a side)."""
    if old_px > 0 and old_px != new_px:
        levels[old_px] = 0.0
    levels[new_px] = new_sz
