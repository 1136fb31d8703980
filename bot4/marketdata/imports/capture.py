"""The capture format hftbacktest records: one line per websocket message, ``<local_ts_ns> <json>``, the JSON as
Binance sent it (combined-stream ``{"stream": …, "data": …}`` or a raw event), plus the REST depth snapshots the
capture took (``{"lastUpdateId": …, "bids": …, "asks": …}``). The file may be gzip-compressed.

Per symbol, it becomes a ``trades`` file (``trade`` and ``aggTrade`` events), a ``bbo`` file (``bookTicker``) and a
``depth`` file (``depthUpdate`` diffs as ``update`` rows with their U / u / pu, each snapshot as ``snapshot`` rows
carrying its lastUpdateId), every row stamped with the capture's own receive time, in file order. A snapshot names
no symbol: it is the symbol given (``--symbol``), else the only one the file's streams carry so far, else the one
its file name starts with (``btcusdt_20240808.gz``). The same snapshot captured twice in a row is written once.
Gaps are counted: depth diffs whose U is not the previous u + 1, trade ids that jump.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import Any

from bot4.marketdata.client import DataError
from bot4.marketdata.files import num
from bot4.marketdata.imports.common import ImportResult, Outputs, Refused, file_tag, integer, price, size

LINE = re.compile(rb"^\d{9,20} [\[{]")


def looks_like_capture(head: bytes) -> bool:
    return LINE.match(head) is not None


def _open(path: Path) -> io.BufferedIOBase:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # type: ignore[return-value]  # noqa: SIM115


class _State:
    def __init__(self, symbol: str | None, path: Path) -> None:
        self.given = symbol
        stem = re.match(r"^([a-z0-9]+)_", path.name.lower())
        self.from_name = stem[1].upper() if stem else None
        self.seen: set[str] = set()
        self.last_u: dict[str, int] = {}
        self.last_trade: dict[str, int] = {}
        self.last_snapshot: bytes | None = None

    def snapshot_symbol(self) -> str:
        if self.given:
            return self.given
        if len(self.seen) == 1:
            return next(iter(self.seen))
        if self.from_name:
            return self.from_name
        raise Refused("snapshot_without_symbol")


def _levels(levels: Any) -> list[tuple[str, str]]:
    return [(num(price(p)), num(size(q))) for p, q in levels]


def _event(ts: int, msg: dict[str, Any], st: _State, result: ImportResult) -> tuple[str, str, list[tuple[object, ...]]]:
    data = msg.get("data", msg) if "stream" in msg else msg
    if not isinstance(data, dict):
        raise Refused("malformed")
    ev = data.get("e")
    sym = str(data.get("s", "")).upper()
    if ev in ("trade", "aggTrade"):
        tid = integer(data["t"] if ev == "trade" else data["a"])
        row = (ts, integer(data["T"]), tid, num(price(data["p"])), num(size(data["q"])), "sell" if data["m"] else "buy")
        last = st.last_trade.get(sym)  # (a refused trade is no jump: only kept ones are compared)
        if last is not None and tid != last + 1:
            result.gaps[f"{sym} trade ids"] += 1
        st.last_trade[sym] = tid
        st.seen.add(sym)
        return sym, "trades", [row]
    if ev == "depthUpdate":
        first, last_u = integer(data["U"]), integer(data["u"])
        exch, pu = integer(data["E"]), data.get("pu", "")
        rows: list[tuple[object, ...]] = [
            (ts, exch, "update", side, p, q, first, last_u, pu)
            for side, key in (("bid", "b"), ("ask", "a"))
            for p, q in _levels(data.get(key, []))
        ]
        prev = st.last_u.get(sym)
        if prev is not None and first != prev + 1 and data.get("pu") is None:
            result.gaps[f"{sym} depth update ids"] += 1
        st.last_u[sym] = last_u
        st.seen.add(sym)
        return sym, "depth", rows
    if ev is None and {"u", "b", "a", "B", "A"} <= data.keys():  # bookTicker: the one event without "e"
        st.seen.add(sym)
        bid, ask = price(data["b"]), price(data["a"])
        if ask < bid:
            raise Refused("crossed_book")
        return sym, "bbo", [(ts, integer(data["u"]), num(bid), num(size(data["B"])), num(ask), num(size(data["A"])))]
    if "lastUpdateId" in data and "bids" in data:
        sym = st.snapshot_symbol()
        uid = integer(data["lastUpdateId"])
        rows = [
            (ts, "", "snapshot", side, p, q, "", uid, "")
            for side, key in (("bid", "bids"), ("ask", "asks"))
            for p, q in _levels(data[key])
        ]
        return sym, "depth", rows
    raise Refused(f"unknown_event_{ev}" if ev else "unknown_message")


def import_capture(path: Path, out_dir: Path, symbol: str | None = None) -> ImportResult:
    result = ImportResult(path, "capture")
    st = _State(symbol.replace("/", "").upper() if symbol else None, path)
    outputs = Outputs(out_dir, "binance", file_tag(path), result)
    batches: dict[tuple[str, str], list[tuple[object, ...]]] = {}
    try:
        with _open(path) as fh:
            for raw in fh:
                result.rows_read += 1
                stamp, _, body = raw.partition(b" ")
                try:
                    ts = integer(stamp.decode("ascii", "replace"))
                    msg = json.loads(body)
                    if not isinstance(msg, dict):
                        raise Refused("malformed")
                    if "lastUpdateId" in msg:
                        if body == st.last_snapshot:
                            result.refused["duplicate_snapshot"] += 1
                            continue
                        st.last_snapshot = body
                    sym, kind, rows = _event(ts, msg, st, result)
                except (Refused, KeyError, TypeError, ValueError) as why:
                    result.refused[str(why) if isinstance(why, Refused) else "malformed"] += 1
                    continue
                batch = batches.setdefault((sym, kind), [])
                batch.extend(rows)
                if len(batch) >= 10_000:
                    outputs.write(sym, kind, batch)
                    batch.clear()
        for (sym, kind), batch in batches.items():
            if batch:
                outputs.write(sym, kind, batch)
    except (OSError, EOFError, zlib.error) as exc:
        outputs.abandon()
        raise DataError(f"{path}: the file is damaged ({type(exc).__name__}: {exc}); nothing was written") from None
    except DataError:
        outputs.abandon()
        raise
    outputs.close()
    return result
