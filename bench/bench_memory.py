"""Pools, rings and histograms: in-kernel costs, cross-thread throughput, and pure-Python baselines."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from bench.common import Figure, median_of, per_op_ns
from bot4.core.histogram import HIST_STRIDE, hist_record_nb, hist_reset_nb
from bot4.core.jit import kernel
from bot4.core.pool import OrderPool, pool_acquire_nb, pool_release_nb
from bot4.core.records import TICK_DTYPE
from bot4.core.ring import Ring, ring_pop_many_nb, ring_pop_nb, ring_push_many_nb, ring_push_nb


@kernel
def _pool_loop(free, state, ctrl, n):  # type: ignore[no-untyped-def]
    acc = 0
    for _ in range(n):
        idx = pool_acquire_nb(free, state, ctrl)
        acc += idx
        pool_release_nb(free, state, ctrl, idx)
    return acc


@kernel
def _ring_loop(ctrl, buf, src, out, n):  # type: ignore[no-untyped-def]
    """Single-record push and pop (whole 80-byte records copied), 64 pushes then 64 pops per round."""
    acc = 0.0
    for _ in range(n // 64):
        for k in range(64):
            ring_push_nb(ctrl, buf, src, k)
        for k in range(64):
            ring_pop_nb(ctrl, buf, out, k)
        acc += out[63]["price"]
    return acc


@kernel
def _hist_loop(arr, values):  # type: ignore[no-untyped-def]
    for i in range(values.shape[0]):
        hist_record_nb(arr, 0, values[i])
    return arr[0]


@kernel
def _produce(ctrl, buf, scratch, total):  # type: ignore[no-untyped-def]
    sent = 0
    while sent < total:
        n = min(scratch.shape[0], total - sent)
        for k in range(n):
            scratch[k]["seq"] = sent + k
        done = 0
        while done < n:
            done += ring_push_many_nb(ctrl, buf, scratch, done, n - done)
        sent += n
    return sent


@kernel
def _consume(ctrl, buf, scratch, total):  # type: ignore[no-untyped-def]
    got = 0
    last = -1
    while got < total:
        n = ring_pop_many_nb(ctrl, buf, scratch, scratch.shape[0])
        if n > 0:
            last = scratch[n - 1]["seq"]
        got += n
    return last


def _python_pool(n: int) -> None:
    free = list(range(10_000))
    in_use = [False] * 10_000
    for _ in range(n):
        idx = free.pop()
        in_use[idx] = True
        if in_use[idx]:
            in_use[idx] = False
            free.append(idx)


def _python_ring(n: int) -> None:
    q: deque[tuple[int, float]] = deque(maxlen=1024)
    for i in range(n):
        q.append((i, float(i)))
        q.popleft()


def _python_hist(arr: list[int], values: list[int]) -> None:
    for v in values:
        shift = max(0, v.bit_length() - 11)
        arr[1024 * shift + (v >> shift)] += 1


def _cross_thread(total: int, batch: int = 256) -> float:
    ring = Ring(TICK_DTYPE, 1 << 14)
    ps, cs = np.zeros(batch, TICK_DTYPE), np.zeros(batch, TICK_DTYPE)
    result: list[int] = []
    consumer = threading.Thread(target=lambda: result.append(_consume(ring.ctrl, ring.buf, cs, total)))
    start = time.perf_counter()
    consumer.start()
    _produce(ring.ctrl, ring.buf, ps, total)
    consumer.join()
    elapsed = time.perf_counter() - start
    assert result == [total - 1]
    return total / elapsed


def _cross_thread_python(total: int) -> float:
    q: deque[int] = deque()
    done = threading.Event()

    def consume() -> None:
        got = 0
        while got < total:
            try:
                q.popleft()
                got += 1
            except IndexError:
                time.sleep(0)
        done.set()

    consumer = threading.Thread(target=consume)
    start = time.perf_counter()
    consumer.start()
    for i in range(total):
        q.append(i)
    consumer.join()
    return total / (time.perf_counter() - start)


def run(quick: bool) -> list[Figure]:
    runs = 5 if quick else 15
    n = 2_000_000 if quick else 10_000_000
    n_py = 200_000

    pool = OrderPool()
    _pool_loop(pool.free, pool.slot_state, pool.ctrl, 10)
    pool_ns = median_of(runs, lambda: per_op_ns(lambda: _pool_loop(pool.free, pool.slot_state, pool.ctrl, n), n))
    pool_py = median_of(runs, lambda: per_op_ns(lambda: _python_pool(n_py), n_py))

    ring = Ring(TICK_DTYPE, 1024)
    src, out = np.zeros(64, TICK_DTYPE), np.zeros(64, TICK_DTYPE)
    src["price"] = np.arange(64)
    _ring_loop(ring.ctrl, ring.buf, src, out, 64)
    ring_ns = median_of(runs, lambda: per_op_ns(lambda: _ring_loop(ring.ctrl, ring.buf, src, out, n), n))
    ring_py = median_of(runs, lambda: per_op_ns(lambda: _python_ring(n_py), n_py))

    total = 5_000_000 if quick else 20_000_000
    _cross_thread(100_000)
    xt = median_of(runs, lambda: _cross_thread(total))
    xt_py = median_of(3, lambda: _cross_thread_python(200_000))

    pring = Ring(TICK_DTYPE, 1 << 16)
    pring.staging["price"] = 1.0
    pushes = 50_000
    sink = np.zeros(pushes, TICK_DTYPE)

    def python_push() -> float:
        start = time.perf_counter_ns()
        for _ in range(pushes):
            pring.push_staged()
        elapsed = time.perf_counter_ns() - start
        pring.pop_many(sink)
        return elapsed / pushes

    py_push = median_of(runs, python_push)
    dq: deque[tuple[int, float]] = deque()
    item = (1, 2.0)

    def deque_push() -> float:
        start = time.perf_counter_ns()
        for _ in range(pushes):
            dq.append(item)
        elapsed = time.perf_counter_ns() - start
        dq.clear()
        return elapsed / pushes

    py_push_base = median_of(runs, deque_push)

    hist = np.zeros(HIST_STRIDE, np.int64)
    hist_reset_nb(hist, 0)
    values = np.random.default_rng(1).lognormal(6, 2, n).astype(np.int64).clip(0, 2**36 - 1)
    _hist_loop(hist, values[:10])
    hist_ns = median_of(runs, lambda: per_op_ns(lambda: _hist_loop(hist, values), n))
    py_arr = [0] * HIST_STRIDE
    py_values = values[:n_py].tolist()
    hist_py = median_of(runs, lambda: per_op_ns(lambda: _python_hist(py_arr, py_values), n_py))

    return [
        Figure("pool_acquire_release_ns", pool_ns, "ns", "<= 20", "pool_acquire_release_python_ns"),
        Figure("pool_acquire_release_python_ns", pool_py, "ns", note="list free-list in Python"),
        Figure("ring_push_pop_ns", ring_ns, "ns", "<= 10", "ring_push_pop_python_ns"),
        Figure("ring_push_pop_python_ns", ring_py, "ns", note="deque append+popleft"),
        Figure(
            "ring_cross_thread_records_per_s",
            xt,
            "rec/s",
            ">= 20000000",
            "ring_cross_thread_python_records_per_s",
            higher_is_better=True,
        ),
        Figure("ring_cross_thread_python_records_per_s", xt_py, "rec/s", higher_is_better=True, note="deque, 2 threads"),
        Figure("ring_python_push_ns", py_push, "ns", "", "ring_python_push_python_ns"),
        Figure("ring_python_push_python_ns", py_push_base, "ns", note="deque.append of a tuple"),
        Figure("hist_record_ns", hist_ns, "ns", "", "hist_record_python_ns"),
        Figure("hist_record_python_ns", hist_py, "ns", note="same bucketing in Python"),
    ]
