"""The stats block: padded hot counters and latency histograms in one int64 array, published through a seqlock.

The core thread is the only writer of the *live* block and updates it with plain stores (no atomics on the hot
path). Every few milliseconds it *publishes*: a seqlock write that copies the live block into the published block.
Readers (UI, exporter, API) copy the published block under the seqlock and retry if a publish overlapped, so they
always see one consistent moment and never slow the core down. Each counter sits on its own 64-byte line so that
no two hot counters share a cache line.

Layout: line 0 is a header, then one line per counter, then the histograms (``HIST_STRIDE`` words each).
"""

from __future__ import annotations

import time

import numpy as np

from bot4.core.atomics import fence_acquire, fence_seq_cst, load_acquire, store_release
from bot4.core.histogram import (
    H_COUNT,
    H_MAX,
    H_MIN,
    HIST_BUCKETS,
    HIST_HEADER,
    HIST_MAX_VALUE,
    HIST_STRIDE,
    HistogramView,
    bucket_index_nb,
    hist_reset_nb,
)
from bot4.core.jit import helper, kernel
from bot4.core.memory import INT64_PER_LINE, aligned_zeros
from bot4.core.records import REASON_NAMES

COUNTER_NAMES: tuple[str, ...] = (
    "ticks_in",  # market-data records consumed by the core
    "signals",  # strategy signals emitted
    "signals_deferred",  # signals held until an entry the other way stopped working (acted on then, latest wins)
    "signals_manual_held",  # signals not acted on: the symbol's position was opened by a person (manage_manual off)
    "orders_out",  # orders (submits) pushed to execution
    "cancels_out",  # cancel requests pushed to execution
    "exec_reports",  # execution reports consumed (acks, fills, cancels, rejects)
    "fills",  # fills consumed
    "risk_rejects",  # orders refused by pre-trade risk (all reasons)
    "venue_rejects",  # orders refused by the venue
    "commands",  # commands consumed
    "md_ring_full",  # market-data records refused by a full md ring (feed side)
    "order_ring_full",  # orders the core could not push (execution behind)
    "pool_overflows",  # record pool exhaustion events seen by the core
    "batches",  # core batches run
    "publishes",  # stats publications
    "bad_ticks",  # ticks refused by the core's own sanity checks (NaN, non-positive price)
    "stop_exits",  # exit orders generated because a stop or take profit was crossed
    "entries",  # orders that open or grow a position
    "exits",  # orders that shrink or close a position
    "kills",  # kill commands applied
    "state_changes",  # trading-state transitions
    "unknown_exec",  # execution reports for orders the core does not know
    "out_of_order_ticks",  # ticks older than the symbol's last one (skipped)
    "rearm_refused",  # re-arm commands refused (wrong confirmation, cool-down, not halted)
    "trades_closed",  # round trips completed
    "outlier_ticks",  # prints refused as outliers (too far from the last accepted price, not confirmed)
    "unprotected_fills",  # fills that left a position without its entry's stop: closed at once
)
REJECT_BASE = len(_BASE_COUNTERS := COUNTER_NAMES)
COUNTER_NAMES = _BASE_COUNTERS + tuple(f"reject_{name}" for name in REASON_NAMES)  # one per reason code
N_COUNTERS = len(COUNTER_NAMES)
COUNTER_INDEX = {name: i for i, name in enumerate(COUNTER_NAMES)}

HIST_NAMES: tuple[str, ...] = (
    "decision",  # tick consumed -> signal decided, ns
    "risk_check",  # one order through every pre-trade check, ns
    "tick_to_order",  # tick ingress (ring push) -> order record pushed out, ns
    "order_to_ack",  # order pushed -> venue ack consumed, ns
)
N_HISTS = len(HIST_NAMES)
HIST_INDEX = {name: i for i, name in enumerate(HIST_NAMES)}

