"""What a strategy file imports: declarations, intents, and the decorator for helper functions.

```python
from bot4.sdk import BUY, SELL, Param, State, Strategy, enter, flatten

class MyCross(Strategy):
    fast: int = Param(12, min=1)
    ema: float = State(0.0)

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):
        ...
```

Handlers are compiled into the engine's step with numba (the numba subset of Python: numbers, records, numpy
arrays, loops; no objects, no strings, no allocation). ``helper`` compiles your own functions the same way (inlined
into the handler that calls them). See ``docs/strategies.md`` and the examples in ``bot4/strategies/``.
"""

from __future__ import annotations

from bot4.core.intents import (
    BUY,
    FOK,
    GTC,
    IOC,
    SELL,
    Intents,
    cancel,
    enter,
    enter_limit,
    exit_position,
    flatten,
    target,
)
from bot4.core.jit import helper
from bot4.core.records import REASON_NAMES
from bot4.core.usercode import Param, State, Strategy, StrategyError

__all__ = [
    "BUY",
    "SELL",
    "GTC",
    "IOC",
    "FOK",
    "Intents",
    "Param",
    "State",
    "Strategy",
    "StrategyError",
    "REASON_NAMES",
    "cancel",
    "enter",
    "enter_limit",
    "exit_position",
    "flatten",
    "helper",
    "target",
]
