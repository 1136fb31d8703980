"""The Binance spot dialect the local exchange speaks: error answers, symbol ids, number formatting, trades."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FAULTS = ("429", "500", "503", "timeout")
ORDER_TYPES = {"MARKET": "market", "LIMIT": "limit", "STOP_LOSS": "stop_market", "STOP_LOSS_LIMIT": "stop_limit"}
CCXT_STATUS = {"closed": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}


class ApiError(Exception):
    """A Binance-style error answer: HTTP status, code, message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def market_id(symbol: str) -> str:
    return symbol.replace("/", "")


def fmt_num(value: float) -> str:
    """A decimal string as Binance writes them: no exponent, no trailing zeros."""
    return format(value, ".10f").rstrip("0").rstrip(".") or "0"


@dataclass
class Trade:
    id: int
    order_id: int
    symbol: str
    side: int
    price: float
    qty: float
    fee: float
    maker: bool
    time_ms: int


@dataclass
class Faults:
    """Failures the next requests will meet, consumed one per request."""

    queue: deque[str] = field(default_factory=deque)
    served: int = 0
    only: str = ""  # the method and path (e.g. "POST /api/v3/order") the faults are for; "" = any request

    def take(self, request: str = "") -> str | None:
        if self.queue and (not self.only or request == self.only):
            self.served += 1
            return self.queue.popleft()
        return None
