"""Live market data through ccxt.pro's websockets into replayable files: trades (``watch_trades_for_symbols``), best
bid and ask (``watch_bids_asks``) and the L2 book (``watch_order_book``, written as a snapshot then diffs).

Every row carries its receive time (``local_ts_ns``) first, so a symbol's trade and book files interleave in replay
as they arrived. Gaps are counted, never fatal: trade ids that jump (trades lost), book update ids that do not follow
on (ccxt stops the book with a ChecksumError: counted, and the book is taken again from a new snapshot), ids going
backwards, and silences longer than ``max_silence_s``. A stream that fails reconnects with back-off. The counts are in
each file's sidecar and in the summary (``record-<start>.json`` in the directory, and the command's last lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bot4.marketdata.files import num
from bot4.marketdata.rotation import NS, FileInfo, Gaps, RotatingFile, file_stamp, finish_parts
from bot4.venues.ccxt_client import backoff_delays

log = logging.getLogger("bot4.data.record")

STREAMS = ("trades", "bbo", "depth")


@dataclass(frozen=True)
class RecordSpec:
    """What to record, where, for how long (None: until stopped), files per ``rotate_s``."""

    exchange: str
    symbols: tuple[str, ...]
    out_dir: Path
    streams: tuple[str, ...] = STREAMS
    duration_s: float | None = None
    rotate_s: float = 3600.0
    max_silence_s: float = 5.0
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0


@dataclass
class RecordSummary:
    """Totals by ``symbol stream`` and the files written."""

    started_ns: int
    stopped_ns: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, Gaps] = field(default_factory=dict)
    files: list[FileInfo] = field(default_factory=list)
    salvaged: list[FileInfo] = field(default_factory=list)


class _Stream:
    """One symbol's stream: its files, its gap counts across files, the last id and time seen."""

    def __init__(
        self, spec: RecordSpec, symbol: str, kind: str, opening: Callable[[int], list[tuple[Any, ...]]] | None = None
    ):
        schema = {"trades": "trades", "bbo": "bbo", "depth": "depth"}[kind]
        self.file = RotatingFile(spec.out_dir, spec.exchange, symbol, schema, spec.rotate_s, opening)
        self.total = Gaps()
        self.last_id: int | None = None
        self.last_seen_ns: int | None = None
        self.max_silence_ns = int(spec.max_silence_s * NS)

    def count(self, **changes: float) -> None:
        for name, value in changes.items():
            for gaps in (self.file.gaps, self.total):
                if name == "longest_silence_s":
                    gaps.longest_silence_s = max(gaps.longest_silence_s, value)
                else:
                    setattr(gaps, name, getattr(gaps, name) + value)

    def heard(self, now_ns: int) -> None:
        if self.last_seen_ns is not None:
            silence = now_ns - self.last_seen_ns
            if silence > self.max_silence_ns:
                self.count(time=1, longest_silence_s=silence / NS)
        self.last_seen_ns = now_ns

    def write(self, rows: list[tuple[object, ...]], now_ns: int) -> None:
        self.file.write(rows, now_ns)  # type: ignore[arg-type]


