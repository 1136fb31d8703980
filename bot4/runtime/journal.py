"""The journal: every order intent, execution report and trading-state change, committed to SQLite before use.

SQLite in WAL mode; each batch is one transaction, committed before the orders it holds are sent to a venue or the
reports it holds are given to the core, so a crash (even ``kill -9``) never loses what was acted on. A restart
rebuilds positions, fees, realized PnL, open orders, the equity peak, the trading state and the order sequence from
it. A file that is not a bot4 journal, or is damaged, is refused with a clear error rather than started afresh.
"""

from __future__ import annotations

import math
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot4.core import records
from bot4.core.state import ORDER_SLOT_BITS

APP_ID = 0x626F7434  # "bot4" in the SQLite header's application_id
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, coid INTEGER NOT NULL, action INTEGER NOT NULL,
    symbol TEXT NOT NULL, side INTEGER NOT NULL, order_type INTEGER NOT NULL, tif INTEGER NOT NULL,
    flags INTEGER NOT NULL, price REAL, stop_px REAL, take_profit_px REAL, size REAL NOT NULL, gated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_coid ON orders (coid);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, coid INTEGER NOT NULL, kind INTEGER NOT NULL,
    symbol TEXT NOT NULL, side INTEGER NOT NULL, price REAL, size REAL NOT NULL, fee REAL NOT NULL,
    leaves REAL NOT NULL, reason INTEGER NOT NULL, ts_exch_ns INTEGER
);
CREATE TABLE IF NOT EXISTS states (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, from_state INTEGER NOT NULL, to_state INTEGER NOT NULL,
    cause INTEGER NOT NULL, halt_seq INTEGER NOT NULL, equity REAL NOT NULL, drawdown REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS equity (id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, equity REAL NOT NULL, peak REAL NOT NULL);
"""
# what the core holds beyond fills and states, as of the last mark (each watcher pass it changed, and at shutdown);
# added to journals of the first schema when they are opened
MARKS = """
CREATE TABLE IF NOT EXISTS marks (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, equity REAL NOT NULL, peak REAL NOT NULL, paused INTEGER NOT NULL,
    loss_streak INTEGER NOT NULL, cooldown_left_ns INTEGER NOT NULL, rearm_at_wall_ns INTEGER NOT NULL
);
"""
TERMINAL = (records.EXEC_CANCELED, records.EXEC_EXPIRED, records.EXEC_REJECTED)


class JournalError(RuntimeError):
    """The journal file cannot be used (foreign, damaged, or from a newer bot4)."""


@dataclass(frozen=True)
class Marks:
    """The core's own state a restart must bring back exactly (journaled by the watchers when it changes)."""

    equity: float
    peak: float
    paused: bool
    loss_streak: int
    cooldown_left_ns: int  # market-clock ns of loss-streak cool-down left
    rearm_at_wall_ns: int  # wall-clock ns when a re-arm is admitted (0: no cool-down)


@dataclass
class Restored:
    """What a journal says the engine held when it stopped."""

    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (qty, avg px)
    realized: dict[str, float] = field(default_factory=dict)
    fees: dict[str, float] = field(default_factory=dict)
    open_orders: list[dict[str, float | int | str]] = field(default_factory=list)
    trading_state: int = records.STATE_ACTIVE
    halt_seq: int = 0
    peak_equity: float = math.nan
    last_equity: float = math.nan
    order_seq: int = 0
    fills: int = 0
    marks: Marks | None = None

    @property
    def empty(self) -> bool:
        return (
            self.fills == 0
            and not self.open_orders
            and self.order_seq == 0
            and math.isnan(self.peak_equity)
            and self.marks is None
        )


def _f(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses no commit
            app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
            if fresh:
                self.db.execute(f"PRAGMA application_id={APP_ID}")
                self.db.executescript(SCHEMA)
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                self.db.execute("INSERT INTO meta VALUES ('created_ns', ?)", (str(time.time_ns()),))
            elif app_id != APP_ID:
                raise JournalError(
                    f"{self.path} is not a bot4 journal (SQLite application id {app_id:#x}); "
                    "move it away or pass another --state-dir"
                )
            else:
                version = int(self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise JournalError(f"{self.path} was written by a newer bot4 (schema {version})")
            self.db.execute("PRAGMA quick_check").fetchone()
            self.db.executescript(MARKS)
            # a write now (when this engine opened it): a journal that cannot be written is refused here, not later
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('opened_ns', ?)", (str(time.time_ns()),))
            row = self.db.execute("SELECT value FROM meta WHERE key='instance'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('instance', ?)", (secrets.token_hex(4),))
            if not fresh and "ts_exch_ns" not in {row[1] for row in self.db.execute("PRAGMA table_info(reports)")}:
                # the venue's time of each report (market time on recorded data), added after schema 1 was out
                self.db.execute("ALTER TABLE reports ADD COLUMN ts_exch_ns INTEGER")
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or not os.access(self.path, os.W_OK):
                raise JournalError(
                    f"{self.path} is read-only ({exc}): make it writable (chmod u+w, chattr -i) or pass another --state-dir"
                ) from None
            raise JournalError(f"{self.path} cannot be used as a journal ({exc}); move it away to start afresh") from None
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path} cannot be read as a journal ({exc}); move it away to start afresh") from None
        self.rows_written = 0
        self.pending: list[tuple[str, list[tuple[object, ...]]]] = []  # rows a failed write left waiting, in order
        self.failed = ""  # why the last write failed ("" = the journal is whole)
        self.recoveries = 0
        self.on_failure: Callable[[str], None] | None = None

    def close(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Close the file; the rows that could not be written (one last try first), for the caller to say."""
        if self.pending:
            self._flush()
        left = list(self.pending)
        self.db.close()
        return left

    @property
    def instance(self) -> str:
        """This state dir's engine id (8 hex digits, made with the journal): the prefix of its client order ids, so
        that reconciliation at a venue touches this engine's orders only."""
        return str(self.meta("instance"))

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def append_orders(self, orders: np.ndarray, symbols: tuple[str, ...], gated: bool = False) -> None:
        """Commit order intents (submits and cancels) before they go to a venue."""
        if len(orders) == 0:
            return
        now = time.time_ns()
        rows = [
            (
                now,
                int(o["client_order_id"]),
                int(o["action"]),
                symbols[int(o["symbol_id"])],
                int(o["side"]),
                int(o["order_type"]),
                int(o["tif"]),
                int(o["flags"]),
                _f(float(o["price"])),
                _f(float(o["stop_px"])),
                _f(float(o["take_profit_px"])),
                float(o["size"]),
                int(gated),
            )
            for o in orders
        ]
        self._commit(
            "INSERT INTO orders (ts_ns, coid, action, symbol, side, order_type, tif, flags, price, stop_px,"
            " take_profit_px, size, gated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def append_reports(self, reports: np.ndarray, symbols: tuple[str, ...]) -> None:
        """Commit execution reports before the core sees them."""
        if len(reports) == 0:
            return
        now = time.time_ns()
        rows = [
            (
                now,
                int(r["client_order_id"]),
                int(r["kind"]),
                symbols[int(r["symbol_id"])] if 0 <= int(r["symbol_id"]) < len(symbols) else "?",
                int(r["side"]),
                _f(float(r["price"])),
                float(r["size"]),
                float(r["fee"]),
                float(r["leaves"]),
                int(r["reason"]),
                int(r["ts_exch_ns"]) or None,
            )
            for r in reports
        ]
        self._commit(
            "INSERT INTO reports (ts_ns, coid, kind, symbol, side, price, size, fee, leaves, reason, ts_exch_ns)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def append_state(self, frm: int, to: int, cause: int, halt_seq: int, equity: float, drawdown: float) -> None:
        self._commit(
            "INSERT INTO states (ts_ns, from_state, to_state, cause, halt_seq, equity, drawdown) VALUES (?,?,?,?,?,?,?)",
            [(time.time_ns(), frm, to, cause, halt_seq, equity, drawdown)],
        )

    def append_equity(self, equity: float, peak: float) -> None:
        self._commit("INSERT INTO equity (ts_ns, equity, peak) VALUES (?,?,?)", [(time.time_ns(), equity, peak)])

    def append_marks(self, m: Marks) -> None:
        self._commit(
            "INSERT INTO marks (ts_ns, equity, peak, paused, loss_streak, cooldown_left_ns, rearm_at_wall_ns)"
            " VALUES (?,?,?,?,?,?,?)",
            [(time.time_ns(), m.equity, m.peak, int(m.paused), m.loss_streak, m.cooldown_left_ns, m.rearm_at_wall_ns)],
        )

    def _commit(self, sql: str, rows: list[tuple[object, ...]]) -> bool:
        """One transaction with ``rows`` after whatever an earlier failure left waiting, in order: all or nothing.

        A write that fails (a full disk, a read-only file) never raises to the caller: the rows wait in memory, in
        order, for the next commit; :attr:`failed` says why and ``on_failure`` is told once (the engine halts on it).
        True when everything is on disk."""
        self.pending.append((sql, rows))
        return self._flush()

    def _flush(self) -> bool:
        try:
            with self.db:
                self.db.execute("BEGIN")
                for q, r in self.pending:
                    self.db.executemany(q, r)
        except (sqlite3.Error, OSError) as exc:
            if not self.failed:
                self.failed = f"{type(exc).__name__}: {exc}"
                if self.on_failure is not None:
                    self.on_failure(self.failed)
            return False
        self.rows_written += sum(len(r) for _q, r in self.pending)
        self.pending.clear()
        if self.failed:
            self.failed = ""
            self.recoveries += 1
        return True

    @property
    def pending_rows(self) -> int:
        """Rows waiting for a write that failed (0 when everything is on disk)."""
        return sum(len(r) for _q, r in self.pending)

    def counts(self) -> dict[str, int]:
        return {t: int(self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in ("orders", "reports", "states", "equity")}

    def restore(self) -> Restored:
        """Rebuild what the engine held from every committed row."""
        out = Restored()
        qty: dict[str, float] = {}
        avg: dict[str, float] = {}
        for sym, side, price, size, fee in self.db.execute(
            "SELECT symbol, side, price, size, fee FROM reports WHERE kind=? ORDER BY id", (records.EXEC_FILL,)
        ):
            q = qty.get(sym, 0.0)
            a = avg.get(sym, math.nan)
            signed = side * size
            if q == 0.0 or q * side > 0:
                new = q + signed
                avg[sym] = price if q == 0.0 else (a * abs(q) + price * size) / abs(new)
            else:
                closing = min(size, abs(q))
                out.realized[sym] = out.realized.get(sym, 0.0) + closing * (price - a) * (1 if q > 0 else -1)
                new = q + signed
                if abs(new) < 1e-12:
                    new = 0.0
                    avg[sym] = math.nan
                elif new * q < 0:
                    avg[sym] = price
            qty[sym] = new
            out.fees[sym] = out.fees.get(sym, 0.0) + fee
            out.fills += 1
        out.positions = {s: (qty[s], avg.get(s, math.nan)) for s in qty}
        # open orders: submitted, not cancelled-and-confirmed, not fully filled, not rejected/expired
        done = {coid for (coid,) in self.db.execute("SELECT coid FROM reports WHERE kind IN (?,?,?)", TERMINAL)}
        filled = dict(
            self.db.execute("SELECT coid, SUM(size) FROM reports WHERE kind=? GROUP BY coid", (records.EXEC_FILL,)).fetchall()
        )
        acked = {coid for (coid,) in self.db.execute("SELECT coid FROM reports WHERE kind=?", (records.EXEC_ACK,))}
        for row in self.db.execute(
            "SELECT coid, symbol, side, order_type, tif, flags, price, stop_px, take_profit_px, size, gated, ts_ns"
            " FROM orders WHERE action != ? ORDER BY id",
            (records.ACTION_CANCEL,),
        ):
            coid, sym, side, otype, tif, flags, price, stop, tp, size, gated, ts_ns = row
            if gated or coid in done or filled.get(coid, 0.0) >= size * (1 - 1e-9):
                continue
            out.open_orders.append(
                {
                    "coid": coid,
                    "symbol": sym,
                    "side": side,
                    "order_type": otype,
                    "tif": tif,
                    "flags": flags,
                    "price": math.nan if price is None else price,
                    "stop_px": math.nan if stop is None else stop,
                    "take_profit_px": math.nan if tp is None else tp,
                    "size": size,
                    "filled": filled.get(coid, 0.0),
                    "acked": coid in acked,
                    "ts_ns": ts_ns,  # wall-clock ns it was journaled (just before it was sent)
                }
            )
        row = self.db.execute("SELECT to_state, halt_seq FROM states ORDER BY id DESC LIMIT 1").fetchone()
        if row:
            out.trading_state, out.halt_seq = int(row[0]), int(row[1])
        row = self.db.execute("SELECT MAX(peak), (SELECT equity FROM equity ORDER BY id DESC LIMIT 1) FROM equity").fetchone()
        if row and row[0] is not None:
            out.peak_equity, out.last_equity = float(row[0]), float(row[1])
        row = self.db.execute(
            "SELECT equity, peak, paused, loss_streak, cooldown_left_ns, rearm_at_wall_ns FROM marks ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row:
            out.marks = Marks(float(row[0]), float(row[1]), bool(row[2]), int(row[3]), int(row[4]), int(row[5]))
        row = self.db.execute("SELECT MAX(coid) FROM orders").fetchone()
        out.order_seq = (int(row[0]) >> ORDER_SLOT_BITS) if row and row[0] is not None else 0
        return out