# the kernels' names for the counters and histograms they write
C_TICKS_IN = COUNTER_INDEX["ticks_in"]
C_SIGNALS = COUNTER_INDEX["signals"]
C_SIGNALS_DEFERRED = COUNTER_INDEX["signals_deferred"]
C_SIGNALS_MANUAL_HELD = COUNTER_INDEX["signals_manual_held"]
C_ORDERS_OUT = COUNTER_INDEX["orders_out"]
C_CANCELS_OUT = COUNTER_INDEX["cancels_out"]
C_EXEC_REPORTS = COUNTER_INDEX["exec_reports"]
C_FILLS = COUNTER_INDEX["fills"]
C_RISK_REJECTS = COUNTER_INDEX["risk_rejects"]
C_VENUE_REJECTS = COUNTER_INDEX["venue_rejects"]
C_COMMANDS = COUNTER_INDEX["commands"]
C_ORDER_RING_FULL = COUNTER_INDEX["order_ring_full"]
C_POOL_OVERFLOWS = COUNTER_INDEX["pool_overflows"]
C_BATCHES = COUNTER_INDEX["batches"]
C_PUBLISHES = COUNTER_INDEX["publishes"]
C_BAD_TICKS = COUNTER_INDEX["bad_ticks"]
C_STOP_EXITS = COUNTER_INDEX["stop_exits"]
C_ENTRIES = COUNTER_INDEX["entries"]
C_EXITS = COUNTER_INDEX["exits"]
C_KILLS = COUNTER_INDEX["kills"]
C_STATE_CHANGES = COUNTER_INDEX["state_changes"]
C_UNKNOWN_EXEC = COUNTER_INDEX["unknown_exec"]
C_OUT_OF_ORDER = COUNTER_INDEX["out_of_order_ticks"]
C_REARM_REFUSED = COUNTER_INDEX["rearm_refused"]
C_TRADES_CLOSED = COUNTER_INDEX["trades_closed"]
C_OUTLIER_TICKS = COUNTER_INDEX["outlier_ticks"]
C_UNPROTECTED = COUNTER_INDEX["unprotected_fills"]
H_DECISION = HIST_INDEX["decision"]
H_RISK = HIST_INDEX["risk_check"]
H_TICK_TO_ORDER = HIST_INDEX["tick_to_order"]
H_ORDER_TO_ACK = HIST_INDEX["order_to_ack"]

HEADER_LAYOUT = 0  # layout id: N_COUNTERS * 1000 + N_HISTS, so a reader can check it matches
HEADER_TS_NS = 1  # monotonic ns of the last publish
COUNTERS_BASE = INT64_PER_LINE
HISTS_BASE = COUNTERS_BASE + N_COUNTERS * INT64_PER_LINE
STATS_SIZE = HISTS_BASE + N_HISTS * HIST_STRIDE
LAYOUT_ID = N_COUNTERS * 1000 + N_HISTS

SEQ_WORD = 0


@helper
def counter_slot_nb(counter: int) -> int:
    return COUNTERS_BASE + counter * INT64_PER_LINE


@helper
def counter_add_nb(block: np.ndarray, counter: int, n: int) -> None:
    block[COUNTERS_BASE + counter * INT64_PER_LINE] += n


@helper
def count_reject_nb(block: np.ndarray, reason: int) -> None:
    block[COUNTERS_BASE + (REJECT_BASE + reason) * INT64_PER_LINE] += 1


@helper
def hist_base_nb(hist: int) -> int:
    return HISTS_BASE + hist * HIST_STRIDE


