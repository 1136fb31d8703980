"""Log-linear latency histograms (HDR style) living inside an int64 array.

Values are integer nanoseconds from 1 ns to 2**36 ns (about 68.7 s). Below 2048 every value has its own bucket;
above, each power of two is split into 1024 equal buckets, so a bucket's width is at most 1/1024 of its lower
bound: about three significant digits everywhere, with a reported value (the bucket midpoint, clamped to the
exact min/max) within 1/2048 of the truth. Bucket index = 1024 * shift + (v >> shift), shift = max(0, msb(v) - 10):
one ``lzcnt``, a shift and an add.

A histogram is ``HIST_HEADER`` int64 words (count, sum, min, max, clamped) followed by ``HIST_BUCKETS`` counts.
It lives at any offset of an int64 array, so the stats block holds several in one allocation.
"""

from __future__ import annotations

import numpy as np

from bot4.core.atomics import leading_zeros64
from bot4.core.jit import helper, kernel

SUB_BUCKET_HALF_BITS = 10
SUB_BUCKET_HALF = 1 << SUB_BUCKET_HALF_BITS  # 1024
MAX_VALUE_BITS = 36  # 2**36 ns = 68.7 s, covers the 60 s the spec asks for
HIST_MAX_VALUE = (1 << MAX_VALUE_BITS) - 1
HIST_BUCKETS = SUB_BUCKET_HALF * (MAX_VALUE_BITS - SUB_BUCKET_HALF_BITS - 1) + 2 * SUB_BUCKET_HALF  # 27,648

H_COUNT = 0  # values recorded
H_SUM = 1  # sum of recorded values, ns
H_MIN = 2  # smallest value, ns (HIST_MAX_VALUE while empty)
H_MAX = 3  # largest value, ns
H_CLAMPED = 4  # values above HIST_MAX_VALUE (recorded in the last bucket) or below 0 (recorded as 0)
HIST_HEADER = 8  # one cache line
HIST_STRIDE = HIST_HEADER + HIST_BUCKETS
RELATIVE_ERROR = 1.0 / (2 * SUB_BUCKET_HALF)  # worst case of a reported value against the recorded one


@helper
def bucket_index_nb(value: int) -> int:
    msb = 63 - leading_zeros64(value | 1)
    shift = msb - SUB_BUCKET_HALF_BITS
    if shift < 0:
        shift = 0
    return SUB_BUCKET_HALF * shift + (value >> shift)


@helper
def bucket_low_nb(index: int) -> int:
    """Smallest value that lands in bucket ``index``."""
    shift = index // SUB_BUCKET_HALF - 1
    if shift < 0:
        shift = 0
    return (index - SUB_BUCKET_HALF * shift) << shift


@helper
def bucket_width_nb(index: int) -> int:
    shift = index // SUB_BUCKET_HALF - 1
    if shift < 0:
        shift = 0
    return 1 << shift


@kernel
def hist_reset_nb(arr: np.ndarray, base: int) -> None:
    for k in range(HIST_STRIDE):
        arr[base + k] = 0
    arr[base + H_MIN] = HIST_MAX_VALUE


@helper
def hist_record_nb(arr: np.ndarray, base: int, value: int) -> None:
    """Record one value (ns) into the histogram at ``arr[base:]``."""
    if value < 0:
        value = 0
        arr[base + H_CLAMPED] += 1
    elif value > HIST_MAX_VALUE:
        value = HIST_MAX_VALUE
        arr[base + H_CLAMPED] += 1
    arr[base + HIST_HEADER + bucket_index_nb(value)] += 1
    arr[base + H_COUNT] += 1
    arr[base + H_SUM] += value
    if value < arr[base + H_MIN]:
        arr[base + H_MIN] = value
    if value > arr[base + H_MAX]:
        arr[base + H_MAX] = value


@kernel
def hist_percentile_nb(arr: np.ndarray, base: int, pct: float) -> float:
    """The value at percentile ``pct`` (0..100, nearest rank); NaN when empty."""
    count = arr[base + H_COUNT]
    if count == 0:
        return np.nan
    rank = int(np.ceil(pct / 100.0 * count))
    if rank < 1:
        rank = 1
    seen = 0
    lo = arr[base + H_MIN]
    hi = arr[base + H_MAX]
    # every recorded value lies in [lo, hi]: the buckets outside are zero (and not copied into snapshots)
    for i in range(bucket_index_nb(lo), HIST_BUCKETS):
        seen += arr[base + HIST_HEADER + i]
        if seen >= rank:
            mid = bucket_low_nb(i) + (bucket_width_nb(i) - 1) / 2.0
            if mid < lo:
                return float(lo)
            if mid > hi:
                return float(hi)
            return mid
    return float(hi)


@kernel
def hist_merge_nb(dst: np.ndarray, dst_base: int, src: np.ndarray, src_base: int) -> None:
    """Add the histogram at ``src[src_base:]`` into the one at ``dst[dst_base:]``."""
    for i in range(HIST_BUCKETS):
        dst[dst_base + HIST_HEADER + i] += src[src_base + HIST_HEADER + i]
    dst[dst_base + H_COUNT] += src[src_base + H_COUNT]
    dst[dst_base + H_SUM] += src[src_base + H_SUM]
    dst[dst_base + H_CLAMPED] += src[src_base + H_CLAMPED]
    if src[src_base + H_COUNT] > 0:
        if src[src_base + H_MIN] < dst[dst_base + H_MIN]:
            dst[dst_base + H_MIN] = src[src_base + H_MIN]
        if src[src_base + H_MAX] > dst[dst_base + H_MAX]:
            dst[dst_base + H_MAX] = src[src_base + H_MAX]


class HistogramView:
    """Read-only Python view of one histogram inside a (snapshot) array."""

    def __init__(self, arr: np.ndarray, base: int) -> None:
        self._arr = arr
        self._base = base

    @property
    def count(self) -> int:
        return int(self._arr[self._base + H_COUNT])

    @property
    def total_ns(self) -> int:
        return int(self._arr[self._base + H_SUM])

    @property
    def min_ns(self) -> int | None:
        return int(self._arr[self._base + H_MIN]) if self.count else None

    @property
    def max_ns(self) -> int | None:
        return int(self._arr[self._base + H_MAX]) if self.count else None

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.count if self.count else float("nan")

    def percentile(self, pct: float) -> float:
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"percentile must be within 0..100, got {pct}")
        return float(hist_percentile_nb(self._arr, self._base, pct))

    def buckets(self) -> np.ndarray:
        """The raw bucket counts (a view)."""
        start = self._base + HIST_HEADER
        return self._arr[start : start + HIST_BUCKETS]

    def cumulative_at(self, bounds_ns: np.ndarray) -> np.ndarray:
        """Counts of values <= each bound (for exporting as a coarser cumulative histogram)."""
        counts = self.buckets()
        idx = np.arange(HIST_BUCKETS)
        shift = np.maximum(idx // SUB_BUCKET_HALF - 1, 0)
        upper = ((idx - SUB_BUCKET_HALF * shift) << shift) + (1 << shift) - 1  # highest value in each bucket
        cum = np.cumsum(counts)
        pos = np.searchsorted(upper, np.asarray(bounds_ns, dtype=np.int64), side="right") - 1
        return np.where(pos >= 0, cum[np.clip(pos, 0, None)], 0)
