"""The paper exchange: bot4's built-in venue, matching the core's orders against replayed market data.

:class:`PaperExchange` owns the compiled matching state (see ``paper_kernels``) and speaks two languages: records
with the core (orders in from the core's order ring, execution reports out to its fill ring) and ccxt-shaped dicts
at the edge (``create_order``, ``cancel_order``, ``fetch_order``, ``fetch_open_orders``, ``fetch_balance``), raising
ccxt's own error classes, so the local exchange server and the UI see what a real venue would show.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from bot4.core.config import ConfigError, CoreConfig
from bot4.core.jit import bind
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    FILL_DTYPE,
    FLAG_REDUCE_ONLY,
    ORDER_DTYPE,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP_LIMIT,
    ORDER_STOP_MARKET,
    ORDER_TYPE_NAMES,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_ACCEPTED,
    STATUS_CANCELED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NAMES,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TICK_DTYPE,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
    TIF_NAMES,
    VENUE_BAD_ORDER,
    VENUE_BAD_PRICE_STEP,
    VENUE_BAD_SIZE_STEP,
    VENUE_INSUFFICIENT_FUNDS,
    VENUE_MIN_SIZE,
    VENUE_OK,
    VENUE_REASON_NAMES,
    VENUE_REDUCE_ONLY,
    VENUE_TABLE_FULL,
    VENUE_UNKNOWN_SYMBOL,
)
from bot4.core.ring import Ring
from bot4.core.state import (
    A_EQUITY,
    A_FEES,
    A_INITIAL,
    A_PEAK,
    A_REALIZED,
    A_UNREALIZED,
    N_ACCT,
    N_SYM,
    S_AVG_PX,
    S_LAST_PX,
    S_QTY,
    S_SIZE_STEP,
)
from bot4.venues.paper_kernels import (
    IN_MIN_SIZE,
    IN_PRICE_TICK,
    IN_SIZE_STEP,
    N_BK,
    N_IN,
    N_PI,
    N_PP,
    PI_ACCEPTED,
    PI_BLOCKED,
    PI_CANCELED,
    PI_EXPIRED,
    PI_FILLS,
    PI_LIVE,
    PI_REJECTED,
    PP_LATENCY_NS,
    PP_LEVERAGE,
    PP_MAKER_FEE,
    PP_TAKER_FEE,
    TABLE_MASK,
    TABLE_SIZE,
    PaperState,
    paper_on_ticks_nb,
    paper_pump_nb,
    paper_submit_nb,
)

if TYPE_CHECKING:
    import ccxt as ccxt_module


def _ccxt() -> ModuleType:
    """ccxt, imported on first use: the records path never needs it, and it costs ~0.7 s to import."""
    return importlib.import_module("ccxt")


VENUE_ERROR_NAMES = {
    VENUE_INSUFFICIENT_FUNDS: "InsufficientFunds",
    VENUE_BAD_PRICE_STEP: "InvalidOrder",
    VENUE_BAD_SIZE_STEP: "InvalidOrder",
    VENUE_MIN_SIZE: "InvalidOrder",
    VENUE_UNKNOWN_SYMBOL: "BadSymbol",
    VENUE_REDUCE_ONLY: "InvalidOrder",
    VENUE_BAD_ORDER: "InvalidOrder",
    VENUE_TABLE_FULL: "RateLimitExceeded",
}


def venue_error(reason: int) -> type[ccxt_module.BaseError]:
    """The ccxt error class a venue reject reason maps to."""
    return getattr(_ccxt(), VENUE_ERROR_NAMES.get(reason, "InvalidOrder"))  # type: ignore[no-any-return]
ORDER_TYPES = {
    "market": ORDER_MARKET,
    "limit": ORDER_LIMIT,
    "stop_market": ORDER_STOP_MARKET,
    "stop_limit": ORDER_STOP_LIMIT,
}
TIFS = {"GTC": TIF_GTC, "IOC": TIF_IOC, "FOK": TIF_FOK}


@dataclass(frozen=True)
class PaperConfig:
    """The simulated venue's terms."""

    maker_fee: float = 0.0002  # fraction of notional
    taker_fee: float = 0.0005
    latency_ms: float = 1.0  # market time between an order's arrival and its first chance to match
    leverage: float = 3.0  # margin needed by an order that grows exposure = notional / leverage

    def __post_init__(self) -> None:
        for key in ("maker_fee", "taker_fee"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and -0.01 <= v <= 0.01):
                raise ConfigError(f"config key paper.{key} = {v!r}: must be a fraction between -0.01 and 0.01")
        if not (isinstance(self.latency_ms, int | float) and 0 <= self.latency_ms <= 60_000):
            raise ConfigError(f"config key paper.latency_ms = {self.latency_ms!r}: must be between 0 and 60000")
        if not (isinstance(self.leverage, int | float) and 1 <= self.leverage <= 100):
            raise ConfigError(f"config key paper.leverage = {self.leverage!r}: must be between 1 and 100")


