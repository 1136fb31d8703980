"""The L2 order book: every price level of each symbol's bids and asks, rebuilt from snapshot and diff ticks.

A depth tick (``TICK_DEPTH``) is one level of one exchange message: ``side`` (SIDE_BUY for a bid level, SIDE_SELL
for an ask level), ``price``, ``size`` (the level's new quantity, 0 deletes it), ``bid_px`` / ``ask_px`` the
message's first and last update ids (U and u: exact as float64 below 2**53), ``bid_sz`` its flags
(``DEPTH_SNAPSHOT``, ``DEPTH_CLEAR`` on a snapshot's first row, ``DEPTH_END`` on a message's last row: the book is
whole again after it). The core and the paper venue each keep a book with these kernels: the core for the strategy
(``on_book``), the venue to fill limit orders by their place in the queue.

Layout: per symbol and side, the levels sorted so that the best is last (bids by price ascending, asks by the
negated price ascending, so one code serves both sides), the best ``BOOK_VIEW`` levels a short walk back from the
end. A level that goes keeps its place as a hole (size 0): levels come and go at the same prices all the time, and a
new level moves the levels between it and the nearest hole, not every level up to the end; the best level is never
a hole, and the holes are swept out when they are half the side. A full side keeps the levels nearest the touch and
counts what it dropped.

Sequence checks, per symbol, on the message ids (Binance's rule; a snapshot resets them): a message older than the
book is dropped (``M_STALE``), one whose first id skips past the last applied id + 1 is applied and counted as a gap
(``M_GAPS``), a message that leaves the book crossed is counted (``M_CROSSED``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bot4.core.jit import helper

BOOK_LEVELS = 1024  # levels kept per side (a Binance REST snapshot has 1000)
BOOK_VIEW = 10  # levels per side a strategy's on_book sees, best first
HOLE_REACH = 64  # how far a new level looks for a hole on either side before it moves the levels above it

DEPTH_SNAPSHOT = 1  # flags, in a depth tick's bid_sz
DEPTH_CLEAR = 2
DEPTH_END = 4

# per-symbol counters and state, book.meta[s, M_*]
M_LAST_U = 0  # last update id applied
M_MESSAGES = 1  # messages applied (a snapshot counts one)
M_GAPS = 2
M_STALE = 3  # rows dropped: their message was older than the book
M_CROSSED = 4  # messages after which the best bid was at or above the best ask
M_FULL = 5  # levels dropped because their side was full
M_SNAPSHOTS = 6
M_N = 8

APPLY_DROPPED = -1  # what depth_apply_nb did with a row
APPLY_LEVEL = 0
APPLY_END = 1


class L2Book(NamedTuple):
    key: np.ndarray  # float64[n_sym, 2, levels]: side 0 bids (price), side 1 asks (-price); ascending, best last
    qty: np.ndarray  # float64[n_sym, 2, levels]
    n: np.ndarray  # int64[n_sym, 2]: slots in use (levels and holes; the last is the best level)
    holes: np.ndarray  # int64[n_sym, 2]: slots in use that hold no level
    meta: np.ndarray  # int64[n_sym, M_N]
    top: np.ndarray  # float64[2, BOOK_VIEW, 2]: the best levels (price, size) of one symbol, filled on demand


def new_book(n_sym: int, levels: int = BOOK_LEVELS) -> L2Book:
    return L2Book(
        key=np.zeros((n_sym, 2, levels)),
        qty=np.zeros((n_sym, 2, levels)),
        n=np.zeros((n_sym, 2), np.int64),
        holes=np.zeros((n_sym, 2), np.int64),
        meta=np.zeros((n_sym, M_N), np.int64),
        top=np.full((2, BOOK_VIEW, 2), np.nan),
    )


@helper
def find_level_nb(keys: np.ndarray, n: int, key: float) -> int:
    """The first index of ``keys[:n]`` (ascending) whose key is >= ``key``, searched from the best end (where most
    changes land) with a binary search past the first few levels."""
    if n == 0 or keys[n - 1] < key:
        return n
    lo = 0
    hi = n - 1  # keys[hi] >= key
    j = n - 2
    for _ in range(8):
        if j < 0 or keys[j] < key:
            return j + 1
        hi = j
        j -= 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@helper
def compact_nb(book: L2Book, s: int, b: int) -> None:
    """Sweep the holes out of side ``b`` of symbol ``s``."""
    keys = book.key[s, b]
    qtys = book.qty[s, b]
    w = 0
    for r in range(book.n[s, b]):
        if qtys[r] > 0.0:
            keys[w] = keys[r]
            qtys[w] = qtys[r]
            w += 1
    book.n[s, b] = w
    book.holes[s, b] = 0


@helper
def set_level_nb(book: L2Book, s: int, b: int, key: float, qty: float) -> None:
    """Level ``key`` of side ``b`` of symbol ``s`` holds ``qty`` from now on (0: the level is gone)."""
    keys = book.key[s, b]
    qtys = book.qty[s, b]
    n = book.n[s, b]
    i = find_level_nb(keys, n, key)
    if i < n and keys[i] == key:
        was = qtys[i]
        if qty > 0.0:
            qtys[i] = qty
            if was == 0.0:
                book.holes[s, b] -= 1  # a level back where it was
            return
        if was == 0.0:
            return
        qtys[i] = 0.0  # a hole, its key kept
        book.holes[s, b] += 1
        if i == n - 1:  # the best went: the best is the last level, never a hole
            while n > 0 and qtys[n - 1] == 0.0:
                n -= 1
                book.holes[s, b] -= 1
            book.n[s, b] = n
        if book.holes[s, b] > 32 and 2 * book.holes[s, b] > n:
            compact_nb(book, s, b)
        return
    if not (qty > 0.0):
        return  # deleting a level the book does not hold
    up = -1  # the nearest holes above (toward the best) and below
    for j in range(i, min(n - 1, i + HOLE_REACH)):
        if qtys[j] == 0.0:
            up = j
            break
    down = -1
    for j in range(i - 1, max(-1, i - 1 - HOLE_REACH), -1):
        if qtys[j] == 0.0:
            down = j
            break
    if up >= 0 and (down < 0 or up - i <= i - 1 - down):
        for j in range(up, i, -1):
            keys[j] = keys[j - 1]
            qtys[j] = qtys[j - 1]
        keys[i] = key
        qtys[i] = qty
        book.holes[s, b] -= 1
        return
    if down >= 0:
        for j in range(down, i - 1):
            keys[j] = keys[j + 1]
            qtys[j] = qtys[j + 1]
        keys[i - 1] = key
        qtys[i - 1] = qty
        book.holes[s, b] -= 1
        return
    cap = keys.shape[0]
    if n == cap and book.holes[s, b] > 0:
        compact_nb(book, s, b)
        n = book.n[s, b]
        i = find_level_nb(keys, n, key)
    if n == cap:
        book.meta[s, M_FULL] += 1
        if i == 0:
            return  # deeper than every level held
        for j in range(0, i - 1):  # the deepest level makes room
            keys[j] = keys[j + 1]
            qtys[j] = qtys[j + 1]
        keys[i - 1] = key
        qtys[i - 1] = qty
        return
    for j in range(n, i, -1):
        keys[j] = keys[j - 1]
        qtys[j] = qtys[j - 1]
    keys[i] = key
    qtys[i] = qty
    book.n[s, b] = n + 1


@helper
def best_nb(book: L2Book, s: int, b: int) -> tuple[float, float]:
    """Best price and its size on side ``b`` (0 bids, 1 asks) of symbol ``s``; (NaN, 0) when the side is empty."""
    n = book.n[s, b]
    if n == 0:
        return np.nan, 0.0
    k = book.key[s, b, n - 1]
    return (k if b == 0 else -k), book.qty[s, b, n - 1]


@helper
def level_qty_nb(book: L2Book, s: int, b: int, price: float) -> float:
    """The displayed size at ``price`` on side ``b`` of symbol ``s`` (0 when no level there)."""
    key = price if b == 0 else -price
    n = book.n[s, b]
    i = find_level_nb(book.key[s, b], n, key)
    if i < n and book.key[s, b, i] == key:
        return book.qty[s, b, i]
    return 0.0


@helper
def depth_apply_nb(book: L2Book, s: int, side: int, price: float, qty: float, first_u: float, last_u: float,
                   flags: int) -> int:
    """Apply one depth row to symbol ``s``'s book; APPLY_END after a message's last row, APPLY_LEVEL within one,
    APPLY_DROPPED for a row of a message older than the book."""
    meta = book.meta[s]
    u = np.int64(last_u)
    if flags & DEPTH_CLEAR:
        book.n[s, 0] = 0
        book.n[s, 1] = 0
        book.holes[s, 0] = 0
        book.holes[s, 1] = 0
        meta[M_LAST_U] = u
        meta[M_SNAPSHOTS] += 1
        meta[M_MESSAGES] += 1
    elif (flags & DEPTH_SNAPSHOT) == 0 and u != meta[M_LAST_U]:
        last = meta[M_LAST_U]
        if u < last:
            meta[M_STALE] += 1
            return APPLY_DROPPED
        if last > 0 and np.int64(first_u) > last + 1:
            meta[M_GAPS] += 1
        meta[M_LAST_U] = u
        meta[M_MESSAGES] += 1
    b = 0 if side > 0 else 1
    set_level_nb(book, s, b, price if b == 0 else -price, qty)
    if flags & DEPTH_END:
        nb = book.n[s, 0]
        na = book.n[s, 1]
        if nb > 0 and na > 0 and book.key[s, 0, nb - 1] >= -book.key[s, 1, na - 1]:
            meta[M_CROSSED] += 1
        return APPLY_END
    return APPLY_LEVEL


@helper
def levels_into_nb(book: L2Book, s: int, dst: np.ndarray, b: int) -> None:
    """Side ``b``'s best levels of symbol ``s`` into ``dst`` (depth, 2): (price, size), best first, NaN past the
    last."""
    idx = book.n[s, b] - 1
    for j in range(dst.shape[0]):
        while idx >= 0 and book.qty[s, b, idx] == 0.0:
            idx -= 1  # a hole
        if idx >= 0:
            k = book.key[s, b, idx]
            dst[j, 0] = k if b == 0 else -k
            dst[j, 1] = book.qty[s, b, idx]
            idx -= 1
        else:
            dst[j, 0] = np.nan
            dst[j, 1] = np.nan


@helper
def fill_view_nb(book: L2Book, s: int) -> None:
    """``book.top``: symbol ``s``'s best BOOK_VIEW levels per side (price, size), best first, NaN past the last."""
    levels_into_nb(book, s, book.top[0], 0)
    levels_into_nb(book, s, book.top[1], 1)


