"""Stats block: padded layout, named counters, and a seqlock that never hands out a torn snapshot."""

from __future__ import annotations

import threading

import numpy as np

from bot4.core.histogram import hist_record_nb
from bot4.core.jit import kernel
from bot4.core.memory import aligned_zeros
from bot4.core.stats import (
    COUNTER_INDEX,
    COUNTER_NAMES,
    HIST_NAMES,
    StatsBlock,
    counter_add_nb,
    counter_slot_nb,
    hist_base_nb,
    seqlock_read_nb,
    seqlock_write_nb,
)


def test_every_counter_on_its_own_cache_line() -> None:
    block = StatsBlock()
    assert block.live.ctypes.data % 64 == 0
    lines = {counter_slot_nb(i) * 8 // 64 for i in range(len(COUNTER_NAMES))}
    assert len(lines) == len(COUNTER_NAMES)
    assert 0 not in lines  # line 0 is the header
    hist_lines = {hist_base_nb(h) * 8 // 64 for h in range(len(HIST_NAMES))}
    assert not hist_lines & lines


def test_counters_and_histograms_visible_only_after_publish() -> None:
    block = StatsBlock()
    counter_add_nb(block.live, COUNTER_INDEX["ticks_in"], 5)
    hist_record_nb(block.live, hist_base_nb(0), 123)
    before = block.snapshot()
    assert before.counter("ticks_in") == 0 and before.histogram("decision").count == 0
    block.publish()
    after = block.snapshot()
    assert after.counter("ticks_in") == 5
    assert after.histogram("decision").count == 1 and after.histogram("decision").percentile(50) == 123
    assert after.counters()["publishes"] == 2
    assert after.published_ns >= before.published_ns


@kernel
def _writer(seq, live, published, rounds):  # type: ignore[no-untyped-def]
    """Each round fills the live block with one value everywhere, then publishes it."""
    for r in range(1, rounds + 1):
        for k in range(live.shape[0]):
            live[k] = r
        seqlock_write_nb(seq, live, published)
    return rounds


@kernel
def _unsafe_copy(src, dst):  # type: ignore[no-untyped-def]
    for k in range(src.shape[0]):
        dst[k] = src[k]


def test_seqlock_reader_never_sees_a_torn_snapshot() -> None:
    size = 50_000
    seq = aligned_zeros(8)
    live, published = aligned_zeros(size), aligned_zeros(size)
    rounds = 4_000
    stop = threading.Event()
    torn: list[int] = []
    reads = [0, 0]  # consistent reads, retries

    def read() -> None:
        out = np.empty(size, dtype=np.int64)
        while not stop.is_set():
            tries = seqlock_read_nb(seq, published, out, 1_000)
            if tries < 0:
                continue
            reads[0] += 1
            reads[1] += tries - 1
            if out.min() != out.max():
                torn.append(int(out.max() - out.min()))

    reader = threading.Thread(target=read)
    reader.start()
    _writer(seq, live, published, rounds)
    stop.set()
    reader.join()
    assert torn == []
    assert reads[0] > 0
    assert seq[0] == 2 * rounds


def test_copy_without_the_seqlock_does_tear() -> None:
    """The check above can fail: the same race without the seqlock produces torn copies."""
    size = 50_000
    seq = aligned_zeros(8)
    live, published = aligned_zeros(size), aligned_zeros(size)
    done = threading.Event()
    torn = 0

    def write() -> None:
        for _ in range(200):
            _writer(seq, live, published, 50)
            if done.is_set():
                return

    writer = threading.Thread(target=write)
    writer.start()
    out = np.empty(size, dtype=np.int64)
    while writer.is_alive() and torn == 0:
        _unsafe_copy(published, out)
        torn += int(out.min() != out.max())
    done.set()
    writer.join()
    assert torn > 0


def test_engine_snapshots_copy_the_histograms_in_use_exactly() -> None:
    """Publishing and reading copy each histogram's header and the buckets between its smallest and largest value
    only: the reader's copy equals the live block word for word, also after a reset shrinks the range (the published
    block then still holds old buckets outside it), and percentiles equal a full scan of the buckets."""
    from bot4.core.config import CoreConfig
    from bot4.core.histogram import HIST_BUCKETS, HIST_HEADER, bucket_low_nb, hist_reset_nb
    from bot4.core.runner import Core

    core = Core(CoreConfig())
    live = core.state.stats
    rng = np.random.default_rng(7)
    for h in range(len(HIST_NAMES)):
        for v in rng.integers(1, 60_000_000_000, 500):
            hist_record_nb(live, hist_base_nb(h), int(v))
    hist_record_nb(live, hist_base_nb(1), -5)  # clamped to 0
    core.publish()
    snap = core.snapshot()
    assert np.array_equal(snap.stats.data, live)
    base = hist_base_nb(2)
    hist_reset_nb(live, base)
    for v in (300, 310, 900):
        hist_record_nb(live, base, v)
    core.publish()
    published = core.state.pub.stats[base + HIST_HEADER : base + HIST_HEADER + HIST_BUCKETS]
    assert published.sum() > 3  # buckets from before the reset remain in the published block, outside the range
    snap = core.snapshot()
    assert np.array_equal(snap.stats.data, live)
    for h, name in enumerate(HIST_NAMES):
        buckets = live[hist_base_nb(h) + HIST_HEADER : hist_base_nb(h) + HIST_HEADER + HIST_BUCKETS]
        cum = np.cumsum(buckets)
        for pct in (1.0, 50.0, 99.0, 100.0):
            i = int(np.searchsorted(cum, int(np.ceil(pct / 100 * cum[-1]))))
            got = snap.stats.histogram(name).percentile(pct)
            assert bucket_low_nb(i) <= got or got == snap.stats.histogram(name).min_ns
            assert got <= bucket_low_nb(i + 1) or got == snap.stats.histogram(name).max_ns
