"""Recorded market data into tick records: every CSV format of the shared data set, merged across symbols by time.

Timestamps: a capture's ``local_ts_ns`` (when it has one) so that its trade and book files interleave as they were
received, else ``timestamp_ms``. Formats are recognised by their header (see the data README): trades
(``timestamp_ms,trade_id,price,qty,side`` or the L2 capture's ``local_ts_ns,exch_ts_ms,trade_id,price,qty,side``),
top of book (``bid_px,bid_qty,ask_px,ask_qty`` with
``timestamp_ms`` or ``local_ts_ns``) and candles (``timestamp_ms,open,high,low,close,volume``; a candle becomes one
TICK_BAR stamped at its close, so nothing is known before it could have been; it carries its open, low and high).
Files may be gzip-compressed.

Bad rows never stop a load, and never take the rows after them: a row with a missing or non-numeric field, a NaN or
non-positive price, a negative size, or the exact copy of an earlier row is skipped and counted by kind; a file in
newest-first order is turned round; a row stamped far from its neighbours is dropped on its own (``out_of_place``)
and rows slightly out of order are sorted into place. One log line per kind names the file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from bot4.core.book import DEPTH_CLEAR, DEPTH_END, DEPTH_SNAPSHOT
from bot4.core.records import SIDE_BUY, SIDE_NONE, SIDE_SELL, TICK_BAR, TICK_BBO, TICK_DEPTH, TICK_DTYPE, TICK_TRADE

log = logging.getLogger("bot4.replay")

MS = 1_000_000


@dataclass
class LoadReport:
    """What a load kept and what it skipped, by reason."""

    path: str
    kind: str
    rows: int = 0
    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    fixed: Counter[str] = field(default_factory=Counter)  # rows kept but put in order (sorted, turned round)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # noqa: SIM115


def detect_kind(header: list[str]) -> str:
    cols = set(header)
    if {"event", "side", "price", "qty", "last_update_id"} <= cols:  # price and qty: not to be read as trades
        return "depth"
    if {"open", "high", "low", "close", "volume"} <= cols:
        return "bars"
    if {"bid_px", "ask_px"} <= cols:
        return "bbo"
    if {"price", "qty"} <= cols:
        return "trades"
    raise ValueError(
        f"unrecognised market-data header {header}: expected trades, top-of-book, candle or L2 depth columns"
    )


def _num(value: str) -> float:
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise ValueError("not finite")
    return v


PARSE_VERSION = "4"  # bump when parsing changes, so cached parses are not reused


def _cache_file(path: Path, symbol_id: int) -> Path | None:
    try:
        st = path.stat()
    except OSError:
        return None
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{symbol_id}|{PARSE_VERSION}|{TICK_DTYPE.descr}"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bot4" / "ticks" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npz")


def load_csv(path: str | Path, symbol_id: int) -> tuple[np.ndarray, LoadReport]:
    """Load one recorded file as tick records for ``symbol_id`` (sorted by exchange time, bad rows skipped).

    A parse is cached (by path, size, modification time) under the user's cache dir, so a second start loads the
    records in milliseconds; the skipped-row counts are cached with them and logged again.
    """
    path = Path(path)
    cache = _cache_file(path, symbol_id)
    if cache is not None and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                ticks = np.ascontiguousarray(z["ticks"]).view(TICK_DTYPE)  # saving drops the aligned-struct flag
                report = LoadReport(str(path), str(z["kind"]), rows=int(z["rows"]), kept=len(ticks))
                for reason, count in zip(z["reasons"].tolist(), z["counts"].tolist(), strict=True):
                    what, _, name = str(reason).partition(":")
                    (report.fixed if what == "fixed" else report.skipped)[name] = int(count)
            for reason, count in sorted(report.skipped.items()):
                log.warning("replay %s: skipped %d %s row(s) of %d", path, count, reason, report.rows)
            for what, count in sorted(report.fixed.items()):
                log.warning("replay %s: %s %d row(s) of %d", path, what, count, report.rows)
            return ticks, report
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry: parse again
    ticks, report = _parse_csv(path, symbol_id)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            counts = {f"skipped:{k}": v for k, v in report.skipped.items()}
            counts.update({f"fixed:{k}": v for k, v in report.fixed.items()})
            reasons = sorted(counts)
            np.savez(
                tmp,
                ticks=ticks,
                kind=np.array(report.kind),
                rows=np.array(report.rows),
                reasons=np.array(reasons, dtype=str),
                counts=np.array([counts[r] for r in reasons], dtype=np.int64),
            )
            os.replace(tmp, cache)
        except OSError:
            pass  # no cache dir: fine, parse again next time
    return ticks, report


REORDER_WINDOW_NS = 1_000_000_000  # rows out of time order by less than this are jitter (sorted), by more: out of place


def _parse_csv(path: Path, symbol_id: int) -> tuple[np.ndarray, LoadReport]:
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file") from None
        except (UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
        try:
            kind = detect_kind(header)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        col = {name: i for i, name in enumerate(header)}
        try:
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
            raise ValueError(f"{path}: the file is damaged or truncated ({type(exc).__name__}: {exc})") from None
    report = LoadReport(str(path), kind, rows=len(rows))
    if kind == "depth":
        ticks = depth_ticks(rows, col, symbol_id, report)
        _log_report(path, report)
        return ticks, report
    out = np.zeros(len(rows), dtype=TICK_DTYPE)
    n = 0
    # a capture's own receive time orders its trade and book files consistently; else the exchange's time
    if "local_ts_ns" in col:
        ts_col, ts_scale = col["local_ts_ns"], 1
    elif "timestamp_ms" in col:
        ts_col, ts_scale = col["timestamp_ms"], MS
    elif "exch_ts_ms" in col:
        ts_col, ts_scale = col["exch_ts_ms"], MS
    else:
        raise ValueError(f"{path}: no timestamp column (local_ts_ns, timestamp_ms or exch_ts_ms) in {header}")
    bar_ns = _bar_length_ns(rows, ts_col, ts_scale) if kind == "bars" else 0
    seen: set[tuple[str, ...]] = set()
    for seq, row in enumerate(rows):
        key = tuple(row)
        if key in seen:
            report.skipped["duplicate"] += 1
            continue
        seen.add(key)
        try:
            ts = int(row[ts_col]) * ts_scale
            rec = out[n]
            if kind == "trades":
                price = _num(row[col["price"]])
                size = _num(row[col["qty"]])
                side_txt = row[col["side"]] if "side" in col else ""
                rec["kind"] = TICK_TRADE
                rec["price"] = price
                rec["size"] = size
                rec["side"] = SIDE_BUY if side_txt == "buy" else SIDE_SELL if side_txt == "sell" else SIDE_NONE
            elif kind == "bbo":
                bid, ask = _num(row[col["bid_px"]]), _num(row[col["ask_px"]])
                bid_sz, ask_sz = _num(row[col["bid_qty"]]), _num(row[col["ask_qty"]])
                price, size = 0.5 * (bid + ask), 0.0
                if ask < bid:
                    report.skipped["crossed_book"] += 1
                    continue
                if bid_sz < 0 or ask_sz < 0:
                    report.skipped["negative_size"] += 1
                    continue
                rec["kind"] = TICK_BBO
                rec["bid_px"], rec["ask_px"], rec["bid_sz"], rec["ask_sz"] = bid, ask, bid_sz, ask_sz
                rec["price"] = price
            else:
                price = _num(row[col["close"]])
                size = _num(row[col["volume"]])
                rec["kind"] = TICK_BAR
                rec["price"] = price
                rec["size"] = size
                rec["bid_px"] = _num(row[col["low"]])
                rec["ask_px"] = _num(row[col["high"]])
                rec["bid_sz"] = _num(row[col["open"]])
                ts += bar_ns
        except (ValueError, IndexError, KeyError):
            report.skipped["malformed"] += 1
            continue
        if not price > 0:
            report.skipped["non_positive_price"] += 1
            continue
        if size < 0:
            report.skipped["negative_size"] += 1
            continue
        rec["ts_exch_ns"] = ts
        rec["seq"] = seq
        rec["symbol_id"] = symbol_id
        n += 1
    ticks = _in_time_order(out[:n], report)
    report.kept = len(ticks)
    _log_report(path, report)
    return ticks, report


def _log_report(path: Path, report: LoadReport) -> None:
    for reason, count in sorted(report.skipped.items()):
        log.warning("replay %s: skipped %d %s row(s) of %d", path, count, reason, report.rows)
    for what, count in sorted(report.fixed.items()):
        log.warning("replay %s: %s %d row(s) of %d", path, what, count, report.rows)


def depth_ticks(rows: list[list[str]], col: dict[str, int], symbol_id: int, report: LoadReport) -> np.ndarray:
    """L2 depth rows (bot4's ``depth`` schema) as TICK_DEPTH records in the order a book is rebuilt from them.

    The diffs a capture received before its first snapshot wait for it: those the snapshot already holds
    (``last_update_id`` <= its lastUpdateId) are dropped (``before_snapshot``), the rest follow the snapshot, stamped
    at its time. Each snapshot's first row clears the book; each message's last row carries DEPTH_END. A file
    without update ids (Tardis) takes the rows of one time as one message. Time never goes back: a row stamped before
    the previous one takes its time (counted).
    """
    n = len(rows)
    ts = np.zeros(n, np.int64)
    side = np.zeros(n, np.int8)
    price = np.zeros(n)
    qty = np.zeros(n)
    first_u = np.zeros(n)
    last_u = np.zeros(n)
    snap = np.zeros(n, bool)
    if "local_ts_ns" in col:
        ts_col, ts_scale = col["local_ts_ns"], 1
    else:
        ts_col, ts_scale = col["exch_ts_ms"], MS
    c_ev, c_side, c_px, c_qty = col["event"], col["side"], col["price"], col["qty"]
    c_u, c_first = col["last_update_id"], col.get("first_update_id", -1)
    k = 0
    for row in rows:
        try:
            event, side_txt = row[c_ev], row[c_side]
            if event not in ("snapshot", "update") or side_txt not in ("bid", "ask"):
                raise ValueError(event)
            p, q = _num(row[c_px]), _num(row[c_qty])
            u = int(row[c_u]) if row[c_u] else -1  # a source without update ids (Tardis): numbered below
            first = int(row[c_first]) if c_first >= 0 and row[c_first] else u
            ts[k] = int(row[ts_col]) * ts_scale
        except (ValueError, IndexError):
            report.skipped["malformed"] += 1
            continue
        if not p > 0:
            report.skipped["non_positive_price"] += 1
            continue
        if q < 0:
            report.skipped["negative_size"] += 1
            continue
        side[k] = SIDE_BUY if side_txt == "bid" else SIDE_SELL
        price[k], qty[k], first_u[k], last_u[k], snap[k] = p, q, first, u, event == "snapshot"
        k += 1
    ts, side, price, qty, first_u, last_u, snap = (a[:k] for a in (ts, side, price, qty, first_u, last_u, snap))
    if k and (last_u < 0).all():  # no ids: the rows of one time (and kind) are one message, numbered in order
        change = np.ones(k, bool)
        change[1:] = (ts[1:] != ts[:-1]) | (snap[1:] != snap[:-1])
        last_u[:] = np.cumsum(change)
        first_u[:] = last_u
    order = np.arange(k)
    snaps = np.flatnonzero(snap)
    if len(snaps):
        s0 = int(snaps[0])
        before = order[:s0]
        waiting = before[last_u[before] > last_u[s0]]
        if len(before) > len(waiting):
            report.skipped["before_snapshot"] += len(before) - len(waiting)
        rest = ~snap[s0:] | (last_u[s0:] != last_u[s0])  # past the first snapshot's rows
        end0 = s0 + int(np.argmax(rest)) if rest.any() else k
        order = np.concatenate((order[s0:end0], waiting, order[end0:]))
        ts[waiting] = ts[s0]
    else:
        log.warning("depth file without a snapshot: the book holds only the levels its diffs touch")
    out = np.zeros(len(order), TICK_DTYPE)
    out["kind"] = TICK_DEPTH
    out["symbol_id"] = symbol_id
    out["side"] = side[order]
    out["price"] = price[order]
    out["size"] = qty[order]
    out["bid_px"] = first_u[order]
    out["ask_px"] = last_u[order]
    o_snap, o_u = snap[order], last_u[order]
    starts = np.ones(len(order), bool)
    starts[1:] = (o_snap[1:] != o_snap[:-1]) | (o_u[1:] != o_u[:-1])
    ends = np.ones(len(order), bool)
    ends[:-1] = starts[1:]
    flags = np.where(o_snap, DEPTH_SNAPSHOT, 0) | np.where(o_snap & starts, DEPTH_CLEAR, 0)
    flags |= np.where(ends, DEPTH_END, 0)
    out["bid_sz"] = flags
    stamps = ts[order]
    held = np.maximum.accumulate(stamps) if len(stamps) else stamps
    if (held != stamps).any():
        report.fixed["held at the previous row's time"] += int((held != stamps).sum())
    out["ts_exch_ns"] = held
    out["seq"] = np.arange(len(out))
    report.kept = len(out)
    return out


def _bar_length_ns(rows: list[list[str]], ts_col: int, ts_scale: int) -> int:
    """The bars' length (median spacing of the first rows): a bar is stamped at its close, its open time + this."""
    try:
        stamps = np.array([int(r[ts_col]) for r in rows[: min(len(rows), 1000)]], dtype=np.int64) * ts_scale
    except (ValueError, IndexError):
        return 0
    diffs = np.abs(np.diff(stamps))
    return int(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 0


def _in_time_order(ticks: np.ndarray, report: LoadReport) -> np.ndarray:
    """``ticks`` in time order, whatever the file's: a newest-first file is turned round; a row stamped far from its
    neighbours (a day late, say) is dropped and counted on its own, never the rows after it; rows a little out of
    order (within REORDER_WINDOW_NS, two merged streams) are sorted into place and counted."""
    n = len(ticks)
    if n < 2:
        return ticks.copy()
    ts = ticks["ts_exch_ns"]
    steps = np.diff(ts)
    if (steps < 0).sum() > (steps > 0).sum():
        ticks = ticks[::-1]
        ts = ticks["ts_exch_ns"]
        report.fixed["turned round (newest first)"] += n
    keep = _longest_ordered(ts)
    if len(keep) < n:
        kept = np.zeros(n, bool)
        kept[keep] = True
        kept_pos = np.flatnonzero(kept)
        for i in np.flatnonzero(~kept):
            j = np.searchsorted(kept_pos, i)  # the kept rows around row i, in file order
            lo = ts[kept_pos[j - 1]] if j > 0 else ts[i]
            hi = ts[kept_pos[j]] if j < len(kept_pos) else ts[i]
            if lo - REORDER_WINDOW_NS <= ts[i] <= hi + REORDER_WINDOW_NS:
                kept[i] = True
                report.fixed["sorted into place"] += 1
            else:
                report.skipped["out_of_place"] += 1
        ticks = ticks[kept]
    order = np.argsort(ticks["ts_exch_ns"], kind="stable")
    return ticks[order].copy()


def _longest_ordered(ts: np.ndarray) -> np.ndarray:
    """Indices of a longest non-decreasing subsequence of ``ts`` (the fewest rows to set aside to make it ordered)."""
    import bisect

    tails: list[int] = []  # tails[k]: the smallest last value of an ordered run of length k + 1
    tail_idx: list[int] = []
    prev = np.full(len(ts), -1, np.int64)
    for i, t in enumerate(ts.tolist()):
        k = bisect.bisect_right(tails, t)
        if k == len(tails):
            tails.append(t)
            tail_idx.append(i)
        else:
            tails[k] = t
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k > 0 else -1
    out = []
    i = tail_idx[-1]
    while i >= 0:
        out.append(i)
        i = int(prev[i])
    return np.array(out[::-1], dtype=np.int64)


def merge_by_time(parts: list[np.ndarray]) -> np.ndarray:
    """One array of every tick in exchange-time order (stable: ties keep file order)."""
    if not parts:
        return np.zeros(0, dtype=TICK_DTYPE)
    merged = np.concatenate(parts)
    order = np.argsort(merged["ts_exch_ns"], kind="stable")
    merged = merged[order]
    merged["seq"] = np.arange(len(merged))
    return merged


def repeat_shifted(ticks: np.ndarray, total: int) -> np.ndarray:
    """``ticks`` repeated back to back until ``total`` records, each lap shifted past the previous one in time."""
    if len(ticks) == 0:
        raise ValueError("nothing to repeat")
    laps = -(-total // len(ticks))
    span = int(ticks["ts_exch_ns"][-1] - ticks["ts_exch_ns"][0]) + 1_000_000
    out = np.concatenate([ticks] * laps)[:total].copy()
    lap = np.arange(len(out)) // len(ticks)
    out["ts_exch_ns"] += lap.astype(np.int64) * span
    out["seq"] = np.arange(len(out))
    return out


SAMPLE_FILES = {
    "BTC/USDT": (
        "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz",
        "binance_spot_BTCUSDT_20240808T2354_20240809T0005_bbo.csv.gz",
    ),
    "ETH/USDT": (
        "binance_spot_ETHUSDT_20240808T2354_20240809T0005_trades.csv.gz",
        "binance_spot_ETHUSDT_20240808T2354_20240809T0005_bbo.csv.gz",
    ),
}


SAMPLE_DEPTH = {"BTC/USDT": "binance_spot_BTCUSDT_20240808T2354_20240809T0005_depth.csv.gz"}  # the L2 book


def sample_path(name: str) -> Path:
    """Path of a file of the sample shipped inside the package."""
    return Path(str(resources.files("bot4") / "data" / name))


def load_sample(
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"), with_bbo: bool = True, with_depth: bool = False
) -> np.ndarray:
    """The shipped real-data sample for ``symbols`` (ids in that order), merged by time; ``with_depth``: the L2 book
    of the symbols that have one (SAMPLE_DEPTH) too."""
    parts = []
    for sid, sym in enumerate(symbols):
        if sym not in SAMPLE_FILES:
            raise ValueError(
            f"no shipped sample for {sym!r} (the sample has {', '.join(SAMPLE_FILES)}): give its data with "
            f'replay.files = ["{sym}=path/to/trades.csv.gz"]'
        )
        trades, bbo = SAMPLE_FILES[sym]
        parts.append(load_csv(sample_path(trades), sid)[0])
        if with_bbo:
            parts.append(load_csv(sample_path(bbo), sid)[0])
        if with_depth and sym in SAMPLE_DEPTH:
            parts.append(load_csv(sample_path(SAMPLE_DEPTH[sym]), sid)[0])
    return merge_by_time(parts)
