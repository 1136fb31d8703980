"""bot4's market-data files: appends that read back whole, a write cut short cut back to its last complete row
(gzip or plain), and a file of another kind refused by name."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from bot4.marketdata.files import DataFileError, TableWriter, num, scan


def test_appends_are_gzip_members_that_read_back_as_one_file(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv.gz"
    for start in (0, 1000, 2000):
        with TableWriter(path, "bars") as w:
            w.write([(i, "1", "2", "0.5", "1.5", "10") for i in range(start, start + 1000)])
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0] == "timestamp_ms,open,high,low,close,volume" and len(lines) == 3001  # one header
    end = scan(path, "bars")
    assert end.rows == 3000 and end.last == ["2999", "1", "2", "0.5", "1.5", "10"] and not end.cut_tail


@pytest.mark.parametrize("name", ["t.csv.gz", "t.csv"])
def test_a_cut_short_write_is_cut_back_to_its_last_whole_row(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with TableWriter(path, "trades_exch") as w:
        w.write([(1723161255342 + i, 3735683259 + i, "61837.63", "0.02", "sell") for i in range(20_000)])
    os.truncate(path, path.stat().st_size - 37)  # the kill came in the middle of a row
    end = scan(path, "trades_exch")
    assert end.cut_tail and 0 < end.rows < 20_000
    assert end.last is not None and int(end.last[1]) == 3735683259 + end.rows - 1  # the rows kept are the first ones
    again = scan(path, "trades_exch")  # the file was rewritten whole: nothing more to cut
    assert not again.cut_tail and again.rows == end.rows and again.last == end.last


def test_another_kinds_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "x.csv.gz"
    with TableWriter(path, "bars") as w:
        w.write([(0, 1, 1, 1, 1, 1)])
    with pytest.raises(DataFileError, match="is not a trades_exch file"):
        scan(path, "trades_exch")
    assert scan(tmp_path / "missing.csv.gz", "bars").rows == 0


def test_numbers_are_plain_decimals_that_read_back_exactly() -> None:
    for v in (9e-05, 61837.63, 0.1 + 0.2, 1e-8, 123456789.125):
        text = num(v)
        assert "e" not in text and float(text) == v
