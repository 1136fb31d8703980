"""What every importer shares: the output files (one per symbol and kind), the count of rows refused by reason,
the gaps seen, and the checks of a price, a size and a time."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot4.marketdata.client import DataError
from bot4.marketdata.files import TableWriter


def file_tag(path: Path) -> str:
    """The part of an input's name an output keeps: its date (2024-08-08 or 20240808), else its stem."""
    m = re.search(r"\d{4}-\d{2}-\d{2}|(?<!\d)\d{8}(?!\d)", path.name)
    return m[0] if m else path.name.split(".")[0]


class Refused(ValueError):
    """One row refused; its message is the reason's name (counted, the import goes on)."""


def price(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise Refused("malformed") from None
    if math.isnan(v) or math.isinf(v):
        raise Refused("malformed")
    if v <= 0:
        raise Refused("non_positive_price")
    return v


def size(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise Refused("malformed") from None
    if math.isnan(v) or math.isinf(v):
        raise Refused("malformed")
    if v < 0:
        raise Refused("negative_size")
    return v


def integer(text: object) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise Refused("malformed") from None


def to_ms(stamp: int) -> int:
    """An epoch time in ms, s, us or ns (told apart by size, as Binance's dumps moved from ms to us) as ms."""
    if stamp >= 10**17:
        return stamp // 1_000_000
    if stamp >= 10**14:
        return stamp // 1000
    if stamp >= 10**11:
        return stamp
    if stamp >= 10**8:
        return stamp * 1000
    raise Refused("bad_timestamp")


@dataclass
class ImportResult:
    """One input file's import: the files written (path -> rows), rows refused by reason, gaps by kind."""

    source: Path
    fmt: str
    written: dict[str, int] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    gaps: Counter[str] = field(default_factory=Counter)  # e.g. "BTCUSDT trade ids": jumps seen
    rows_read: int = 0


class Outputs:
    """The files an import writes into ``out_dir``: ``<exchange>_<MARKET>_<kind>_<tag>.csv.gz``, refused when one
    is already there (an import never appends to, or replaces, a file)."""

    def __init__(self, out_dir: Path, exchange: str, tag: str, result: ImportResult) -> None:
        self.out_dir, self.exchange, self.tag, self.result = out_dir, exchange, tag, result
        self._writers: dict[tuple[str, str], TableWriter] = {}

    def path(self, market: str, kind: str) -> Path:
        return self.out_dir / f"{self.exchange}_{market}_{kind}_{self.tag}.csv.gz"

    def write(self, market: str, kind: str, rows: Sequence[Sequence[object]]) -> None:
        w = self._writers.get((market, kind))
        if w is None:
            path = self.path(market, kind)
            if path.exists():
                self.abandon()
                raise DataError(f"{path} exists: an import writes new files only; remove it or give another --out")
            w = self._writers[(market, kind)] = TableWriter(path.with_name(path.name + ".part"), kind)
        w.write(rows)

    def close(self) -> None:
        for (market, kind), w in self._writers.items():
            w.close()
            final = self.path(market, kind)
            Path(w.path).replace(final)
            self.result.written[str(final)] = w.rows
        self._writers.clear()

    def abandon(self) -> None:
        """An import that failed part-way leaves no half file behind."""
        for w in self._writers.values():
            w.close()
            Path(w.path).unlink(missing_ok=True)
        self._writers.clear()
