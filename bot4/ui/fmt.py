"""Small formatters the views share."""

from __future__ import annotations

import math


def fmt_duration(seconds: float) -> str:
    """``12m05s``, ``1h02m``, ``45s``: a countdown at a glance."""
    s = int(math.ceil(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
