"""Journal: restore positions, open orders, peak and state; refuse foreign or damaged files."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot4.core.records import ACTION_SUBMIT, EXEC_ACK, EXEC_CANCELED, EXEC_FILL, FILL_DTYPE, ORDER_DTYPE, STATE_HALTED
from bot4.runtime.journal import Journal, JournalError

SYMS = ("BTC/USDT", "ETH/USDT")


def order(coid: int, sym: int, side: int, size: float) -> np.ndarray:
    o = np.zeros(1, ORDER_DTYPE)
    o["client_order_id"], o["symbol_id"], o["side"], o["size"], o["action"] = coid, sym, side, size, ACTION_SUBMIT
    o["price"] = np.nan
    return o


def report(coid: int, sym: int, side: int, kind: int, price: float = 0.0, size: float = 0.0, fee: float = 0.0) -> np.ndarray:
    r = np.zeros(1, FILL_DTYPE)
    r["client_order_id"], r["symbol_id"], r["side"], r["kind"] = coid, sym, side, kind
    r["price"], r["size"], r["fee"] = price, size, fee
    return r


def test_restore_rebuilds_what_was_committed(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.restore().empty
    j.append_orders(order((1 << 14) | 3, 0, 1, 2.0), SYMS)
    j.append_reports(report((1 << 14) | 3, 0, 1, EXEC_ACK), SYMS)
    j.append_reports(report((1 << 14) | 3, 0, 1, EXEC_FILL, 100.0, 2.0, 0.1), SYMS)
    j.append_orders(order((2 << 14) | 4, 0, -1, 1.0), SYMS)
    j.append_reports(report((2 << 14) | 4, 0, -1, EXEC_FILL, 110.0, 1.0, 0.05), SYMS)
    j.append_orders(order((3 << 14) | 5, 1, 1, 5.0), SYMS)  # left open
    j.append_orders(order((4 << 14) | 6, 1, 1, 5.0), SYMS)
    j.append_reports(report((4 << 14) | 6, 1, 1, EXEC_CANCELED), SYMS)
    j.append_state(0, STATE_HALTED, 3, 1, 99_000.0, 0.01)
    j.append_equity(101_000.0, 101_500.0)
    j.close()
    r = Journal(tmp_path / "j.sqlite").restore()
    assert r.positions["BTC/USDT"] == (1.0, 100.0)
    assert r.realized["BTC/USDT"] == pytest.approx(10.0)
    assert r.fees["BTC/USDT"] == pytest.approx(0.15)
    assert [o["coid"] for o in r.open_orders] == [(3 << 14) | 5]
    assert r.trading_state == STATE_HALTED and r.halt_seq == 1
    assert r.peak_equity == 101_500.0
    assert r.order_seq == 4


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="not a bot4 journal"):
        Journal(path)


def test_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="cannot be read"):
        Journal(path)


def test_empty_journal_is_fresh(tmp_path: Path) -> None:
    r = Journal(tmp_path / "new.sqlite").restore()
    assert r.empty and math.isnan(r.peak_equity)


def test_a_read_only_journal_is_one_clear_line(tmp_path: Path) -> None:
    """An immutable or read-only journal file (F17): refused at open, naming what to do, not a traceback."""
    import sqlite3

    from bot4.runtime.journal import JournalError

    path = tmp_path / "j.sqlite"
    Journal(path).close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # what SQLite does with a file it cannot write
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.execute("CREATE TABLE x (a)")
    finally:
        ro.close()
    import bot4.runtime.journal as journal_mod

    real = journal_mod.sqlite3.connect
    journal_mod.sqlite3.connect = lambda p, **kw: real(f"file:{p}?mode=ro", uri=True, **kw)  # type: ignore[assignment]
    try:
        with pytest.raises(JournalError, match="read-only"):
            Journal(path)
    finally:
        journal_mod.sqlite3.connect = real  # type: ignore[assignment]
