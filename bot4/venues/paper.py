"""The paper exchange: bot4's built-in venue, matching the core's orders against replayed market data.

:class:`PaperExchange` owns the compiled matching state (see ``paper_kernels``) and speaks two languages: records
with the core (orders in from the core's order ring, execution reports out to its fill ring) and ccxt-shaped dicts
at the edge (``create_order``, ``cancel_order``, ``fetch_order``, ``fetch_open_orders``, ``fetch_balance``), raising
ccxt's own error classes, so the local exchange server and the UI see what a real venue would show.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from bot4.core.book import new_book
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
from bot4.core.ring import RING_HEAD, RING_TAIL, Ring
from bot4.core.state import ACCOUNT_DTYPE, SYMBOL_DTYPE
from bot4.logs import event
from bot4.venues.paper_kernels import (
    BOOK_DTYPE,
    INSTRUMENT_DTYPE,
    PAPER_PARAMS_DTYPE,
    TABLE_MASK,
    TABLE_SIZE,
    VENUE_DTYPE,
    PaperState,
    margin_available_nb,
    paper_on_ticks_nb,
    paper_pump_nb,
    paper_submit_nb,
)

if TYPE_CHECKING:
    import ccxt as ccxt_module

log = logging.getLogger("bot4.paper")


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
    # market time a tick takes to reach the strategy: an order decided on it meets the market feed + order latency
    # after the tick
    feed_latency_ms: float = 0.0
    leverage: float = 3.0  # margin needed by an order that grows exposure = notional / leverage

    def __post_init__(self) -> None:
        for key in ("maker_fee", "taker_fee"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and -0.01 <= v <= 0.01):
                raise ConfigError(f"config key paper.{key} = {v!r}: must be a fraction between -0.01 and 0.01")
        for key in ("latency_ms", "feed_latency_ms"):
            v = getattr(self, key)
            if isinstance(v, bool) or not (isinstance(v, int | float) and 0 <= v <= 60_000):
                raise ConfigError(f"config key paper.{key} = {v!r}: must be between 0 and 60000")
        if not (isinstance(self.leverage, int | float) and 1 <= self.leverage <= 100):
            raise ConfigError(f"config key paper.leverage = {self.leverage!r}: must be between 1 and 100")


class PaperExchange:
    """A simulated exchange for the instruments of ``core_config`` (a :class:`bot4.venues.base.Venue`)."""

    name = "paper"
    streams_market_data = False  # the engine replays recorded data and shows it to us (on_ticks)

    def __init__(self, core_config: CoreConfig, config: PaperConfig | None = None, venue_id: int = 0) -> None:
        self.config = config or PaperConfig()
        self.symbols = core_config.symbols
        self.symbol_ids = {s: i for i, s in enumerate(self.symbols)}
        self.venue_id = venue_id
        n = len(self.symbols)
        params = np.zeros(1, PAPER_PARAMS_DTYPE)
        params["maker_fee"] = self.config.maker_fee
        params["taker_fee"] = self.config.taker_fee
        params["latency_ns"] = round((self.config.latency_ms + self.config.feed_latency_ms) * 1e6)
        params["leverage"] = self.config.leverage
        params["outlier_frac"] = core_config.risk.outlier_frac
        params["outlier_confirm"] = core_config.risk.outlier_confirm
        inst = np.zeros(n, INSTRUMENT_DTYPE)
        sym = np.zeros(n, SYMBOL_DTYPE)
        for i, ins in enumerate(core_config.instruments):
            inst[i] = (ins.size_step, ins.price_tick, ins.min_size)
        sym["size_step"] = inst["size_step"]
        sym["avg_px"] = np.nan
        acct = np.zeros(1, ACCOUNT_DTYPE)
        acct["initial"] = acct["equity"] = acct["peak"] = core_config.risk.initial_equity_usd
        orders = np.zeros(TABLE_SIZE, ORDER_DTYPE)
        orders["client_order_id"] = -1
        self.state = PaperState(
            params=params,
            inst=inst,
            book=np.zeros(n, BOOK_DTYPE),
            orders=orders,
            active_at=np.zeros(TABLE_SIZE, np.int64),
            act=np.zeros(TABLE_SIZE, np.uint8),
            live=np.zeros(TABLE_SIZE, np.int64),
            live_pos=np.full(TABLE_SIZE, -1, np.int64),
            venue=np.zeros(1, VENUE_DTYPE),
            sym=sym,
            acct=acct,
            reject_counts=np.zeros(len(VENUE_REASON_NAMES), np.int64),
            l2=new_book(n),
            queue=np.full(TABLE_SIZE, np.nan),
        )
        # reports go to the core's fill ring once attached; standalone (the exchange server) to our own ring
        self.reports = Ring(FILL_DTYPE, 1 << 14, "paper_reports")
        self._rep_ctrl, self._rep_buf = self.reports.ctrl, self.reports.buf
        self._one = np.zeros(1, ORDER_DTYPE)
        self._next_id = 1
        self._on_ticks: tuple[np.ndarray, object] | None = None
        self.on_report: Callable[[], None] | None = None
        self.closed = False

    def attach(self, fills: Ring) -> None:
        """Send execution reports into ``fills`` (the core's fill ring)."""
        self._rep_ctrl, self._rep_buf = fills.ctrl, fills.buf

    # --- the engine's venue ------------------------------------------------------------------------------------------
    def restore(self, positions: dict[int, tuple[float, float, float, float]], realized: float, fees: float) -> None:
        """The simulated account as the journal left it (its positions, realized PnL and fees)."""
        for s, (qty, avg, sym_realized, sym_fees) in positions.items():
            row = self.state.sym[s]
            row["qty"], row["avg_px"], row["realized"], row["fees"] = qty, avg, sym_realized, sym_fees
        self.state.acct["realized"] = realized
        self.state.acct["fees"] = fees

    recovers_orders = False  # the simulation restarts empty: the restore closes what the journal left open

    async def start(self, journal_open: list[dict[str, object]], instance: str = "") -> None:
        """Nothing to connect to; the orders the journal left open never existed here (the restore closed them)."""
        self.closed = False
        event(log, "venue_ready", venue=self.name, symbols=list(self.symbols), left_open=len(journal_open))

    async def holdings(self) -> dict[str, float] | None:
        return None

    def background(self, stopping: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return []

    def busy(self) -> bool:
        return False  # every order is answered within the pump or tick batch that carried it

    async def close(self) -> None:
        """No order is taken after this (an engine that stopped must not trade on)."""
        self.closed = True

    # --- records ----------------------------------------------------------------------------------------------------
    def pump(self, orders: Ring) -> int:
        """Take the core's pending orders; how many (none once closed)."""
        if self.closed:
            return 0
        taken = int(paper_pump_nb(self.state, orders.ctrl, orders.buf, self._rep_ctrl, self._rep_buf))
        self._reports_waiting()
        return taken

    def _reports_waiting(self) -> None:
        ctrl = self._rep_ctrl
        if self.on_report is not None and ctrl[RING_HEAD] != ctrl[RING_TAIL]:
            self.on_report()

    def on_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Match open orders against market events; how many were applied (the rest wait for report room)."""
        n = len(ticks) - start if count is None else count
        if self._on_ticks is None or self._on_ticks[0] is not self._rep_ctrl:
            entry = bind(paper_on_ticks_nb, self.state, np.zeros(1, TICK_DTYPE), 0, 0, self._rep_ctrl, self._rep_buf)
            self._on_ticks = (self._rep_ctrl, entry)
        if ticks.dtype != TICK_DTYPE or not ticks.flags.c_contiguous or ticks.ndim != 1:
            raise ValueError("on_ticks takes a 1-D contiguous array of TICK_DTYPE records")
        applied = int(self._on_ticks[1](self.state, ticks, start, n, self._rep_ctrl, self._rep_buf))
        self._reports_waiting()
        return applied

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
        live = self.state.live[: int(self.state.venue["live"][0])]
        out = [self.order_dict(int(self.state.orders[slot]["client_order_id"])) for slot in live]
        return [o for o in out if symbol is None or o["symbol"] == symbol]

    def fetch_balance(self) -> dict[str, object]:
        """Quote-currency margin account: equity, what open positions and orders tie up, and the rest."""
        acct = self.state.acct[0]
        equity = float(acct["equity"])
        free = float(margin_available_nb(self.state))
        quote = self.symbols[0].split("/")[1] if self.symbols else "USDT"
        balance: dict[str, object] = {
            "info": {
                "realized": float(acct["realized"]),
                "unrealized": float(acct["unrealized"]),
                "fees": float(acct["fees"]),
                "positions": {s: float(self.state.sym["qty"][i]) for i, s in enumerate(self.symbols)},
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
        v = self.state.venue[0]
        out = {"open_orders": int(v["live"])}
        out.update({name: int(v[name]) for name in ("accepted", "rejected", "fills", "canceled", "expired", "blocked")})
        for code, name in enumerate(VENUE_REASON_NAMES):
            if code and self.state.reject_counts[code]:
                out[f"reject_{name}"] = int(self.state.reject_counts[code])
        return out

    def position(self, symbol: str) -> tuple[float, float]:
        """(qty, average price) the venue holds for ``symbol``."""
        i = self._symbol_id(symbol)
        row = self.state.sym[i]
        return float(row["qty"]), float(row["avg_px"])

    def last_price(self, symbol: str) -> float:
        return float(self.state.sym["last_px"][self._symbol_id(symbol)])
