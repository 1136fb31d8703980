"""Bounded free-list pools over preallocated record arrays.

A pool never grows and never allocates after construction. ``acquire`` pops an index off the free-list stack (or
returns -1 and counts an overflow when the pool is exhausted); ``release`` pushes it back after checking the slot
really is in use, so a double release or a foreign index is counted and refused instead of corrupting the stack.

The kernels take the three arrays a pool owns (``free``, ``slot_state``, ``ctrl``) and are what the core calls from
njit code; :class:`Pool` is the Python owner. A pool belongs to one thread. When a second thread must acquire from
it, :class:`SharedPool` puts a per-thread cache of 128 slots in front of a lock-protected global free list, refilled
and drained in batches of 64, so the lock is taken once per 64 operations.
"""

from __future__ import annotations

import threading

import numpy as np

from bot4.core.jit import helper, kernel
from bot4.core.memory import aligned_zeros
from bot4.core.records import ORDER_DTYPE, SIGNAL_DTYPE, TICK_DTYPE

# ctrl layout (int64): single-writer counters, readable by any thread
POOL_FREE_TOP = 0  # number of indices on the free stack
POOL_IN_USE = 1  # slots handed out (including those parked in thread caches)
POOL_HIGH_WATER = 2  # highest POOL_IN_USE ever seen
POOL_OVERFLOWS = 3  # acquires refused because the pool was empty
POOL_DOUBLE_RELEASES = 4  # releases of a slot that was already free
POOL_FOREIGN_RELEASES = 5  # releases of an index outside [0, capacity)
POOL_PRESSURE = 6  # 1 while in-use >= the pressure threshold, else 0
POOL_PRESSURE_EVENTS = 7  # times the pressure flag went from 0 to 1
POOL_CAPACITY = 8
POOL_PRESSURE_AT = 9  # in-use count at which pressure is flagged (ceil of 90 % of capacity)
POOL_CTRL_SIZE = 16

PRESSURE_FRAC = 0.9

# slot_state values
SLOT_FREE = 0
SLOT_IN_USE = 1
SLOT_CACHED = 2  # free, parked in a thread cache of a SharedPool

RELEASE_OK = 0
RELEASE_DOUBLE = 1
RELEASE_FOREIGN = 2

THREAD_CACHE_SLOTS = 128
THREAD_CACHE_BATCH = 64


@helper
def pool_acquire_nb(free: np.ndarray, slot_state: np.ndarray, ctrl: np.ndarray) -> int:
    """Pop a free index, or return -1 and count an overflow."""
    top = ctrl[POOL_FREE_TOP]
    if top == 0:
        ctrl[POOL_OVERFLOWS] += 1
        return -1
    top -= 1
    idx = free[top]
    ctrl[POOL_FREE_TOP] = top
    slot_state[idx] = SLOT_IN_USE
    used = ctrl[POOL_IN_USE] + 1
    ctrl[POOL_IN_USE] = used
    if used > ctrl[POOL_HIGH_WATER]:
        ctrl[POOL_HIGH_WATER] = used
    if used >= ctrl[POOL_PRESSURE_AT] and ctrl[POOL_PRESSURE] == 0:
        ctrl[POOL_PRESSURE] = 1
        ctrl[POOL_PRESSURE_EVENTS] += 1
    return idx


@helper
def pool_release_nb(free: np.ndarray, slot_state: np.ndarray, ctrl: np.ndarray, idx: int) -> int:
    """Push ``idx`` back; a foreign or already-free index is counted and refused (RELEASE_* code)."""
    if idx < 0 or idx >= ctrl[POOL_CAPACITY]:
        ctrl[POOL_FOREIGN_RELEASES] += 1
        return RELEASE_FOREIGN
    if slot_state[idx] != SLOT_IN_USE:
        ctrl[POOL_DOUBLE_RELEASES] += 1
        return RELEASE_DOUBLE
    slot_state[idx] = SLOT_FREE
    top = ctrl[POOL_FREE_TOP]
    free[top] = idx
    ctrl[POOL_FREE_TOP] = top + 1
    used = ctrl[POOL_IN_USE] - 1
    ctrl[POOL_IN_USE] = used
    if used < ctrl[POOL_PRESSURE_AT]:
        ctrl[POOL_PRESSURE] = 0
    return RELEASE_OK


@kernel
def pool_take_batch_nb(free: np.ndarray, slot_state: np.ndarray, ctrl: np.ndarray, out: np.ndarray, n: int) -> int:
    """Move up to ``n`` free indices into ``out`` (marked SLOT_CACHED) for a thread cache; returns how many."""
    got = 0
    # an empty global list is not an overflow here: the cache counts its own when it has nothing to hand out
    while got < n and ctrl[POOL_FREE_TOP] > 0:
        idx = pool_acquire_nb(free, slot_state, ctrl)
        slot_state[idx] = SLOT_CACHED
        out[got] = idx
        got += 1
    return got


@kernel
def pool_return_batch_nb(free: np.ndarray, slot_state: np.ndarray, ctrl: np.ndarray, src: np.ndarray, n: int) -> int:
    """Give ``src[:n]`` (cached, free) indices back to the global free list; returns how many were accepted."""
    back = 0
    for k in range(n):
        idx = src[k]
        if slot_state[idx] != SLOT_CACHED:
            ctrl[POOL_DOUBLE_RELEASES] += 1
            continue
        slot_state[idx] = SLOT_IN_USE
        if pool_release_nb(free, slot_state, ctrl, idx) == RELEASE_OK:
            back += 1
    return back


