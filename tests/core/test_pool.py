"""Pools against a plain Python free-list model: exhaustion, double and foreign releases, pressure."""

from __future__ import annotations

import threading

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot4.core.jit import kernel
from bot4.core.pool import (
    RELEASE_DOUBLE,
    RELEASE_FOREIGN,
    RELEASE_OK,
    THREAD_CACHE_SLOTS,
    OrderPool,
    Pool,
    SharedPool,
    SignalPool,
    TickPool,
    pool_acquire_nb,
    pool_release_nb,
)
from bot4.core.records import ORDER_DTYPE, TICK_DTYPE


class PoolMachine(RuleBasedStateMachine):
    """Drives a small pool and a Python list free-list with the same operations."""

    CAPACITY = 10

    def __init__(self) -> None:
        super().__init__()
        self.pool = Pool(TICK_DTYPE, self.CAPACITY)
        self.model_free = list(range(self.CAPACITY - 1, -1, -1))
        self.model_used: set[int] = set()
        self.overflows = 0
        self.doubles = 0
        self.foreign = 0
        self.high_water = 0

    @rule()
    def acquire(self) -> None:
        got = self.pool.acquire()
        if self.model_free:
            expected = self.model_free.pop()
            assert got == expected
            self.model_used.add(got)
            self.high_water = max(self.high_water, len(self.model_used))
        else:
            assert got == -1
            self.overflows += 1

    @precondition(lambda self: self.model_used)
    @rule(data=st.data())
    def release_used(self, data: st.DataObject) -> None:
        idx = data.draw(st.sampled_from(sorted(self.model_used)))
        assert self.pool.release(idx) == RELEASE_OK
        self.model_used.remove(idx)
        self.model_free.append(idx)

    @rule(idx=st.integers(0, CAPACITY - 1))
    def release_maybe_free(self, idx: int) -> None:
        status = self.pool.release(idx)
        if idx in self.model_used:
            assert status == RELEASE_OK
            self.model_used.remove(idx)
            self.model_free.append(idx)
        else:
            assert status == RELEASE_DOUBLE
            self.doubles += 1

    @rule(idx=st.one_of(st.integers(-1000, -1), st.integers(CAPACITY, 10**9)))
    def release_foreign(self, idx: int) -> None:
        assert self.pool.release(idx) == RELEASE_FOREIGN
        self.foreign += 1

    @invariant()
    def counters_match(self) -> None:
        assert self.pool.in_use == len(self.model_used)
        assert self.pool.overflows == self.overflows
        assert self.pool.double_releases == self.doubles
        assert self.pool.foreign_releases == self.foreign
        assert self.pool.high_water == self.high_water
        assert self.pool.under_pressure == (len(self.model_used) >= 9)  # 90 % of 10
        # the free stack holds exactly the free indices, each once
        top = self.CAPACITY - self.pool.in_use
        assert sorted(self.pool.free[:top].tolist()) == sorted(self.model_free)


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)


def test_spec_capacities() -> None:
    assert OrderPool().capacity == 10_000
    assert SignalPool().capacity == 100_000
    assert TickPool().capacity == 1_000_000


def test_exhaustion_never_grows_and_pressure_flags_at_90_percent() -> None:
    pool = OrderPool(100)
    taken = [pool.acquire() for _ in range(89)]
    assert not pool.under_pressure
    taken.append(pool.acquire())
    assert pool.under_pressure and pool.pressure == 0.9
    taken += [pool.acquire() for _ in range(10)]
    assert sorted(taken) == list(range(100))
    assert pool.acquire() == -1 and pool.acquire() == -1
    assert pool.overflows == 2
    assert pool.records.shape == (100,)
    for idx in taken[:20]:
        assert pool.release(idx) == RELEASE_OK
    assert not pool.under_pressure
    assert pool.stats()["pressure_events"] == 1
    assert pool.high_water == 100


@kernel
def _churn_in_kernel(free, state, ctrl, records, rounds):  # type: ignore[no-untyped-def]
    total = 0
    for r in range(rounds):
        a = pool_acquire_nb(free, state, ctrl)
        b = pool_acquire_nb(free, state, ctrl)
        records[a]["size"] = r
        records[b]["size"] = r + 1
        total += records[a]["size"] + records[b]["size"]
        pool_release_nb(free, state, ctrl, a)
        pool_release_nb(free, state, ctrl, b)
    return total


def test_kernels_usable_from_njit() -> None:
    pool = OrderPool(16)
    total = _churn_in_kernel(pool.free, pool.slot_state, pool.ctrl, pool.records, 1000)
    assert total == sum(2 * r + 1 for r in range(1000))
    assert pool.in_use == 0 and pool.high_water == 2


def test_shared_pool_thread_caches_under_threads() -> None:
    """Four threads churn through per-thread caches; no index is ever held twice, none is lost."""
    pool = Pool(ORDER_DTYPE, 2_000)
    shared = SharedPool(pool)
    owner = np.full(pool.capacity, -1, dtype=np.int64)
    errors: list[str] = []
    barrier = threading.Barrier(4)

    def worker(tid: int) -> None:
        try:
            churn(tid)
        except BaseException as exc:  # a failed assert in a thread must fail the test
            errors.append(f"thread {tid}: {exc!r}")

    def churn(tid: int) -> None:
        cache = shared.cache()
        held: list[int] = []
        barrier.wait()
        rng = np.random.default_rng(tid)
        for step in range(20_000):
            if held and (rng.random() < 0.5 or len(held) > 300):
                idx = held.pop(int(rng.integers(len(held))))
                if owner[idx] != tid:
                    errors.append(f"thread {tid} released {idx} owned by {owner[idx]}")
                owner[idx] = -1
                assert cache.release(idx) == RELEASE_OK
            else:
                idx = cache.acquire()
                if idx < 0:
                    continue
                if owner[idx] != -1:
                    errors.append(f"thread {tid} got {idx} still owned by {owner[idx]} at step {step}")
                owner[idx] = tid
                held.append(idx)
        assert cache.release(10**6) == RELEASE_FOREIGN
        for idx in held:
            owner[idx] = -1
            assert cache.release(idx) == RELEASE_OK
        idx = cache.acquire()
        assert idx >= 0 and cache.release(idx) == RELEASE_OK
        assert cache.release(idx) == RELEASE_DOUBLE  # still parked in this thread's cache: detected
        cache.flush()
        assert cache.cached == 0

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.in_use == 0
    assert sorted(pool.free.tolist()) == list(range(pool.capacity))
    assert pool.foreign_releases == 4
    assert pool.double_releases == 4
    assert pool.high_water <= pool.capacity


def test_thread_cache_bounded_and_refuses_when_pool_empty() -> None:
    pool = Pool(ORDER_DTYPE, 100)
    cache = SharedPool(pool).cache()
    got = [cache.acquire() for _ in range(100)]
    assert sorted(got) == list(range(100))
    assert cache.acquire() == -1 and cache.overflows == 1
    for idx in got:
        cache.release(idx)
    assert cache.cached <= THREAD_CACHE_SLOTS
    cache.flush()
    assert pool.in_use == 0
