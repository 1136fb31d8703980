"""A test harness around :class:`Core`: push ticks, and answer orders like an instant venue would.

The venue here is deliberately trivial (fill every submit in full at a given price, confirm every cancel): the core
is under test, not the exchange. The real paper exchange lives in bot4.venues and has its own tests.
"""

from __future__ import annotations

import numpy as np

from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import (
    ACTION_CANCEL,
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_FILL,
    EXEC_REJECTED,
    FILL_DTYPE,
    ORDER_DTYPE,
    TICK_DTYPE,
    TICK_TRADE,
)
from bot4.core.runner import Core


def make_core(strategy: StrategyConfig | None = None, no_strategy: bool = False, **risk: object) -> Core:
    """A core on the default instruments (BTC/USDT = 0, ETH/USDT = 1) with the given strategy and risk overrides."""
    cfg = CoreConfig(
        strategies=() if no_strategy else (strategy or StrategyConfig(),),
        risk=RiskConfig(**risk),  # type: ignore[arg-type]
    )
    return Core(cfg)


class Harness:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.ts = 1_700_000_000_000_000_000
        self.seen_orders: list[np.void] = []

    def tick(self, symbol: int, price: float, size: float = 1.0, dt_ns: int = 1_000_000, ts: int | None = None) -> None:
        self.ts = ts if ts is not None else self.ts + dt_ns
        rec = np.zeros(1, TICK_DTYPE)
        rec["kind"] = TICK_TRADE
        rec["symbol_id"] = symbol
        rec["price"] = price
        rec["size"] = size
        rec["ts_exch_ns"] = self.ts
        assert self.core.push_ticks(rec) == 1
        self.core.drain()

    def take_orders(self) -> np.ndarray:
        out = np.zeros(4096, ORDER_DTYPE)
        n = self.core.parts.orders.pop_many(out)
        self.seen_orders.extend(out[:n])
        return out[:n].copy()

    def respond(self, orders: np.ndarray, price: float | None = None, fee_rate: float = 0.0, reject: bool = False) -> None:
        reports = np.zeros(2 * len(orders), FILL_DTYPE)
        k = 0
        for o in orders:
            r = reports[k]
            r["client_order_id"] = o["client_order_id"]
            r["symbol_id"] = o["symbol_id"]
            r["side"] = o["side"]
            if o["action"] == ACTION_CANCEL:
                r["kind"] = EXEC_CANCELED
                k += 1
                continue
            if reject:
                r["kind"] = EXEC_REJECTED
                k += 1
                continue
            r["kind"] = EXEC_ACK
            k += 1
            f = reports[k]
            px = price if price is not None else self.core.snapshot().positions()[o["symbol_id"]].last_px
            f["client_order_id"] = o["client_order_id"]
            f["symbol_id"] = o["symbol_id"]
            f["side"] = o["side"]
            f["kind"] = EXEC_FILL
            f["price"] = px
            f["size"] = o["size"]
            f["fee"] = px * o["size"] * fee_rate
            f["leaves"] = 0.0
            k += 1
        assert self.core.parts.fills.push_many(reports[:k]) == k
        self.core.drain()

    def fill_all(self, price: float | None = None, fee_rate: float = 0.0) -> np.ndarray:
        orders = self.take_orders()
        if len(orders):
            self.respond(orders, price, fee_rate)
        return orders
