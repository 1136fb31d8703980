"""Market prints the core and the paper venue refuse: outliers against the symbol's last accepted price.

One absurd print (60,000,000 for BTC) must not move equity, the drawdown peak or a fill. A print further than
``frac`` from the last accepted price is refused and counted, unless ``confirm`` prints in a row agree on its new
level (within ``frac`` of each other): then the market has moved, and the print is taken. The core and the paper
venue apply the same rule to the same ticks, so they never disagree on what the market did.
"""

from __future__ import annotations

from bot4.core.jit import helper


@helper
def outlier_nb(row, ref: float, px: float, frac: float, confirm: int) -> bool:  # type: ignore[no-untyped-def]
    """True when ``px`` is an outlier to refuse; ``row`` (a record with ``outlier_anchor`` and ``outlier_misses``)
    keeps the run of outliers."""
    if not (ref > 0.0) or frac <= 0.0 or abs(px - ref) <= frac * ref:
        row.outlier_misses = 0
        return False
    if row.outlier_misses > 0 and abs(px - row.outlier_anchor) <= frac * row.outlier_anchor:
        row.outlier_misses += 1
    else:
        row.outlier_anchor = px
        row.outlier_misses = 1
    if row.outlier_misses >= confirm:
        row.outlier_misses = 0
        return False  # the market moved there: take it
    return True
