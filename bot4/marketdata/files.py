"""bot4's market-data files: one schema per kind, rows appended to CSV (gzip-compressed when the name ends in .gz),
and a file's end read back so a rerun continues where it stopped.

The schemas are those the replay loader (:mod:`bot4.venues.replay`) reads and the shared data set uses:

- ``trades`` (a capture: receive time first, so trade and book files interleave as they arrived),
- ``trades_exch`` (history from an exchange: its own time only),
- ``bbo`` (best bid and ask), ``bars`` (candles, stamped at their open), ``depth`` (L2: snapshot and diff rows).

A gzip file is written as members that each end cleanly (one per writer session), so appending to it later is
appending a member. A write cut short (the process killed) leaves a damaged last member; :func:`scan` keeps every
complete row before it, rewrites the file without the damage and says how many rows that kept.
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

SCHEMAS: dict[str, tuple[str, ...]] = {
    # local_ts_ns: when the recorder received it (ns); exch_ts_ms: the exchange's trade time (ms);
    # side: the taker's (buy = the buyer took liquidity)
    "trades": ("local_ts_ns", "exch_ts_ms", "trade_id", "price", "qty", "side"),
    # timestamp_ms: the exchange's trade time (ms); trade_id: the exchange's (aggregate) trade id
    "trades_exch": ("timestamp_ms", "trade_id", "price", "qty", "side"),
    # update_id: the exchange's book update id of this best bid/ask (empty when the source has none)
    "bbo": ("local_ts_ns", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"),
    # timestamp_ms: the candle's OPEN time (ms); volume in base units
    "bars": ("timestamp_ms", "open", "high", "low", "close", "volume"),
    # event: snapshot | update; side: bid | ask; qty 0 deletes the level; first/last_update_id: the diff's U and u
    # (a snapshot row carries the snapshot's lastUpdateId in last_update_id); prev_last_update_id: pu (futures)
    "depth": (
        "local_ts_ns",
        "exch_ts_ms",
        "event",
        "side",
        "price",
        "qty",
        "first_update_id",
        "last_update_id",
        "prev_last_update_id",
    ),
}


class DataFileError(ValueError):
    """A market-data file cannot be used as asked (another kind's file, unreadable); the message names it."""


def kind_of(header: Sequence[str]) -> str | None:
    """The schema a header is, or None."""
    for kind, cols in SCHEMAS.items():
        if tuple(header) == cols:
            return kind
    return None


def _is_gz(path: Path) -> bool:
    return ".gz" in path.suffixes  # x.csv.gz, and its .part / .repair while being written


class _Chunks:
    """The decompressed bytes of a file (every gzip member in turn). A damaged or cut-short gzip member ends the
    data there without an error, so a reader sees exactly what was written whole; ``complete`` says whether the
    file ended cleanly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.complete = True

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            if not _is_gz(self.path):
                yield from iter(lambda: fh.read(1 << 20), b"")
                return
            dec = zlib.decompressobj(wbits=31)
            in_member = False  # bytes of a member fed in, its end not yet seen
            while raw := fh.read(1 << 20):
                while raw:
                    in_member = True
                    try:
                        out = dec.decompress(raw)
                    except zlib.error:
                        self.complete = False
                        return
                    if out:
                        yield out
                    if not dec.eof:
                        break
                    in_member = False
                    raw = dec.unused_data  # the next member starts here
                    dec = zlib.decompressobj(wbits=31)
            self.complete = not in_member


def _lines(chunks: _Chunks) -> Iterator[str]:
    """Every line, the last one without its newline when the write stopped inside it."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            yield from data[:cut].decode("utf-8").splitlines(keepends=True)
        rest = data[cut:]
    if rest:
        yield rest.decode("utf-8", errors="replace")


@dataclass
class FileEnd:
    """What :func:`scan` found: the rows there are, the last one, and whether a damaged tail was cut off."""

    rows: int = 0
    last: list[str] | None = None
    cut_tail: bool = False  # a write cut short was cut back to its last complete row


def scan(path: str | Path, kind: str) -> FileEnd:
    """Read a file of ``kind`` to its end (a missing or empty file: no rows); a damaged tail is cut back."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return FileEnd()
    rows, last, damaged = 0, None, False
    header: list[str] | None = None
    chunks = _Chunks(path)
    try:
        for line in _lines(chunks):
            if not line.endswith("\n"):
                damaged = True  # a last line without its end: the write stopped inside it
                break
            if header is None:
                header = next(csv.reader([line]))
                if kind_of(header) != kind:
                    raise DataFileError(
                        f"{path}: its header {','.join(header)} is not a {kind} file "
                        f"({','.join(SCHEMAS[kind])}); give another file name"
                    )
                continue
            rows += 1
            last = line
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a text (CSV) file; give another file name") from None
    damaged = damaged or not chunks.complete
    if header is None:
        if damaged:
            path.unlink()  # not even a header survived: start the file again
        return FileEnd(cut_tail=damaged)
    if damaged:
        _keep_lines(path, rows + 1)
    return FileEnd(rows=rows, last=next(csv.reader([last])) if last else None, cut_tail=damaged)


def _keep_lines(path: Path, n: int) -> None:
    """Rewrite ``path`` with its first ``n`` lines (all complete), streamed, then put it in place at once."""
    tmp = path.with_name(path.name + ".repair")
    with _open_write(tmp, append=False) as out:
        for i, line in enumerate(_lines(_Chunks(path))):
            if i >= n:
                break
            out.write(line)
    os.replace(tmp, path)


def _open_write(path: Path, append: bool) -> IO[str]:
    mode = "a" if append else "w"
    if _is_gz(path):
        return gzip.open(path, mode + "t", compresslevel=6, encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8", newline="")  # noqa: SIM115


class TableWriter:
    """Rows of one schema appended to a file; the header is written when the file is new."""

    def __init__(self, path: str | Path, kind: str) -> None:
        self.path = Path(path)
        self.kind = kind
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = _open_write(self.path, append=not fresh)
        self._csv = csv.writer(self._fh, lineterminator="\n")
        if fresh:
            self._csv.writerow(SCHEMAS[kind])

    def write(self, rows: Iterable[Sequence[object]]) -> int:
        n = 0
        for row in rows:
            self._csv.writerow(row)
            n += 1
        self.rows += n
        return n

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def num(value: float) -> str:
    """A price or size as the file keeps it: the shortest decimal (never an exponent) that reads back as the same
    float."""
    return np.format_float_positional(float(value), unique=True, trim="-")