class PaperExchange:
    """A simulated exchange for the instruments of ``core_config``."""

    def __init__(self, core_config: CoreConfig, config: PaperConfig | None = None, venue_id: int = 0) -> None:
        self.config = config or PaperConfig()
        self.symbols = core_config.symbols
        self.symbol_ids = {s: i for i, s in enumerate(self.symbols)}
        self.venue_id = venue_id
        n = len(self.symbols)
        params = np.zeros(N_PP)
        params[PP_MAKER_FEE] = self.config.maker_fee
        params[PP_TAKER_FEE] = self.config.taker_fee
        params[PP_LATENCY_NS] = self.config.latency_ms * 1e6
        params[PP_LEVERAGE] = self.config.leverage
        inst = np.zeros((n, N_IN))
        sym = np.zeros((n, N_SYM))
        for i, ins in enumerate(core_config.instruments):
            inst[i, IN_SIZE_STEP] = ins.size_step
            inst[i, IN_PRICE_TICK] = ins.price_tick
            inst[i, IN_MIN_SIZE] = ins.min_size
            sym[i, S_SIZE_STEP] = ins.size_step
        sym[:, S_AVG_PX] = np.nan
        acct = np.zeros(N_ACCT)
        acct[A_INITIAL] = acct[A_EQUITY] = acct[A_PEAK] = core_config.risk.initial_equity_usd
        orders = np.zeros(TABLE_SIZE, ORDER_DTYPE)
        orders["client_order_id"] = -1
        self.state = PaperState(
            params=params,
            inst=inst,
            book=np.zeros((n, N_BK)),
            orders=orders,
            active_at=np.zeros(TABLE_SIZE, np.int64),
            act=np.zeros(TABLE_SIZE, np.uint8),
            live=np.zeros(TABLE_SIZE, np.int64),
            live_pos=np.full(TABLE_SIZE, -1, np.int64),
            ist=np.zeros(N_PI, np.int64),
            sym=sym,
            acct=acct,
            reject_counts=np.zeros(len(VENUE_REASON_NAMES), np.int64),
        )
        # reports go to the core's fill ring once attached; standalone (the exchange server) to our own ring
        self.reports = Ring(FILL_DTYPE, 1 << 14, "paper_reports")
        self._rep_ctrl, self._rep_buf = self.reports.ctrl, self.reports.buf
        self._one = np.zeros(1, ORDER_DTYPE)
        self._next_id = 1
        self._on_ticks: tuple[np.ndarray, object] | None = None

    def attach(self, fills: Ring) -> None:
        """Send execution reports into ``fills`` (the core's fill ring)."""
        self._rep_ctrl, self._rep_buf = fills.ctrl, fills.buf

    # --- records ----------------------------------------------------------------------------------------------------
    def pump(self, orders: Ring) -> int:
        """Take the core's pending orders; how many."""
        return int(paper_pump_nb(self.state, orders.ctrl, orders.buf, self._rep_ctrl, self._rep_buf))

    def on_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Match open orders against market events; how many were applied (the rest wait for report room)."""
        n = len(ticks) - start if count is None else count
        if self._on_ticks is None or self._on_ticks[0] is not self._rep_ctrl:
            entry = bind(paper_on_ticks_nb, self.state, np.zeros(1, TICK_DTYPE), 0, 0, self._rep_ctrl, self._rep_buf)
            self._on_ticks = (self._rep_ctrl, entry)
        if ticks.dtype != TICK_DTYPE or not ticks.flags.c_contiguous or ticks.ndim != 1:
            raise ValueError("on_ticks takes a 1-D contiguous array of TICK_DTYPE records")
        return int(self._on_ticks[1](self.state, ticks, start, n, self._rep_ctrl, self._rep_buf))

    # --- ccxt-shaped edge -------------------------------------------------------------------------------------------
    def _symbol_id(self, symbol: str) -> int:
        if symbol not in self.symbol_ids:
            raise _ccxt().BadSymbol(f"paper does not have market symbol {symbol}")
        return self.symbol_ids[symbol]

    def create_order(
        self,
        symbol: str,
        type: str,  # noqa: A002 - ccxt's argument name
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, object] | None = None,
    ) -> dict[str, object]:
        """Place an order as ccxt would; the order dict, or a ccxt error."""
        params = dict(params or {})
        sid = self._symbol_id(symbol)
        if type not in ORDER_TYPES:
            raise _ccxt().InvalidOrder(f"paper order type {type!r} not supported; use one of {', '.join(ORDER_TYPES)}")
        if side not in ("buy", "sell"):
            raise _ccxt().InvalidOrder(f"paper order side {side!r} must be buy or sell")
        rec = self._one
        rec[0] = 0
        client_id = params.pop("clientOrderId", None)
        coid = int(client_id) if isinstance(client_id, int | str) and str(client_id).isdigit() else self._new_id()
        rec["client_order_id"] = coid
        rec["symbol_id"] = sid
        rec["venue_id"] = self.venue_id
        rec["side"] = SIDE_BUY if side == "buy" else SIDE_SELL
        rec["order_type"] = ORDER_TYPES[type]
        tif = str(params.pop("timeInForce", "GTC" if type in ("limit", "stop_limit") else "IOC"))
        if tif not in TIFS:
            raise _ccxt().InvalidOrder(f"paper timeInForce {tif!r} must be GTC, IOC or FOK")
        rec["tif"] = TIFS[tif]
        rec["flags"] = FLAG_REDUCE_ONLY if params.pop("reduceOnly", False) else 0
        rec["action"] = ACTION_SUBMIT
        rec["size"] = float(amount)
        rec["price"] = float(price) if price is not None else math.nan
        stop = params.pop("stopPrice", params.pop("triggerPrice", None))
        rec["stop_px"] = float(stop) if stop is not None else math.nan  # type: ignore[arg-type]
        reason = int(paper_submit_nb(self.state, rec, 0, self._rep_ctrl, self._rep_buf))
        if reason != VENUE_OK:
            raise venue_error(reason)(f"paper rejected the order: {VENUE_REASON_NAMES[reason]}")
        return self.order_dict(coid)

    def _new_id(self) -> int:
        # ids the core never uses (the core puts a sequence above its 14 slot bits): search the free table slots
        for _ in range(TABLE_SIZE):
            coid = (1 << 50) + self._next_id
            self._next_id += 1
            slot = coid & TABLE_MASK
            if self.state.live_pos[slot] < 0:
                return coid
        raise _ccxt().RateLimitExceeded("paper has too many open orders")

    def cancel_order(self, order_id: str | int, symbol: str | None = None) -> dict[str, object]:
        coid = int(order_id)
        o = self.state.orders[coid & TABLE_MASK]
        if int(o["client_order_id"]) != coid or int(o["status"]) not in (STATUS_ACCEPTED, STATUS_PARTIALLY_FILLED):
            raise _ccxt().OrderNotFound(f"paper has no open order {order_id}")
        rec = self._one
        rec[0] = o
        rec["action"] = ACTION_CANCEL
        paper_submit_nb(self.state, rec, 0, self._rep_ctrl, self._rep_buf)
        return self.order_dict(coid)

    def fetch_order(self, order_id: str | int, symbol: str | None = None) -> dict[str, object]:
        coid = int(order_id)
        if int(self.state.orders[coid & TABLE_MASK]["client_order_id"]) != coid:
            raise _ccxt().OrderNotFound(f"paper has no order {order_id}")
        return self.order_dict(coid)

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, object]]:
        live = self.state.live[: int(self.state.ist[PI_LIVE])]
        out = [self.order_dict(int(self.state.orders[slot]["client_order_id"])) for slot in live]
        return [o for o in out if symbol is None or o["symbol"] == symbol]

    def fetch_balance(self) -> dict[str, object]:
        """Quote-currency margin account: equity, what open positions and orders tie up, and the rest."""
        acct = self.state.acct
        equity = float(acct[A_EQUITY])
        from bot4.venues.paper_kernels import margin_available_nb

        free = float(margin_available_nb(self.state))
        quote = self.symbols[0].split("/")[1] if self.symbols else "USDT"
        balance: dict[str, object] = {
            "info": {
                "realized": float(acct[A_REALIZED]),
                "unrealized": float(acct[A_UNREALIZED]),
                "fees": float(acct[A_FEES]),
                "positions": {s: float(self.state.sym[i, S_QTY]) for i, s in enumerate(self.symbols)},
            },
            quote: {"free": free, "used": equity - free, "total": equity},
            "free": {quote: free},
            "used": {quote: equity - free},
            "total": {quote: equity},
        }
        return balance

    def order_dict(self, coid: int) -> dict[str, object]:
        o = self.state.orders[coid & TABLE_MASK]
        status = int(o["status"])
        size, filled = float(o["size"]), float(o["filled"])
        avg = float(o["avg_px"])
        side = "buy" if int(o["side"]) > 0 else "sell"
        ccxt_status = {
            STATUS_ACCEPTED: "open",
            STATUS_PARTIALLY_FILLED: "open",
            STATUS_FILLED: "closed",
            STATUS_CANCELED: "canceled",
            STATUS_EXPIRED: "expired",
            STATUS_REJECTED: "rejected",
        }.get(status, STATUS_NAMES.get(status, "open"))
        price = float(o["price"])
        return {
            "id": str(coid),
            "clientOrderId": str(coid),
            "symbol": self.symbols[int(o["symbol_id"])],
            "type": ORDER_TYPE_NAMES.get(int(o["order_type"]), "market"),
            "timeInForce": TIF_NAMES.get(int(o["tif"]), "GTC"),
            "side": side,
            "price": None if math.isnan(price) else price,
            "stopPrice": None if math.isnan(float(o["stop_px"])) else float(o["stop_px"]),
            "amount": size,
            "filled": filled,
            "remaining": max(0.0, size - filled) if ccxt_status == "open" else 0.0,
            "average": None if math.isnan(avg) else avg,
            "status": ccxt_status,
            "reduceOnly": bool(int(o["flags"]) & FLAG_REDUCE_ONLY),
            "fee": None,
        }

    def stats(self) -> dict[str, int]:
        ist = self.state.ist
        out = {
            "open_orders": int(ist[PI_LIVE]),
            "accepted": int(ist[PI_ACCEPTED]),
            "rejected": int(ist[PI_REJECTED]),
            "fills": int(ist[PI_FILLS]),
            "canceled": int(ist[PI_CANCELED]),
            "expired": int(ist[PI_EXPIRED]),
            "blocked": int(ist[PI_BLOCKED]),
        }
        for code, name in enumerate(VENUE_REASON_NAMES):
            if code and self.state.reject_counts[code]:
                out[f"reject_{name}"] = int(self.state.reject_counts[code])
        return out

    def position(self, symbol: str) -> tuple[float, float]:
        """(qty, average price) the venue holds for ``symbol``."""
        i = self._symbol_id(symbol)
        return float(self.state.sym[i, S_QTY]), float(self.state.sym[i, S_AVG_PX])

    def last_price(self, symbol: str) -> float:
        return float(self.state.sym[self._symbol_id(symbol), S_LAST_PX])