class Pool:
    """A bounded pool of ``capacity`` records of ``dtype``; owned by one thread."""

    def __init__(self, dtype: np.dtype, capacity: int, name: str = "pool") -> None:
        if capacity <= 0:
            raise ValueError(f"pool {name}: capacity must be > 0, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.records = np.zeros(capacity, dtype=dtype)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # low indices handed out first
        self.slot_state = np.zeros(capacity, dtype=np.uint8)
        self.ctrl = aligned_zeros(POOL_CTRL_SIZE)
        self.ctrl[POOL_FREE_TOP] = capacity
        self.ctrl[POOL_CAPACITY] = capacity
        self.ctrl[POOL_PRESSURE_AT] = -(-capacity * 9 // 10)  # ceil(0.9 * capacity) without float rounding

    def acquire(self) -> int:
        """An index into :attr:`records`, or -1 when the pool is exhausted (counted)."""
        return int(pool_acquire_nb(self.free, self.slot_state, self.ctrl))

    def release(self, idx: int) -> int:
        """Return ``idx``; RELEASE_OK, or RELEASE_DOUBLE / RELEASE_FOREIGN when refused (counted)."""
        return int(pool_release_nb(self.free, self.slot_state, self.ctrl, idx))

    @property
    def in_use(self) -> int:
        return int(self.ctrl[POOL_IN_USE])

    @property
    def high_water(self) -> int:
        return int(self.ctrl[POOL_HIGH_WATER])

    @property
    def overflows(self) -> int:
        return int(self.ctrl[POOL_OVERFLOWS])

    @property
    def double_releases(self) -> int:
        return int(self.ctrl[POOL_DOUBLE_RELEASES])

    @property
    def foreign_releases(self) -> int:
        return int(self.ctrl[POOL_FOREIGN_RELEASES])

    @property
    def pressure(self) -> float:
        """In-use fraction of capacity, 0..1."""
        return self.in_use / self.capacity

    @property
    def under_pressure(self) -> bool:
        """True while usage is at or above 90 % of capacity."""
        return bool(self.ctrl[POOL_PRESSURE])

    def stats(self) -> dict[str, int | float]:
        return {
            "capacity": self.capacity,
            "in_use": self.in_use,
            "high_water": self.high_water,
            "overflows": self.overflows,
            "double_releases": self.double_releases,
            "foreign_releases": self.foreign_releases,
            "pressure": self.pressure,
            "pressure_events": int(self.ctrl[POOL_PRESSURE_EVENTS]),
        }


class OrderPool(Pool):
    CAPACITY = 10_000

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__(ORDER_DTYPE, capacity, "orders")


class SignalPool(Pool):
    CAPACITY = 100_000

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__(SIGNAL_DTYPE, capacity, "signals")


class TickPool(Pool):
    CAPACITY = 1_000_000

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__(TICK_DTYPE, capacity, "ticks")


class ThreadCache:
    """One thread's 128-slot stash of free indices from a :class:`SharedPool`; use only from that thread."""

    def __init__(self, shared: SharedPool) -> None:
        self._shared = shared
        self._slots = np.zeros(THREAD_CACHE_SLOTS, dtype=np.int64)
        self._count = 0
        self.overflows = 0

    def acquire(self) -> int:
        if self._count == 0:
            self._count = self._shared._refill(self._slots)
            if self._count == 0:
                self.overflows += 1
                return -1
        self._count -= 1
        idx = int(self._slots[self._count])
        self._shared.pool.slot_state[idx] = SLOT_IN_USE
        return idx

    def release(self, idx: int) -> int:
        pool = self._shared.pool
        if idx < 0 or idx >= pool.capacity:
            self._shared._count_foreign()
            return RELEASE_FOREIGN
        if pool.slot_state[idx] != SLOT_IN_USE:
            self._shared._count_double()
            return RELEASE_DOUBLE
        pool.slot_state[idx] = SLOT_CACHED
        if self._count == THREAD_CACHE_SLOTS:
            self._count = self._shared._drain(self._slots, self._count)
        self._slots[self._count] = idx
        self._count += 1
        return RELEASE_OK

    def flush(self) -> None:
        """Give every cached index back to the global list (call before the thread ends)."""
        self._count = self._shared._drain(self._slots, self._count, keep=0)

    @property
    def cached(self) -> int:
        return self._count


class SharedPool:
    """A :class:`Pool` that several threads acquire from, each through its own :class:`ThreadCache`."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._local = threading.local()

    def cache(self) -> ThreadCache:
        """The calling thread's cache (created on first use)."""
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = ThreadCache(self)
            self._local.cache = cache
        return cache

    def _refill(self, slots: np.ndarray) -> int:
        p = self.pool
        with self._lock:
            return int(pool_take_batch_nb(p.free, p.slot_state, p.ctrl, slots, THREAD_CACHE_BATCH))

    def _drain(self, slots: np.ndarray, count: int, keep: int = THREAD_CACHE_SLOTS - THREAD_CACHE_BATCH) -> int:
        """Return all but ``keep`` cached indices (the oldest ones) to the global list; the new count."""
        give = count - keep
        if give <= 0:
            return count
        p = self.pool
        with self._lock:
            pool_return_batch_nb(p.free, p.slot_state, p.ctrl, slots, give)
        slots[:keep] = slots[give:count].copy()
        return keep

    def _count_foreign(self) -> None:
        with self._lock:
            self.pool.ctrl[POOL_FOREIGN_RELEASES] += 1

    def _count_double(self) -> None:
        with self._lock:
            self.pool.ctrl[POOL_DOUBLE_RELEASES] += 1
