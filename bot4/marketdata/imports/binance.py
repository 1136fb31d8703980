"""Binance's public data dumps (data.binance.vision): ``<SYMBOL>-trades-<date>.zip``, ``<SYMBOL>-aggTrades-<date>.zip``
and ``<SYMBOL>-<interval>-<date>.zip`` (klines), each a zip holding one CSV.

The spot files have no header; the futures files have one (skipped). Columns as Binance publishes them:

- trades: ``id, price, qty, quote_qty, time, is_buyer_maker[, is_best_match]``;
- aggTrades: ``agg_trade_id, price, qty, first_trade_id, last_trade_id, time, is_buyer_maker[, is_best_match]``;
- klines: ``open_time, open, high, low, close, volume, close_time, quote_volume, count, taker_buy_volume,
  taker_buy_quote_volume, ignore``.

Times are in ms, and in microseconds in the spot files from 2025 on: each is read by its size. Trades and aggTrades
become ``trades_exch`` files (the taker's side: ``sell`` when the buyer was the maker), klines ``bars`` files.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from bot4.marketdata.client import DataError
from bot4.marketdata.files import num
from bot4.marketdata.imports.common import ImportResult, Outputs, Refused, integer, price, size, to_ms

NAME = re.compile(r"^(?P<market>[A-Z0-9]+)-(?P<kind>trades|aggTrades|\d+[smhdwM])-(?P<date>\d{4}-\d{2}(-\d{2})?)")
MAKER = {"true": "sell", "false": "buy"}  # is_buyer_maker -> the taker's side


def parse_name(path: Path) -> tuple[str, str, str]:
    """(market id, kind, date) from a dump's file name; a clear error for a name Binance does not use."""
    m = NAME.match(path.name)
    if m is None:
        raise DataError(
            f"{path.name}: not a Binance dump name (<SYMBOL>-trades-<date>.zip, <SYMBOL>-aggTrades-<date>.zip or "
            "<SYMBOL>-<interval>-<date>.zip, e.g. BTCUSDT-1m-2024-08-08.zip)"
        )
    return m["market"], m["kind"], m["date"]


def _trade(row: list[str], agg: bool) -> tuple[object, ...]:
    if len(row) < (7 if agg else 6):
        raise Refused("malformed")
    tid = integer(row[0])
    px, qty = price(row[1]), size(row[2])
    ts = to_ms(integer(row[5] if agg else row[4]))
    side = MAKER.get((row[6] if agg else row[5]).strip().lower())
    if side is None:
        raise Refused("malformed")
    return (ts, tid, num(px), num(qty), side)


def _kline(row: list[str]) -> tuple[object, ...]:
    if len(row) < 6:
        raise Refused("malformed")
    ts = to_ms(integer(row[0]))
    o, h, low, c = (price(x) for x in row[1:5])
    vol = size(row[5])
    if not (low <= min(o, c) and h >= max(o, c)):
        raise Refused("inconsistent_bar")
    return (ts, num(o), num(h), num(low), num(c), num(vol))


def import_dump(path: Path, out_dir: Path) -> ImportResult:
    market, kind, date = parse_name(path)
    result = ImportResult(path, "binance")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from None
    with archive:
        members = [n for n in archive.namelist() if n.endswith(".csv")]
        if len(members) != 1:
            raise DataError(f"{path}: a Binance dump holds one CSV, this holds {len(members)}")
        out_kind = "bars" if kind not in ("trades", "aggTrades") else "trades_exch"
        tag = f"{kind}_{date}" if out_kind == "bars" else date
        outputs = Outputs(out_dir, "binance", tag, result)
        last_id: int | None = None
        try:
            with archive.open(members[0]) as raw:
                reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
                batch: list[tuple[object, ...]] = []
                for n, row in enumerate(reader):
                    if n == 0 and row and not row[0].strip().isdigit():
                        continue  # the futures files' header
                    result.rows_read += 1
                    try:
                        rec = _kline(row) if out_kind == "bars" else _trade(row, kind == "aggTrades")
                    except Refused as why:
                        result.refused[str(why)] += 1
                        continue
                    if out_kind != "bars":
                        tid = int(rec[1])  # type: ignore[call-overload]
                        if last_id is not None and tid != last_id + 1:
                            result.gaps[f"{market} trade ids"] += 1
                        last_id = tid
                    batch.append(rec)
                    if len(batch) >= 10_000:
                        outputs.write(market, out_kind, batch)
                        batch = []
                if batch:
                    outputs.write(market, out_kind, batch)
        except (UnicodeDecodeError, zipfile.BadZipFile, OSError, EOFError, csv.Error) as exc:
            outputs.abandon()
            raise DataError(f"{path}: the archive is damaged ({type(exc).__name__}: {exc})") from None
        outputs.close()
    return result
