"""A recording's files: one stream of one symbol into a file per period, each with a sidecar of what it holds.

A file being written is named ``….csv.gz.part``; when its period ends (or the recording stops) it is closed, renamed
to its final name and given its sidecar ``….csv.gz.json`` (rows, first and last receive time, the gaps counted while
it was written). So every file without ``.part`` is whole. A recording killed outright leaves a ``.part``:
:func:`finish_parts` (run when a recording starts in that directory) cuts it back to its last complete row and
finishes it the same way, its sidecar saying it was salvaged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot4.marketdata.files import SCHEMAS, TableWriter, kind_of, scan

NS = 1_000_000_000


@dataclass
class Gaps:
    """What went missing or wrong in a stream, counted (never fatal)."""

    sequence: int = 0  # jumps in the exchange's ids (trade ids, book update ids): messages lost
    missing_ids: int = 0  # ids skipped by those jumps (trades)
    time: int = 0  # silences longer than the recorder's max_silence_s
    longest_silence_s: float = 0.0
    out_of_order: int = 0  # ids going backwards (dropped)
    duplicates: int = 0  # ids seen before (dropped)
    resyncs: int = 0  # book snapshots taken again after a gap or a reconnect
    reconnects: int = 0  # stream errors after which the stream was opened again

    def add(self, other: Gaps) -> None:
        for name, value in asdict(other).items():
            if name == "longest_silence_s":
                self.longest_silence_s = max(self.longest_silence_s, value)
            else:
                setattr(self, name, getattr(self, name) + value)


@dataclass
class FileInfo:
    """A finished file and its sidecar's content."""

    path: str
    exchange: str
    symbol: str
    kind: str
    rows: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    gaps: Gaps = field(default_factory=Gaps)
    salvaged: bool = False


def file_stamp(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _finish(part: Path, info: FileInfo) -> Path:
    final = part.with_name(part.name.removesuffix(".part"))
    os.replace(part, final)
    info.path = str(final)
    sidecar = final.with_name(final.name + ".json")
    sidecar.write_text(json.dumps({**asdict(info), "schema": list(SCHEMAS[info.kind])}, indent=1) + "\n")
    return final


class RotatingFile:
    """One stream of one symbol (``kind``: a schema name) into a new file every ``rotate_s`` seconds of wall time
    (periods aligned to the epoch: hourly files start on the hour). ``opening(now_ns)`` gives the rows every new
    file starts with (the book's snapshot, so each depth file replays on its own)."""

    def __init__(
        self,
        out_dir: Path,
        exchange: str,
        symbol: str,
        kind: str,
        rotate_s: float,
        opening: Callable[[int], Iterable[Sequence[Any]]] | None = None,
    ) -> None:
        self.out_dir, self.exchange, self.symbol, self.kind = out_dir, exchange, symbol, kind
        self.rotate_ns = int(rotate_s * NS)
        self.opening = opening
        self.market = symbol.replace("/", "").replace(":", "_")
        self.finished: list[FileInfo] = []
        self.gaps = Gaps()  # the current file's
        self._writer: TableWriter | None = None
        self._info: FileInfo | None = None
        self._ends_ns = 0

    def _open(self, now_ns: int) -> None:
        period = now_ns - now_ns % self.rotate_ns
        self._ends_ns = period + self.rotate_ns
        name = f"{self.exchange}_{self.market}_{self.kind}_{file_stamp(now_ns)}.csv.gz.part"
        path = self.out_dir / name
        self._writer = TableWriter(path, self.kind)
        self._info = FileInfo(str(path), self.exchange, self.symbol, self.kind)
        self.gaps = Gaps()
        if self.opening is not None:
            self._rows(list(self.opening(now_ns)))

    def _rows(self, rows: list[Sequence[Any]]) -> None:
        assert self._writer is not None and self._info is not None
        if not rows:
            return
        self._writer.write(rows)
        self._info.rows += len(rows)
        first, last = int(rows[0][0]), int(rows[-1][0])
        self._info.first_ts_ns = first if self._info.first_ts_ns is None else self._info.first_ts_ns
        self._info.last_ts_ns = last

    def ensure_open(self, now_ns: int) -> bool:
        """Make the file for ``now_ns`` the open one; True when that started a new file (with its opening rows)."""
        if self._writer is not None and now_ns >= self._ends_ns:
            self.close()
        if self._writer is None:
            self._open(now_ns)
            return True
        return False

    def write(self, rows: list[Sequence[Any]], now_ns: int) -> None:
        """Append rows (their first field: the receive time, ns), starting a new file when the period is over."""
        self.ensure_open(now_ns)
        self._rows(rows)

    def close(self) -> None:
        if self._writer is None or self._info is None:
            return
        self._writer.close()
        self._info.gaps = self.gaps
        if self._info.rows == 0:
            Path(self._writer.path).unlink()  # a file with a header only holds nothing to replay
        else:
            _finish(Path(self._writer.path), self._info)
            self.finished.append(self._info)
        self._writer, self._info = None, None


def finish_parts(out_dir: Path) -> list[FileInfo]:
    """Finish every ``.part`` a killed recording left in ``out_dir``: cut back to its last whole row, renamed, with a
    sidecar marked salvaged. A ``.part`` that is not one of bot4's files is left alone."""
    done = []
    for part in sorted(out_dir.glob("*.csv*.part")):
        kind = _kind_of_file(part)
        if kind is None:
            continue
        end = scan(part, kind)
        if end.rows == 0:
            part.unlink(missing_ok=True)
            continue
        stem = part.name.split("_")
        info = FileInfo(str(part), stem[0], stem[1] if len(stem) > 1 else "", kind, rows=end.rows, salvaged=True)
        if end.last is not None and end.last[0].isdigit():
            info.last_ts_ns = int(end.last[0])
        _finish(part, info)
        done.append(info)
    return done


def _kind_of_file(path: Path) -> str | None:
    import gzip
    import zlib

    try:
        opener = gzip.open if ".gz" in path.suffixes else open
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            return kind_of(fh.readline().rstrip("\n").split(","))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None