@kernel
def seqlock_write_nb(seq: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """Writer: copy ``src`` into ``dst`` so that a seqlock reader sees all of it or none of it."""
    s = seq[SEQ_WORD]
    store_release(seq, SEQ_WORD, s + 1)  # odd: a write is under way
    fence_seq_cst()  # the odd value is visible before any data store below
    for k in range(src.shape[0]):
        dst[k] = src[k]
    store_release(seq, SEQ_WORD, s + 2)  # even again, after every data store


@helper
def copy_stats_nb(src: np.ndarray, dst: np.ndarray) -> None:
    """Copy a stats block: header, counters, and each histogram's header and the buckets between its smallest and
    largest value (every other bucket is zero; a histogram is 221 KB, the part in use a few KB to tens of KB).

    ``dst`` must hold zeros, or an earlier copy, outside the copied ranges; readers copy into fresh zeroed arrays.
    The bounds are clamped so a torn read of the header (a seqlock attempt that will be retried) stays in bounds.
    """
    for k in range(HISTS_BASE):
        dst[k] = src[k]
    for h in range(N_HISTS):
        base = HISTS_BASE + h * HIST_STRIDE
        for k in range(HIST_HEADER):
            dst[base + k] = src[base + k]
        if src[base + H_COUNT] <= 0:
            continue
        lo = bucket_index_nb(min(max(src[base + H_MIN], 0), HIST_MAX_VALUE))
        hi = bucket_index_nb(min(max(src[base + H_MAX], 0), HIST_MAX_VALUE))
        first = base + HIST_HEADER
        for k in range(lo, min(hi, HIST_BUCKETS - 1) + 1):
            dst[first + k] = src[first + k]


@kernel
def seqlock_read_nb(seq: np.ndarray, src: np.ndarray, dst: np.ndarray, max_tries: int) -> int:
    """Reader: copy ``src`` into ``dst`` consistently; returns the attempts used, or -1 if every one collided."""
    for attempt in range(max_tries):
        before = load_acquire(seq, SEQ_WORD)
        if before & 1:
            continue
        for k in range(src.shape[0]):
            dst[k] = src[k]
        fence_acquire()  # the data loads complete before the check below
        if load_acquire(seq, SEQ_WORD) == before:
            return attempt + 1
    return -1


class StatsBlock:
    """The core's live stats, the published copy, and the seqlock between them."""

    def __init__(self) -> None:
        self.live = aligned_zeros(STATS_SIZE)
        self.published = aligned_zeros(STATS_SIZE)
        self.seq = aligned_zeros(INT64_PER_LINE)
        self.live[HEADER_LAYOUT] = LAYOUT_ID
        for h in range(N_HISTS):
            hist_reset_nb(self.live, HISTS_BASE + h * HIST_STRIDE)
        self.publish()

    def publish(self) -> None:
        """Core thread only: make the live block visible to readers."""
        self.live[HEADER_TS_NS] = time.monotonic_ns()
        self.live[COUNTERS_BASE + COUNTER_INDEX["publishes"] * INT64_PER_LINE] += 1
        seqlock_write_nb(self.seq, self.live, self.published)

    def snapshot(self, out: np.ndarray | None = None) -> StatsSnapshot:
        """A consistent copy of the last published block (any thread)."""
        if out is None:
            out = np.empty(STATS_SIZE, dtype=np.int64)
        while seqlock_read_nb(self.seq, self.published, out, 64) < 0:
            time.sleep(0)  # a publish kept overlapping: let the writer finish
        return StatsSnapshot(out)


class StatsSnapshot:
    """A frozen copy of the stats block with named access."""

    def __init__(self, data: np.ndarray) -> None:
        if int(data[HEADER_LAYOUT]) != LAYOUT_ID:
            raise ValueError(f"stats layout {int(data[HEADER_LAYOUT])} does not match this build ({LAYOUT_ID})")
        self.data = data

    @property
    def published_ns(self) -> int:
        return int(self.data[HEADER_TS_NS])

    def counter(self, name: str) -> int:
        return int(self.data[COUNTERS_BASE + COUNTER_INDEX[name] * INT64_PER_LINE])

    def counters(self) -> dict[str, int]:
        return {name: self.counter(name) for name in COUNTER_NAMES}

    def rejects_by_reason(self) -> dict[str, int]:
        """Rejection counts per reason name (only reasons seen at least once)."""
        out = {}
        for code, name in enumerate(REASON_NAMES):
            n = self.counter(f"reject_{name}")
            if code and n:
                out[name] = n
        return out

    def histogram(self, name: str) -> HistogramView:
        return HistogramView(self.data, HISTS_BASE + HIST_INDEX[name] * HIST_STRIDE)
