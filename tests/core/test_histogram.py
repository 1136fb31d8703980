"""Log-linear histogram: bucket geometry, percentiles against numpy, merge, clamping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot4.core.histogram import (
    HIST_BUCKETS,
    HIST_MAX_VALUE,
    HIST_STRIDE,
    RELATIVE_ERROR,
    HistogramView,
    bucket_index_nb,
    bucket_low_nb,
    bucket_width_nb,
    hist_merge_nb,
    hist_record_nb,
    hist_reset_nb,
)


def _hist() -> np.ndarray:
    arr = np.zeros(HIST_STRIDE + 8, dtype=np.int64)
    hist_reset_nb(arr, 8)  # at a non-zero offset, as inside the stats block
    return arr


@given(st.integers(0, HIST_MAX_VALUE))
@settings(max_examples=2000, deadline=None)
def test_value_lands_in_a_bucket_that_contains_it(value: int) -> None:
    idx = bucket_index_nb(value)
    assert 0 <= idx < HIST_BUCKETS
    low, width = bucket_low_nb(idx), bucket_width_nb(idx)
    assert low <= value < low + width
    assert width == 1 or width / low <= 2 * RELATIVE_ERROR


def test_buckets_tile_the_range_without_gaps() -> None:
    lows = np.array([bucket_low_nb(i) for i in range(HIST_BUCKETS)])
    widths = np.array([bucket_width_nb(i) for i in range(HIST_BUCKETS)])
    assert lows[0] == 0
    assert np.all(lows[1:] == lows[:-1] + widths[:-1])
    assert lows[-1] + widths[-1] - 1 == HIST_MAX_VALUE
    assert HIST_MAX_VALUE >= 60 * 10**9  # 60 s


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("pct", [50.0, 90.0, 95.0, 99.0, 99.9, 100.0])
def test_percentiles_match_numpy_within_bucket_error(seed: int, pct: float) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.lognormal(5.0, 2.0, 20_000), rng.uniform(1, 5e9, 200)]).astype(np.int64)
    arr = _hist()
    for v in values:
        hist_record_nb(arr, 8, int(v))
    view = HistogramView(arr, 8)
    exact = float(np.percentile(values, pct, method="inverted_cdf"))
    got = view.percentile(pct)
    assert abs(got - exact) <= max(0.5, exact * RELATIVE_ERROR)
    # numpy's default (linear) differs only by interpolation between neighbouring order statistics
    linear = float(np.percentile(values, pct))
    neighbours = np.sort(values)[max(0, int(np.floor(pct / 100 * (len(values) - 1))) - 1) :][:3]
    assert abs(got - linear) <= max(0.5, exact * RELATIVE_ERROR) + float(np.ptp(neighbours))
    assert view.count == len(values)
    assert view.min_ns == values.min() and view.max_ns == values.max()
    assert view.total_ns == values.sum()


def test_empty_histogram_has_no_percentiles() -> None:
    view = HistogramView(_hist(), 8)
    assert view.count == 0 and np.isnan(view.percentile(99)) and view.min_ns is None
    with pytest.raises(ValueError):
        view.percentile(101)


def test_out_of_range_values_are_clamped_and_counted() -> None:
    arr = _hist()
    hist_record_nb(arr, 8, -5)
    hist_record_nb(arr, 8, HIST_MAX_VALUE + 10**12)
    view = HistogramView(arr, 8)
    assert view.count == 2 and view.min_ns == 0 and view.max_ns == HIST_MAX_VALUE
    assert arr[8 + 4] == 2  # H_CLAMPED


def test_merge_equals_recording_everything_in_one() -> None:
    rng = np.random.default_rng(7)
    a_vals, b_vals = rng.integers(1, 10**7, 5000), rng.integers(1, 10**4, 5000)
    a, b, both = _hist(), _hist(), _hist()
    for v in a_vals:
        hist_record_nb(a, 8, int(v))
        hist_record_nb(both, 8, int(v))
    for v in b_vals:
        hist_record_nb(b, 8, int(v))
        hist_record_nb(both, 8, int(v))
    hist_merge_nb(a, 8, b, 8)
    assert np.array_equal(a, both)


def test_cumulative_counts_at_coarse_bounds() -> None:
    arr = _hist()
    for v in [50, 150, 150, 2_000, 20_000, 2_000_000]:
        hist_record_nb(arr, 8, v)
    cum = HistogramView(arr, 8).cumulative_at(np.array([100, 1_000, 10_000, 100_000, 10**9]))
    assert cum.tolist() == [1, 3, 4, 5, 6]
