"""Tardis.dev CSV datasets (``<exchange>_<type>_<date>_<SYMBOL>.csv.gz``): ``trades``, ``quotes`` and
``incremental_book_L2``, told apart by their header (columns found by name):

- trades: ``exchange, symbol, timestamp, local_timestamp, id, side, price, amount``;
- quotes: ``exchange, symbol, timestamp, local_timestamp, ask_amount, ask_price, bid_price, bid_amount``;
- incremental_book_L2: ``exchange, symbol, timestamp, local_timestamp, is_snapshot, side, price, amount``.

Times are microseconds: ``local_timestamp`` (when Tardis received it) becomes ``local_ts_ns`` and ``timestamp`` (the
exchange's) ``exch_ts_ms``. Trades become ``trades`` files (side ``unknown`` written empty), quotes ``bbo`` files (a
side left empty by Tardis is refused as ``one_sided``), the book ``depth`` files (a run of ``is_snapshot`` rows is a
snapshot; Tardis carries no update ids, so those columns stay empty). One output per symbol in the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

from bot4.marketdata.client import DataError
from bot4.marketdata.files import num
from bot4.marketdata.imports.common import ImportResult, Outputs, Refused, file_tag, integer, price, size

BASE = ("exchange", "symbol", "timestamp", "local_timestamp")
KINDS = {
    "trades": ({"id", "side", "price", "amount"}, "trades"),
    "quotes": ({"ask_amount", "ask_price", "bid_price", "bid_amount"}, "bbo"),
    "incremental_book_L2": ({"is_snapshot", "side", "price", "amount"}, "depth"),
}


def tardis_kind(header: list[str]) -> str | None:
    if tuple(header[:4]) != BASE:
        return None
    cols = set(header)
    for name, (needed, _) in KINDS.items():
        if needed <= cols:
            return name
    return None


def _open(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def _row(kind: str, col: dict[str, int], row: list[str]) -> tuple[object, ...]:
    if len(row) < len(col):
        raise Refused("malformed")
    local_ns = integer(row[col["local_timestamp"]]) * 1000
    exch_ms = integer(row[col["timestamp"]]) // 1000
    if kind == "trades":
        side = row[col["side"]].strip().lower()
        if side not in ("buy", "sell", "unknown", ""):
            raise Refused("malformed")
        return (
            local_ns,
            exch_ms,
            row[col["id"]],
            num(price(row[col["price"]])),
            num(size(row[col["amount"]])),
            "" if side == "unknown" else side,
        )
    if kind == "quotes":
        if not row[col["bid_price"]] or not row[col["ask_price"]]:
            raise Refused("one_sided")
        bid, ask = price(row[col["bid_price"]]), price(row[col["ask_price"]])
        if ask < bid:
            raise Refused("crossed_book")
        return (local_ns, "", num(bid), num(size(row[col["bid_amount"]])), num(ask), num(size(row[col["ask_amount"]])))
    side = row[col["side"]].strip().lower()
    if side not in ("bid", "ask"):
        raise Refused("malformed")
    snapshot = row[col["is_snapshot"]].strip().lower() == "true"
    return (
        local_ns,
        exch_ms,
        "snapshot" if snapshot else "update",
        side,
        num(price(row[col["price"]])),
        num(size(row[col["amount"]])),
        "",
        "",
        "",
    )


def import_tardis(path: Path, out_dir: Path) -> ImportResult:
    result = ImportResult(path, "tardis")
    outputs: Outputs | None = None
    try:
        with _open(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            kind = tardis_kind(header or [])
            if header is None or kind is None:
                raise DataError(
                    f"{path}: not a Tardis trades, quotes or incremental_book_L2 CSV (header {','.join(header or [])})"
                )
            col = {name: i for i, name in enumerate(header)}
            out_kind = KINDS[kind][1]
            exchange = ""
            batches: dict[str, list[tuple[object, ...]]] = {}
            for row in reader:
                result.rows_read += 1
                try:
                    rec = _row(kind, col, row)
                except Refused as why:
                    result.refused[str(why)] += 1
                    continue
                market = row[col["symbol"]].replace("/", "").replace("-", "").upper()
                if outputs is None:
                    exchange = row[col["exchange"]] or "tardis"
                    outputs = Outputs(out_dir, exchange, file_tag(path), result)
                batch = batches.setdefault(market, [])
                batch.append(rec)
                if len(batch) >= 10_000:
                    outputs.write(market, out_kind, batch)
                    batch.clear()
            for market, batch in batches.items():
                if batch and outputs is not None:
                    outputs.write(market, out_kind, batch)
    except (UnicodeDecodeError, OSError, EOFError, zlib.error, csv.Error) as exc:
        if outputs is not None:
            outputs.abandon()
        raise DataError(f"{path}: the file is damaged or not text ({type(exc).__name__}: {exc})") from None
    if outputs is not None:
        outputs.close()
    return result
