"""The core's snapshot: a seqlock-published copy of its state that any thread reads consistently.

The core (or whoever holds the step) writes its copies between two increments of the sequence word; a reader copies
them and retries when the word moved or was odd. Readers never slow the core down and always see one moment.
"""

from __future__ import annotations

import numpy as np
from numba import literal_unroll

from bot4.core.atomics import fence_seq_cst, load_acquire, monotonic_ns, store_release
from bot4.core.book import copy_levels_nb, publish_levels_nb
from bot4.core.jit import helper, kernel
from bot4.core.positions import resync_account_nb
from bot4.core.state import EngineState, Published, Rings
from bot4.core.stats import C_PUBLISHES, HEADER_TS_NS, SEQ_WORD, copy_stats_nb, counter_add_nb


@helper
def copy_nb(src: np.ndarray, dst: np.ndarray) -> None:
    """Row by row (records or numbers): a whole-array copy would need numba's runtime, which kernels go without."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@helper
def copy2d_nb(src: np.ndarray, dst: np.ndarray) -> None:
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@kernel
def copy_ring_rows_nb(rings: Rings, rows: np.ndarray) -> None:
    """Every ring's control words into ``rows``, one row per ring in ``RING_ROWS`` order (a call: numba unrolls
    the loop over the rings only outside inlined code)."""
    r = 0
    for ring in literal_unroll(rings):
        for i in range(ring.ctrl.shape[0]):
            rows[r, i] = ring.ctrl[i]
        r += 1


@kernel
def engine_publish_inline_nb(st: EngineState) -> None:
    """The publish itself: a call, not inlined into the run loop (it runs every ``publish_ns``, not per record)."""
    resync_account_nb(st)
    st.stats[HEADER_TS_NS] = monotonic_ns()
    counter_add_nb(st.stats, C_PUBLISHES, 1)
    s = st.seq[SEQ_WORD]
    store_release(st.seq, SEQ_WORD, s + 1)
    fence_seq_cst()
    pub = st.pub
    copy_stats_nb(st.stats, pub.stats)  # the histograms' used ranges: 888 KB in full, evicting the core's data
    copy_nb(st.core, pub.core)
    copy_nb(st.acct, pub.acct)
    copy_nb(st.sym, pub.sym)
    copy2d_nb(st.risk.corr, pub.corr)
    copy_nb(st.brk, pub.brk)
    copy_nb(st.pool.ctrl, pub.pool)
    copy_ring_rows_nb(st.rings, pub.rings)
    publish_levels_nb(st.l2, pub.book)
    store_release(st.seq, SEQ_WORD, s + 2)


@kernel
def engine_publish_nb(st: EngineState) -> None:
    """Publish the core's state for readers (core thread only, or while the core is stopped)."""
    engine_publish_inline_nb(st)


@kernel
def engine_read_nb(st: EngineState, out: Published, max_tries: int) -> int:
    """Copy the published state into ``out`` consistently (seqlock); attempts used, or -1 if every one collided.

    ``out.stats`` must come zeroed: only the histograms' used buckets are copied.
    """
    pub = st.pub
    for attempt in range(max_tries):
        before = load_acquire(st.seq, SEQ_WORD)
        if before & 1:
            continue
        copy_stats_nb(pub.stats, out.stats)
        copy_nb(pub.core, out.core)
        copy_nb(pub.acct, out.acct)
        copy_nb(pub.sym, out.sym)
        copy2d_nb(pub.corr, out.corr)
        copy_nb(pub.brk, out.brk)
        copy_nb(pub.pool, out.pool)
        copy2d_nb(pub.rings, out.rings)
        copy_levels_nb(pub.book, out.book)
        fence_seq_cst()
        if load_acquire(st.seq, SEQ_WORD) == before:
            return attempt + 1
    return -1


@helper
def publish_if_due_nb(st: EngineState, now: int) -> None:
    if now - st.core[0].last_publish_ns >= st.params[0].publish_ns:
        engine_publish_inline_nb(st)
        st.core[0].last_publish_ns = now
