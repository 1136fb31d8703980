"""Single-producer single-consumer rings of records, and the multi-producer command ring.

A ring is a power-of-two array of records plus an aligned int64 ``ctrl`` array. The producer owns line 0 (its write
count ``head``, its refusal counter, its cached copy of the consumer's count), the consumer owns line 1 (``tail`` and
its cached copy of ``head``), line 2 holds the constants. Counts grow forever; slot = count & mask.

Ordering: a record is written into its slot *before* ``head`` is published with a release store, and the consumer
reads ``head`` with an acquire load once per batch, so it never sees an index ahead of its record. A full ring
refuses the push and counts it (back-pressure); nothing is ever overwritten.

The ``*_nb`` kernels are the interface for njit code (and for Python through the :class:`Ring` wrapper). For
zero-copy work the producer may ``claim`` a slot, fill its fields in place and ``publish``; the consumer may ask how
many records are ``available``, read them in place and ``advance``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from bot4.core.atomics import load_acquire, store_release
from bot4.core.jit import bind, helper
from bot4.core.memory import INT64_PER_LINE, aligned_zeros
from bot4.core.records import COMMAND_DTYPE

# producer line
RING_HEAD = 0  # records published so far (release store)
RING_FULL = 1  # pushes refused because the ring was full
RING_CACHED_TAIL = 2  # producer's last view of RING_TAIL
RING_HIGH_WATER = 3  # deepest the ring has been, seen by the producer
# consumer line
RING_TAIL = INT64_PER_LINE  # records consumed so far (release store)
RING_CACHED_HEAD = INT64_PER_LINE + 1  # consumer's last view of RING_HEAD
# constants line
RING_CAPACITY = 2 * INT64_PER_LINE
RING_MASK = 2 * INT64_PER_LINE + 1
RING_CTRL_SIZE = 3 * INT64_PER_LINE


@helper
def ring_claim_nb(ctrl: np.ndarray) -> int:
    """Producer: the slot to fill next, or -1 when the ring is full (counted). Publish with ``ring_publish_nb``."""
    head = ctrl[RING_HEAD]
    cap = ctrl[RING_CAPACITY]
    if head - ctrl[RING_CACHED_TAIL] >= cap:
        ctrl[RING_CACHED_TAIL] = load_acquire(ctrl, RING_TAIL)
        if head - ctrl[RING_CACHED_TAIL] >= cap:
            ctrl[RING_FULL] += 1
            return -1
    return head & ctrl[RING_MASK]


@helper
def ring_publish_nb(ctrl: np.ndarray, n: int) -> None:
    """Producer: make the ``n`` claimed slots visible to the consumer."""
    head = ctrl[RING_HEAD] + n
    depth = head - ctrl[RING_CACHED_TAIL]
    if depth > ctrl[RING_HIGH_WATER]:
        ctrl[RING_HIGH_WATER] = depth
    store_release(ctrl, RING_HEAD, head)


@helper
def ring_push_nb(ctrl: np.ndarray, buf: np.ndarray, src: np.ndarray, j: int) -> bool:
    """Producer: copy ``src[j]`` in; False (counted) when full."""
    slot = ring_claim_nb(ctrl)
    if slot < 0:
        return False
    buf[slot] = src[j]
    ring_publish_nb(ctrl, 1)
    return True


@helper
def ring_push_many_nb(ctrl: np.ndarray, buf: np.ndarray, src: np.ndarray, start: int, n: int) -> int:
    """Producer: copy ``src[start:start+n]`` in, as many as fit, published once; returns the count pushed.

    Records that do not fit are refused and counted, one count per record.
    """
    head = ctrl[RING_HEAD]
    mask = ctrl[RING_MASK]
    take = ring_reserve_nb(ctrl, n)
    for k in range(take):
        buf[(head + k) & mask] = src[start + k]
    if take > 0:
        ring_publish_nb(ctrl, take)
    return take


@helper
def ring_reserve_nb(ctrl: np.ndarray, n: int) -> int:
    """Producer: how many of ``n`` records fit from ``RING_HEAD`` on (the rest are refused and counted now).

    The consumer's index is re-read only when the cached one says the records may not fit.
    """
    head = ctrl[RING_HEAD]
    cap = ctrl[RING_CAPACITY]
    free = cap - (head - ctrl[RING_CACHED_TAIL])
    if free < n:
        ctrl[RING_CACHED_TAIL] = load_acquire(ctrl, RING_TAIL)
        free = cap - (head - ctrl[RING_CACHED_TAIL])
    take = n if n < free else free
    if take < n:
        ctrl[RING_FULL] += n - take
    return take


@helper
def ring_room_nb(ctrl: np.ndarray) -> int:
    """Free slots right now (any thread; reads the consumer's index)."""
    return ctrl[RING_CAPACITY] - (ctrl[RING_HEAD] - load_acquire(ctrl, RING_TAIL))


@helper
def ring_available_nb(ctrl: np.ndarray) -> int:
    """Consumer: how many records are ready (reads the producer index once)."""
    head = load_acquire(ctrl, RING_HEAD)
    ctrl[RING_CACHED_HEAD] = head
    return head - ctrl[RING_TAIL]


@helper
def ring_slot_nb(ctrl: np.ndarray, k: int) -> int:
    """Consumer: the slot of the k-th ready record (0 = oldest)."""
    return (ctrl[RING_TAIL] + k) & ctrl[RING_MASK]


@helper
def ring_advance_nb(ctrl: np.ndarray, n: int) -> None:
    """Consumer: hand ``n`` consumed slots back to the producer."""
    store_release(ctrl, RING_TAIL, ctrl[RING_TAIL] + n)


@helper
def ring_pop_nb(ctrl: np.ndarray, buf: np.ndarray, dst: np.ndarray, j: int) -> bool:
    """Consumer: copy the oldest record into ``dst[j]``; False when empty."""
    tail = ctrl[RING_TAIL]
    if ctrl[RING_CACHED_HEAD] <= tail:
        ctrl[RING_CACHED_HEAD] = load_acquire(ctrl, RING_HEAD)
        if ctrl[RING_CACHED_HEAD] <= tail:
            return False
    dst[j] = buf[tail & ctrl[RING_MASK]]
    store_release(ctrl, RING_TAIL, tail + 1)
    return True


@helper
def ring_pop_many_nb(ctrl: np.ndarray, buf: np.ndarray, dst: np.ndarray, max_n: int) -> int:
    """Consumer: copy up to ``max_n`` records into ``dst[0:]``; the producer index is read once."""
    tail = ctrl[RING_TAIL]
    mask = ctrl[RING_MASK]
    head = load_acquire(ctrl, RING_HEAD)
    ctrl[RING_CACHED_HEAD] = head
    ready = head - tail
    n = ready if ready < max_n else max_n
    for k in range(n):
        dst[k] = buf[(tail + k) & mask]
    if n > 0:
        store_release(ctrl, RING_TAIL, tail + n)
    return n


@helper
def ring_depth_nb(ctrl: np.ndarray) -> int:
    return load_acquire(ctrl, RING_HEAD) - load_acquire(ctrl, RING_TAIL)


class Ring:
    """An SPSC ring of ``capacity`` records of ``dtype`` (capacity a power of two)."""

    def __init__(self, dtype: np.dtype, capacity: int, name: str = "ring") -> None:
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"ring {name}: capacity must be a power of two >= 2, got {capacity}")
        self.name = name
        self.dtype = np.dtype(dtype)
        self.capacity = capacity
        self.buf = aligned_zeros(capacity, self.dtype)
        self.ctrl = aligned_zeros(RING_CTRL_SIZE)
        self.ctrl[RING_CAPACITY] = capacity
        self.ctrl[RING_MASK] = capacity - 1
        self._one = np.zeros(1, dtype=self.dtype)
        self._bound_push: Callable[..., bool] | None = None  # bound on first use: most rings are never pushed from Python

    def _push_one(self, ctrl: np.ndarray, buf: np.ndarray, one: np.ndarray, j: int) -> bool:
        if self._bound_push is None:
            self._bound_push = bind(ring_push_nb, self.ctrl, self.buf, self._one, 0)
        return bool(self._bound_push(ctrl, buf, one, j))

    def push(self, record: np.void | np.ndarray) -> bool:
        """Push one record (a ``np.void`` of the ring's dtype or a 1-element array); False when full."""
        self._one[0] = record[0] if isinstance(record, np.ndarray) else record
        return self._push_one(self.ctrl, self.buf, self._one, 0)

    def push_staged(self) -> bool:
        """Push the record prepared in :attr:`staging` (the fastest way to push one record from Python)."""
        return self._push_one(self.ctrl, self.buf, self._one, 0)

    @property
    def staging(self) -> np.ndarray:
        """A 1-record array owned by the ring: fill its fields, then call :meth:`push_staged` (producer only)."""
        return self._one

    def push_many(self, records: np.ndarray) -> int:
        """Push as many of ``records`` as fit; returns the count (the rest are refused and counted)."""
        return int(ring_push_many_nb(self.ctrl, self.buf, records, 0, len(records)))

    def pop(self) -> np.void | None:
        """The oldest record (a copy), or None when empty."""
        out = np.zeros(1, dtype=self.dtype)
        if ring_pop_nb(self.ctrl, self.buf, out, 0):
            return out[0]
        return None

    def pop_many(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` records into ``out``; returns the count."""
        return int(ring_pop_many_nb(self.ctrl, self.buf, out, len(out)))

    @property
    def depth(self) -> int:
        return int(ring_depth_nb(self.ctrl))

    @property
    def full_count(self) -> int:
        """Records refused because the ring was full."""
        return int(self.ctrl[RING_FULL])

    @property
    def high_water(self) -> int:
        return int(self.ctrl[RING_HIGH_WATER])

    @property
    def pushed(self) -> int:
        return int(self.ctrl[RING_HEAD])

    @property
    def popped(self) -> int:
        return int(self.ctrl[RING_TAIL])


class CommandRing(Ring):
    """The control plane's ring: many producers (UI, API, file watcher), one consumer (the core).

    Producers are serialised by a lock on the Python side, which keeps the ring single-producer underneath. Each
    command gets a sequence number and its issue time.
    """

    def __init__(self, capacity: int = 1024) -> None:
        super().__init__(COMMAND_DTYPE, capacity, "commands")
        self._lock = threading.Lock()
        self._seq = 0
        self._bound_push = bind(ring_push_nb, self.ctrl, self.buf, self._one, 0)  # now, not at the first command

    def send(self, kind: int, **fields: float | int) -> int:
        """Queue a command; returns its sequence number, or -1 when the ring is full (counted)."""
        with self._lock:
            rec = self._one
            rec[0] = 0
            for key in ("price", "stop_px", "take_profit_px"):
                rec[key][0] = np.nan
            for key, value in fields.items():
                rec[key][0] = value
            rec["kind"][0] = kind
            self._seq += 1
            rec["seq"][0] = self._seq
            rec["ts_in_ns"][0] = time.monotonic_ns()
            if not self._push_one(self.ctrl, self.buf, rec, 0):
                self._seq -= 1
                return -1
            return self._seq