class Recorder:
    """Records ``spec`` from ``client`` (a ccxt.pro client whose markets are loaded) until stopped."""

    def __init__(self, client: Any, spec: RecordSpec) -> None:
        import ccxt

        self.client, self.spec = client, spec
        self._checksum_error = ccxt.ChecksumError
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.books: dict[str, tuple[dict[float, float], dict[float, float], int, int] | None] = {}
        for sym in spec.symbols:
            for kind in spec.streams:
                opening = partial(self._snapshot_rows, sym) if kind == "depth" else None
                self.streams[(sym, kind)] = _Stream(spec, sym, kind, opening)

    async def run(self, stopping: asyncio.Event | None = None) -> RecordSummary:
        stopping = stopping or asyncio.Event()
        self.spec.out_dir.mkdir(parents=True, exist_ok=True)
        summary = RecordSummary(started_ns=time.time_ns(), salvaged=finish_parts(self.spec.out_dir))
        syms = list(self.spec.symbols)
        tasks = []
        if "trades" in self.spec.streams:
            tasks.append(
                self._loop("trades", lambda: self.client.watch_trades_for_symbols(syms), self._on_trades, stopping)
            )
        if "bbo" in self.spec.streams:
            tasks.append(self._loop("bbo", lambda: self.client.watch_bids_asks(syms), self._on_bbo, stopping))
        if "depth" in self.spec.streams:
            for sym in syms:
                tasks.append(
                    self._loop(
                        f"depth {sym}",
                        partial(self.client.watch_order_book, sym),
                        partial(self._on_book, sym),
                        stopping,
                        symbol=sym,
                    )
                )
        running = [asyncio.ensure_future(t) for t in tasks]
        try:
            if self.spec.duration_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.spec.duration_s)
            else:
                await stopping.wait()
        finally:
            stopping.set()
            for t in running:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            summary.stopped_ns = time.time_ns()
            for (sym, kind), st in self.streams.items():
                st.heard(summary.stopped_ns)  # a silence that lasted to the end counts too
                st.file.close()
                summary.rows[f"{sym} {kind}"] = sum(f.rows for f in st.file.finished)
                summary.gaps[f"{sym} {kind}"] = st.total
                summary.files.extend(st.file.finished)
            path = self.spec.out_dir / f"record-{file_stamp(summary.started_ns)}.json"
            path.write_text(json.dumps(asdict(summary), indent=1) + "\n")
        return summary

    async def _loop(
        self,
        name: str,
        watch: Callable[[], Awaitable[Any]],
        handle: Callable[[Any], None],
        stopping: asyncio.Event,
        symbol: str | None = None,
    ) -> None:
        import ccxt

        delays = backoff_delays(self.spec.reconnect_min_s, self.spec.reconnect_max_s)
        while not stopping.is_set():
            try:
                data = await watch()
            except asyncio.CancelledError:
                raise
            except self._checksum_error:
                # the exchange's update ids did not follow on: a book message was lost; ccxt takes a new snapshot
                if symbol is not None:
                    self.streams[(symbol, "depth")].count(sequence=1, resyncs=1)
                    self.books[symbol] = None
                continue
            except (ccxt.BaseError, OSError) as exc:
                for (sym, kind), st in self.streams.items():
                    if name == kind or name == f"{kind} {sym}":
                        st.count(reconnects=1)
                if symbol is not None:
                    self.books[symbol] = None
                wait = next(delays)
                log.warning("record: stream %s failed (%s: %s); again in %.2f s", name, type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)
                continue
            delays = backoff_delays(self.spec.reconnect_min_s, self.spec.reconnect_max_s)
            handle(data)

    # --- trades and best bid/ask -----------------------------------------------------------------------------------
    def _on_trades(self, trades: list[dict[str, Any]]) -> None:
        now = time.time_ns()
        by_symbol: dict[str, list[tuple[object, ...]]] = {}
        for t in trades:
            st = self.streams.get((t.get("symbol", ""), "trades"))
            if st is None:
                continue
            rows = by_symbol.setdefault(t["symbol"], [])
            try:
                tid = int(t["id"])
            except (TypeError, ValueError):
                tid = None
            if tid is not None and st.last_id is not None:
                if tid == st.last_id:
                    st.count(duplicates=1)
                    continue
                if tid < st.last_id:
                    st.count(out_of_order=1)
                    continue
                if tid > st.last_id + 1:
                    st.count(sequence=1, missing_ids=tid - st.last_id - 1)
            st.last_id = tid if tid is not None else st.last_id
            rows.append(
                (
                    now,
                    t.get("timestamp") or "",
                    t.get("id") or "",
                    num(t["price"]),
                    num(t["amount"]),
                    t.get("side") or "",
                )
            )
        for sym, rows in by_symbol.items():
            st = self.streams[(sym, "trades")]
            st.heard(now)
            if rows:
                st.write(rows, now)

    def _on_bbo(self, tickers: dict[str, dict[str, Any]]) -> None:
        now = time.time_ns()
        for sym, tk in tickers.items():
            st = self.streams.get((sym, "bbo"))
            if st is None or tk.get("bid") is None or tk.get("ask") is None:
                continue
            st.heard(now)
            info = tk.get("info") or {}
            uid = info.get("u") if isinstance(info, dict) else None
            if uid is not None and st.last_id is not None and int(uid) <= st.last_id:
                st.count(out_of_order=1) if int(uid) < st.last_id else st.count(duplicates=1)
                continue
            st.last_id = int(uid) if uid is not None else st.last_id
            st.write(
                [
                    (
                        now,
                        uid if uid is not None else "",
                        num(tk["bid"]),
                        num(tk.get("bidVolume") or 0.0),
                        num(tk["ask"]),
                        num(tk.get("askVolume") or 0.0),
                    )
                ],
                now,
            )

    # --- the book --------------------------------------------------------------------------------------------------
    def _snapshot_rows(self, symbol: str, now: int) -> list[tuple[Any, ...]]:
        state = self.books.get(symbol)
        if state is None:
            return []
        bids, asks, nonce, ts_ms = state
        return [(now, ts_ms or "", "snapshot", "bid", num(p), num(q), "", nonce, "") for p, q in bids.items()] + [
            (now, ts_ms or "", "snapshot", "ask", num(p), num(q), "", nonce, "") for p, q in asks.items()
        ]

    def _on_book(self, symbol: str, book: Any) -> None:
        now = time.time_ns()
        st = self.streams[(symbol, "depth")]
        st.heard(now)
        nonce = int(book.get("nonce") or 0)
        ts_ms = int(book.get("timestamp") or 0)
        bids = {float(lv[0]): float(lv[1]) for lv in book["bids"]}
        asks = {float(lv[0]): float(lv[1]) for lv in book["asks"]}
        prev = self.books.get(symbol)
        self.books[symbol] = (bids, asks, nonce, ts_ms)
        if prev is None:  # the first book, or one taken again after a gap: a snapshot
            if not st.file.ensure_open(now):  # (a new file opens with it anyway)
                st.write(self._snapshot_rows(symbol, now), now)
            return
        old_bids, old_asks, old_nonce, _ = prev
        if nonce <= old_nonce:
            return
        rows: list[tuple[object, ...]] = []
        for side, new, old in (("bid", bids, old_bids), ("ask", asks, old_asks)):
            for p, q in new.items():
                if old.get(p) != q:
                    rows.append((now, ts_ms or "", "update", side, num(p), num(q), old_nonce + 1, nonce, ""))
            for p in old.keys() - new.keys():
                rows.append((now, ts_ms or "", "update", side, num(p), "0.0", old_nonce + 1, nonce, ""))
        if rows:
            st.write(rows, now)
