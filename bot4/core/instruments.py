"""The instrument table as the outside world sees it: names, ids, steps, ticks and positions by symbol.

A venue adapter gets this view instead of the core: it reads the steps and ticks orders must respect, replaces
them with the venue's own when it connects, and reads positions to reconcile them with the venue's balance.
"""

from __future__ import annotations

import numpy as np

from bot4.core.config import InstrumentConfig

STEP_FIELDS = ("size_step", "price_tick", "min_size")


class Instruments:
    """The core's instruments (``sym`` is the core's per-symbol table; only steps and ticks are written here)."""

    def __init__(self, configured: tuple[InstrumentConfig, ...], sym: np.ndarray) -> None:
        self.configured = configured
        self.symbols = tuple(i.symbol for i in configured)
        self.ids = {name: i for i, name in enumerate(self.symbols)}
        self._sym = sym

    def __len__(self) -> int:
        return len(self.symbols)

    def step(self, s: int, name: str = "size_step") -> float:
        """Symbol ``s``'s size step, price tick or minimum size (``name`` in ``STEP_FIELDS``)."""
        return float(self._sym[name][s])

    def set_step(self, s: int, name: str, value: float) -> None:
        """The venue's own step, tick or minimum replaces the configured one (before the core runs)."""
        if name not in STEP_FIELDS:
            raise KeyError(f"{name!r} is not one of {STEP_FIELDS}")
        self._sym[name][s] = value

    def position(self, s: int) -> float:
        """Symbol ``s``'s position as the core holds it (base units)."""
        return float(self._sym["qty"][s])
