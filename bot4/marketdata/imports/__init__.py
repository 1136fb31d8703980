"""Importers for the data formats traders have, into bot4's files: Binance's public dumps, Tardis CSV, and the
``<local_ts_ns> <json>`` websocket capture hftbacktest records. :func:`import_file` tells them apart."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from bot4.marketdata.client import DataError
from bot4.marketdata.imports.binance import import_dump
from bot4.marketdata.imports.capture import import_capture, looks_like_capture
from bot4.marketdata.imports.common import ImportResult
from bot4.marketdata.imports.tardis import import_tardis, tardis_kind

FORMATS = ("auto", "binance", "tardis", "capture")


def detect(path: Path) -> str:
    """The format of ``path``: a .zip is a Binance dump; else by the first line."""
    if path.suffix == ".zip":
        return "binance"
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        opener = gzip.open if gz else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            head = fh.readline(4096)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    if looks_like_capture(head):
        return "capture"
    if tardis_kind(head.decode("utf-8", "replace").strip().split(",")):
        return "tardis"
    raise DataError(
        f"{path}: not a format bot4 imports (a Binance dump .zip, a Tardis trades / quotes / incremental_book_L2 "
        "CSV, or a <local_ts_ns> <json> capture); give --format if it is one of them"
    )


def import_file(path: Path, out_dir: Path, fmt: str = "auto", symbol: str | None = None) -> ImportResult:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt not in FORMATS:
        raise DataError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    fmt = detect(path) if fmt == "auto" else fmt
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "binance":
        return import_dump(path, out_dir)
    if fmt == "tardis":
        return import_tardis(path, out_dir)
    return import_capture(path, out_dir, symbol)


__all__ = ["FORMATS", "ImportResult", "detect", "import_file"]