@helper
def publish_levels_nb(book: L2Book, dst: np.ndarray) -> None:
    """Every symbol's best levels into ``dst`` (float64[n_sym, 2, depth, 2]), as :func:`fill_view_nb` lays them."""
    for s in range(dst.shape[0]):
        levels_into_nb(book, s, dst[s, 0], 0)
        levels_into_nb(book, s, dst[s, 1], 1)


@helper
def copy_levels_nb(src: np.ndarray, dst: np.ndarray) -> None:
    for s in range(src.shape[0]):
        for b in range(2):
            for j in range(src.shape[2]):
                dst[s, b, j, 0] = src[s, b, j, 0]
                dst[s, b, j, 1] = src[s, b, j, 1]


def book_levels(book: L2Book, s: int, depth: int = BOOK_VIEW) -> tuple[np.ndarray, np.ndarray]:
    """Symbol ``s``'s best ``depth`` levels per side as two (k, 2) arrays of (price, size), best first (Python)."""
    out = []
    for b in range(2):
        n = int(book.n[s, b])
        live = book.qty[s, b, :n] > 0.0
        keys = book.key[s, b, :n][live][::-1][:depth]
        qtys = book.qty[s, b, :n][live][::-1][:depth]
        out.append(np.column_stack((keys if b == 0 else -keys, qtys)))
    return out[0], out[1]


BOOK_COUNTERS = {"messages": M_MESSAGES, "snapshots": M_SNAPSHOTS, "gaps": M_GAPS, "stale_rows": M_STALE,
                 "crossed": M_CROSSED, "levels_dropped_full": M_FULL}


def book_counts(book: L2Book, s: int) -> dict[str, int]:
    """Symbol ``s``'s sequence and integrity counts, by name."""
    return {name: int(book.meta[s, m]) for name, m in BOOK_COUNTERS.items()}
