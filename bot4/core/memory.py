"""Cache-line aligned preallocation.

numpy only promises 16-byte alignment; hot counters and ring indices need their own 64-byte lines, so every
array the core shares between threads is carved out of a slightly larger buffer at a 64-byte boundary.
"""

from __future__ import annotations

import numpy as np

CACHE_LINE_BYTES = 64
INT64_PER_LINE = CACHE_LINE_BYTES // 8


def aligned_zeros(count: int, dtype: np.dtype | type = np.int64, align: int = CACHE_LINE_BYTES) -> np.ndarray:
    """A zeroed 1-D array of ``count`` items whose first byte sits on an ``align``-byte boundary."""
    dt = np.dtype(dtype)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    nbytes = max(count, 1) * dt.itemsize
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset : offset + count * dt.itemsize].view(dt)
