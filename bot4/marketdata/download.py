"""History through ccxt into bot4's files: trades (``fetch_trades``, paged by trade id) and candles
(``fetch_ohlcv``, paged by time), resumable.

A rerun with the same file continues where the file ends: trades from the trade id after its last row, candles from
the candle after its last one, so nothing is fetched twice and nothing is skipped (a file cut short by a kill is cut
back to its last complete row first). Only complete candles are written (none still forming). Holes in what the
exchange sends (trade ids that jump, candles missing) are not errors: they are counted and reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bot4.marketdata.client import DataError
from bot4.marketdata.files import TableWriter, num, scan

HOUR_MS = 3_600_000
PAGE = 1000  # Binance's largest page for trades and candles
RETRIES = 5


@dataclass(frozen=True)
class DownloadSpec:
    """What to fetch: ``what`` is "trades" or "bars" (candles of ``timeframe``), [ts_from_ms, ts_to_ms)."""

    symbol: str
    what: str
    ts_from_ms: int
    ts_to_ms: int
    path: Path
    timeframe: str = "1m"


@dataclass
class DownloadResult:
    """What a download did; ``holes``: jumps in trade ids or missing candles, ``missing``: ids or candles skipped."""

    path: Path
    rows_before: int = 0
    rows_added: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    cut_tail: bool = False  # the file had a damaged end (an interrupted run), cut back before continuing
    holes: int = 0
    missing: int = 0
    pages: int = 0
    note: str = ""


Progress = Callable[[int, int], None]


async def _call(what: str, fn: Callable[[], Awaitable[Any]], result: DownloadResult) -> Any:
    """One ccxt call, retried with back-off on network errors and rate limits; other refusals end the download."""
    import ccxt

    for attempt in range(RETRIES):
        try:
            return await fn()
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:  # timeouts, 429/5xx, connection refused
            if attempt == RETRIES - 1:
                raise DataError(
                    f"{what}: the exchange failed {RETRIES} times in a row ({type(exc).__name__}: {str(exc)[:160]}); "
                    f"the {result.rows_added:,} rows fetched so far are in {result.path}: run the same command "
                    "again to continue from there"
                ) from None
            await asyncio.sleep(0.25 * 2**attempt)
        except ccxt.BaseError as exc:
            raise DataError(
                f"{what}: the exchange refused the request ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
    raise AssertionError("unreachable")


async def download(client: Any, spec: DownloadSpec, progress: Progress | None = None) -> DownloadResult:
    """Fetch ``spec`` into ``spec.path`` (appending to what is there); markets must be loaded."""
    if spec.ts_to_ms <= spec.ts_from_ms:
        raise DataError(f"the end ({spec.ts_to_ms}) is not after the start ({spec.ts_from_ms})")
    if spec.what == "trades":
        return await _trades(client, spec, progress)
    if spec.what == "bars":
        return await _bars(client, spec, progress)
    raise DataError(f"{spec.what!r}: bot4 downloads trades or bars")


def _report(progress: Progress | None, spec: DownloadSpec, at_ms: int) -> None:
    if progress is not None:
        span = spec.ts_to_ms - spec.ts_from_ms
        progress(min(span, max(0, at_ms - spec.ts_from_ms)), span)


async def _trades(client: Any, spec: DownloadSpec, progress: Progress | None) -> DownloadResult:
    end = scan(spec.path, "trades_exch")
    result = DownloadResult(spec.path, rows_before=end.rows, cut_tail=end.cut_tail)
    label = f"{spec.symbol} trades"
    next_id: int | None
    if end.last is not None:
        next_id, last_ms = int(end.last[1]) + 1, int(end.last[0])
        if last_ms >= spec.ts_to_ms:
            result.note = "the file already reaches --to"
            return result
        if last_ms < spec.ts_from_ms:
            result.note = "continued from the file's end, before --from (a file never gets a hole)"
    else:
        next_id = await _first_trade_id(client, spec, result)
        if next_id is None:
            result.note = "the exchange has no trades in that range"
            return result
    with TableWriter(spec.path, "trades_exch") as out:
        expected = next_id
        while True:
            page = await _call(
                label, partial(client.fetch_trades, spec.symbol, None, PAGE, {"fromId": next_id}), result
            )
            result.pages += 1
            if not page:
                result.note = result.note or "the exchange has no later trades"
                break
            rows = []
            reached_to = False
            for t in page:
                if t["timestamp"] >= spec.ts_to_ms:
                    reached_to = True
                    break
                tid = int(t["id"])
                if tid < expected:
                    continue  # sent again: already written
                if tid > expected:
                    result.holes += 1
                    result.missing += tid - expected
                expected = tid + 1
                rows.append((t["timestamp"], tid, num(t["price"]), num(t["amount"]), t["side"] or ""))
            if rows:
                result.first_ms = rows[0][0] if result.first_ms is None else result.first_ms
                result.last_ms = rows[-1][0]
                result.rows_added += out.write(rows)
                out.flush()
            _report(progress, spec, int(page[-1]["timestamp"]))
            if reached_to:
                break
            next_id = int(page[-1]["id"]) + 1
    return result


async def _first_trade_id(client: Any, spec: DownloadSpec, result: DownloadResult) -> int | None:
    """The id of the first trade at or after ``ts_from_ms``: windows of an hour (Binance's widest) until one has."""
    cursor = spec.ts_from_ms
    while cursor < spec.ts_to_ms:
        until = min(cursor + HOUR_MS, spec.ts_to_ms) - 1
        page = await _call(
            f"{spec.symbol} trades",
            partial(client.fetch_trades, spec.symbol, cursor, PAGE, {"until": until}),
            result,
        )
        result.pages += 1
        if page:
            return int(min(int(t["id"]) for t in page))
        cursor = until + 1
    return None


async def _bars(client: Any, spec: DownloadSpec, progress: Progress | None) -> DownloadResult:
    if spec.timeframe not in (client.timeframes or {}):
        raise DataError(
            f"--timeframe {spec.timeframe!r}: {client.id} has {', '.join(list(client.timeframes or {})[:16])}"
        )
    tf_ms = int(client.parse_timeframe(spec.timeframe) * 1000)
    end = scan(spec.path, "bars")
    result = DownloadResult(spec.path, rows_before=end.rows, cut_tail=end.cut_tail)
    if end.last is not None:
        cursor = int(end.last[0]) + tf_ms
        if cursor < spec.ts_from_ms:
            result.note = "continued from the file's end, before --from (a file never gets a hole)"
    else:
        cursor = -(-spec.ts_from_ms // tf_ms) * tf_ms  # (a history that starts later is no hole: see above)
    stop = min(spec.ts_to_ms, int(client.milliseconds()))  # a candle is written once it has closed
    label = f"{spec.symbol} {spec.timeframe} bars"
    with TableWriter(spec.path, "bars") as out:
        while cursor + tf_ms <= stop:
            since = cursor
            page = await _call(
                label,
                partial(client.fetch_ohlcv, spec.symbol, spec.timeframe, since, PAGE, {"until": stop - 1}),
                result,
            )
            result.pages += 1
            bars = [b for b in page if b[0] >= since and b[0] + tf_ms <= stop]
            if not bars:
                result.note = result.note or "the exchange has no later candles"
                break
            rows: list[tuple[object, ...]] = []
            for b in bars:
                if b[0] < cursor:
                    continue
                if b[0] > cursor and (result.rows_before or result.rows_added or rows):
                    result.holes += 1
                    result.missing += (b[0] - cursor) // tf_ms
                rows.append((b[0], num(b[1]), num(b[2]), num(b[3]), num(b[4]), num(b[5])))
                cursor = b[0] + tf_ms
            result.first_ms = int(bars[0][0]) if result.first_ms is None else result.first_ms
            result.last_ms = cursor - tf_ms
            result.rows_added += out.write(rows)
            out.flush()
            _report(progress, spec, cursor)
    return result
