"""Rings across real threads: every record arrives once, in order, with nothing lost."""

from __future__ import annotations

import threading

import numpy as np

from bot4.core.jit import kernel
from bot4.core.records import COMMAND_DTYPE, TICK_DTYPE
from bot4.core.ring import CommandRing, Ring, ring_pop_many_nb, ring_push_many_nb

BATCH = 256


@kernel
def _produce(ctrl, buf, scratch, total):  # type: ignore[no-untyped-def]
    """Push records with seq 0..total-1 in batches, spinning (without counting twice) while the ring is full."""
    sent = 0
    while sent < total:
        n = scratch.shape[0]
        if total - sent < n:
            n = total - sent
        for k in range(n):
            scratch[k]["seq"] = sent + k
            scratch[k]["price"] = float(sent + k)
        done = 0
        while done < n:
            done += ring_push_many_nb(ctrl, buf, scratch, done, n - done)
        sent += n
    return sent


@kernel
def _consume(ctrl, buf, scratch, total):  # type: ignore[no-untyped-def]
    """Pop until ``total`` records arrived; returns the number that broke the sequence (0 when perfect)."""
    expected = 0
    errors = 0
    while expected < total:
        n = ring_pop_many_nb(ctrl, buf, scratch, scratch.shape[0])
        for k in range(n):
            if scratch[k]["seq"] != expected or scratch[k]["price"] != float(expected):
                errors += 1
            expected += 1
    return errors


def _run_threads(*targets):  # type: ignore[no-untyped-def]
    results: dict[str, object] = {}

    def wrap(name, fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                results[name] = fn()
            except BaseException as exc:
                results[name] = exc

        return run

    threads = [threading.Thread(target=wrap(name, fn)) for name, fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_numba_producer_numba_consumer_ten_million() -> None:
    total = 10_000_000
    ring = Ring(TICK_DTYPE, 1 << 14)
    pscratch = np.zeros(BATCH, dtype=TICK_DTYPE)
    cscratch = np.zeros(BATCH, dtype=TICK_DTYPE)
    results = _run_threads(
        ("producer", lambda: _produce(ring.ctrl, ring.buf, pscratch, total)),
        ("consumer", lambda: _consume(ring.ctrl, ring.buf, cscratch, total)),
    )
    assert results == {"producer": total, "consumer": 0}
    assert ring.pushed == total and ring.popped == total and ring.depth == 0


def test_python_producer_numba_consumer() -> None:
    total = 100_000
    ring = Ring(TICK_DTYPE, 1024)

    def produce() -> int:
        rec = np.zeros(1, dtype=TICK_DTYPE)
        for i in range(total):
            rec["seq"] = i
            rec["price"] = float(i)
            while not ring.push(rec):
                pass
        return total

    cscratch = np.zeros(BATCH, dtype=TICK_DTYPE)
    results = _run_threads(
        ("producer", produce),
        ("consumer", lambda: _consume(ring.ctrl, ring.buf, cscratch, total)),
    )
    assert results == {"producer": total, "consumer": 0}


def test_command_ring_many_producers_one_consumer() -> None:
    ring = CommandRing(capacity=256)
    per_thread = 5_000
    producers = 4

    def produce(tid: int):  # type: ignore[no-untyped-def]
        def run() -> int:
            for i in range(per_thread):
                while ring.send(1, symbol_id=tid, arg=i) < 0:
                    pass
            return per_thread

        return run

    seen: dict[int, list[int]] = {t: [] for t in range(producers)}
    seqs: list[int] = []

    def consume() -> int:
        out = np.zeros(64, dtype=COMMAND_DTYPE)
        got = 0
        while got < producers * per_thread:
            n = ring.pop_many(out)
            for rec in out[:n]:
                seen[int(rec["symbol_id"])].append(int(rec["arg"]))
                seqs.append(int(rec["seq"]))
            got += n
        return got

    targets = [(f"p{t}", produce(t)) for t in range(producers)] + [("consumer", consume)]
    results = _run_threads(*targets)
    assert results["consumer"] == producers * per_thread
    for t in range(producers):
        assert seen[t] == list(range(per_thread)), f"producer {t} lost or reordered commands"
    assert seqs == list(range(1, producers * per_thread + 1))
