"""The live venue: a real exchange through ccxt (``ccxt.pro``, the async client with websockets).

:class:`CcxtVenue` has the paper exchange's shape toward the engine — ``pump(ring)`` takes the core's orders,
``reports`` is the ring of execution reports, ``stats()`` — so the core cannot tell the two apart. Underneath:

- ``connect()``: ``load_markets`` into the instrument table (the venue's amount step, price tick and minimum size
  replace the configured ones, logged when they differ), ``fetch_balance``, and recovery by client order id: every
  order the journal left open (acknowledged or of unknown outcome) is looked up at the venue before it is declared
  anything; the fills it made while no engine watched are reported (and journaled by the engine before it trades),
  one still working is canceled (the core that placed it is gone), one the venue never got is closed once the
  receive window rules out a late arrival. Client order ids carry this state dir's instance prefix
  (``b4<instance>-<n>``): orders of other engines, or placed by hand, are foreign and left alone (counted).
- orders go out one at a time, in the core's order, through ``create_order`` (the core's client order id is the
  venue's ``clientOrderId``) and ``cancel_order``; fills come from the order's own answer and then from polling
  (``fetch_order``, then ``fetch_my_trades`` of that order), each trade once; ends (canceled, expired) likewise. An order whose ``create_order`` timed out is unknown, not rejected: it is looked up by its
  client order id until the venue says whether it exists.
- market data through ``watch_trades_for_symbols`` and ``watch_bids_asks`` (best bid/ask), reconnecting with
  exponential back-off (with jitter) after any error.
- every REST call asks the venue's circuit breaker first and reports its outcome and latency; every stream
  message or error is an outcome for the feed's breaker. ccxt's OperationFailed family (NetworkError,
  RequestTimeout, ExchangeNotAvailable, DDoSProtection, RateLimitExceeded, a busy server) and AuthenticationError
  count as failures; an order refused for its own sake (InvalidOrder, InsufficientFunds, BadSymbol) is a healthy answer and
  becomes a reject with its reason. A heartbeat (``fetch_time``, the lightest call) keeps the breaker fed when no
  order flows, and is the probe that takes an OPEN breaker through HALF_OPEN back to CLOSED.
- the exchange's request weights are respected (``enableRateLimit``): polling costs one ``fetch_order`` per open
  order, and ``fetch_my_trades`` for that order only when its filled amount moved.

API keys are read from the environment variables the config names (never from a file), handed to ccxt, and never
logged: ccxt's own error texts carry URLs and bodies, not keys, and log lines here carry neither.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any

import numpy as np

from bot4.core.breaker import BreakerBank
from bot4.core.instruments import Instruments
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    BREAKER_CLOSED,
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_EXPIRED,
    EXEC_FILL,
    EXEC_REJECTED,
    FILL_DTYPE,
    LIQUIDITY_MAKER,
    LIQUIDITY_TAKER,
    ORDER_DTYPE,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP_LIMIT,
    ORDER_STOP_MARKET,
    SIDE_BUY,
    TIF_NAMES,
    VENUE_AUTH,
    VENUE_BAD_ORDER,
    VENUE_ERROR,
    VENUE_INSUFFICIENT_FUNDS,
    VENUE_REASON_NAMES,
    VENUE_UNAVAILABLE,
    VENUE_UNKNOWN_SYMBOL,
)
from bot4.core.ring import RING_HEAD, RING_TAIL, Ring
from bot4.logs import event
from bot4.venues.base import PushTicks
from bot4.venues.ccxt_client import LiveStats, Tracked, backoff_delays, build_client
from bot4.venues.ccxt_stream import CcxtStream
from bot4.venues.live_config import LiveConfig, VenueError

log = logging.getLogger("bot4.live")

LOST_AFTER_POLLS = 3  # polls in a row that find no such order before it is closed as lost
CCXT_TYPES = {ORDER_MARKET: "market", ORDER_LIMIT: "limit", ORDER_STOP_MARKET: "market", ORDER_STOP_LIMIT: "limit"}


class CcxtVenue:
    """The engine's venue for the core's instruments on one ccxt exchange."""

    streams_market_data = True  # trades and best bid/ask come from the exchange's websockets (run_feed)

    def __init__(
        self, config: LiveConfig, instruments: Instruments, breakers: BreakerBank, venue_id: int = 0, client: Any = None
    ) -> None:
        import ccxt

        self.ccxt = ccxt
        self.name = config.exchange
        self.instruments = instruments
        self.breakers = breakers
        self.config = config
        self.venue_id = venue_id
        self.symbols = instruments.symbols
        self.client = client if client is not None else build_client(config)
        self.reports = Ring(FILL_DTYPE, 1 << 14, "live_reports")
        self.backlog: deque[np.ndarray] = deque()  # reports that found the ring full, oldest first
        self.on_report: Callable[[], None] | None = None  # the engine's kick: a report is waiting
        self.stats_ = LiveStats()
        self.venue_breaker = breakers.venue(venue_id)
        self.feed_breaker = breakers.feed(venue_id)
        self.queue: deque[np.void] = deque()
        self.tracked: dict[int, Tracked] = {}
        self.unknown: dict[int, tuple[np.void, float]] = {}  # create_order outcome not known yet: (order, give-up time)
        self.markets: dict[str, dict[str, Any]] = {}
        self.journal_positions: dict[int, float] = {}  # symbol id -> qty, as the journal left it
        self.prefix = ""  # client order id prefix of this engine (set by start from the journal's instance)
        self.balance: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._orders_buf = np.zeros(4096, ORDER_DTYPE)
        self._one = np.zeros(1, FILL_DTYPE)
        self.stream = CcxtStream(self.client, config, instruments, self._feed_outcome, self.stats_)

    # --- breaker plumbing ---------------------------------------------------------------------------------------------
    def _allow(self, b: int) -> bool:
        return self.breakers.allow(b)

    def _record(self, b: int, ok: bool, latency_ns: int) -> None:
        self.breakers.record(b, ok, latency_ns)

    def _feed_outcome(self, ok: bool, latency_ns: int) -> None:
        """A stream message or error, for the feed's breaker. Data is always taken; the breaker only judges it: once
        OPEN (errors, or silence past ``stale_after_s``) it waits its open timeout, then the next messages are its
        probes (HALF_OPEN) and enough of them close it again."""
        if self._allow(self.feed_breaker):
            self._record(self.feed_breaker, ok, latency_ns)

    def breaker_state(self, b: int | None = None) -> int:
        return self.breakers.state(self.venue_breaker if b is None else b)

    def _is_failure(self, exc: BaseException) -> bool:
        return isinstance(exc, self.ccxt.OperationFailed | self.ccxt.AuthenticationError | asyncio.TimeoutError)

    async def call(self, name: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """One REST call through the venue breaker: ccxt's error on failure; ExchangeNotAvailable ("circuit breaker
        open", nothing sent) when the breaker refuses."""
        if not self._allow(self.venue_breaker):
            raise self.ccxt.ExchangeNotAvailable(f"{self.config.exchange}: circuit breaker open, {name} not sent")
        t0 = time.monotonic_ns()
        self.stats_.calls += 1
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            failed = self._is_failure(exc)
            self._record(self.venue_breaker, not failed, time.monotonic_ns() - t0)
            kind = type(exc).__name__
            self.stats_.errors[kind] = self.stats_.errors.get(kind, 0) + 1
            if failed:
                self.stats_.call_failures += 1
            raise
        self._record(self.venue_breaker, True, time.monotonic_ns() - t0)
        return result

    # --- the engine's venue ------------------------------------------------------------------------------------------
    def restore(self, positions: dict[int, tuple[float, float, float, float]], realized: float, fees: float) -> None:
        """The journal's positions, which :meth:`connect` compares with the exchange's balances."""
        self.journal_positions = {s: p[0] for s, p in positions.items()}

    recovers_orders = True  # start() resolves the orders the journal left open (restore leaves them to it)

    async def start(self, journal_open: list[dict[str, object]], instance: str = "") -> None:
        self.prefix = f"b4{instance}-" if instance else ""
        await self.connect(journal_open)

    def cid(self, coid: int) -> str:
        """The venue's client order id for the core's ``coid``."""
        return f"{self.prefix}{coid}"

    def own(self, cid: str) -> int | None:
        """The core's order id inside a venue client order id of this engine; None for anyone else's."""
        if not cid.startswith(self.prefix):
            return None
        rest = cid[len(self.prefix) :]
        return int(rest) if rest.isdigit() else None

    async def holdings(self) -> dict[str, float]:
        """The account's total of each instrument's base asset, read now."""
        self.balance = await self.call("fetch_balance", self.client.fetch_balance)
        totals = self.balance.get("total") or {}
        return {sym: float(totals.get(sym.split("/")[0]) or 0.0) for sym in self.symbols}

    def background(self, stopping: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        return [self.run_orders(stopping), self.run_poll(stopping)]

    # --- start-up -----------------------------------------------------------------------------------------------------
    async def connect(self, journal_open: list[dict[str, object]] | None = None) -> None:
        """Markets, balance and reconciliation; raises VenueError when the venue cannot be used."""
        delays = backoff_delays(self.config.reconnect_min_s, self.config.reconnect_max_s)
        for attempt in range(1, self.config.connect_attempts + 1):
            try:
                markets = await self.call("load_markets", self.client.load_markets)
                break
            except self.ccxt.AuthenticationError as exc:
                raise VenueError(f"{self.config.exchange} refused the API key: {exc}") from None
            except (self.ccxt.NetworkError, self.ccxt.ExchangeError, OSError) as exc:
                event(log, "venue_connect_failed", logging.WARNING, attempt=attempt, error=type(exc).__name__)
                if attempt == self.config.connect_attempts:
                    raise VenueError(
                        f"{self.config.exchange}: markets could not be loaded after {attempt} attempts "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
                await asyncio.sleep(next(delays))
        for s, sym in enumerate(self.symbols):
            m = markets.get(sym)
            if m is None:
                raise VenueError(f"{self.config.exchange} does not list {sym} (instruments in the config)")
            self.markets[sym] = m
            step = m["precision"].get("amount")
            tick = m["precision"].get("price")
            min_size = (m.get("limits", {}).get("amount") or {}).get("min")
            ins = self.instruments.configured[s]
            for name, venue_value, configured in (
                ("size_step", step, ins.size_step),
                ("price_tick", tick, ins.price_tick),
                ("min_size", min_size, ins.min_size),
            ):
                if venue_value is None:
                    continue
                if not math.isclose(float(venue_value), configured, rel_tol=1e-9):
                    event(log, "instrument_from_venue", logging.WARNING, symbol=sym, key=name, config=configured, venue=float(venue_value))
                self.instruments.set_step(s, name, float(venue_value))
        try:
            self.balance = await self.call("fetch_balance", self.client.fetch_balance)
        except self.ccxt.AuthenticationError as exc:
            raise VenueError(f"{self.config.exchange} refused the API key or signature: {exc}") from None
        except (self.ccxt.NetworkError, self.ccxt.ExchangeError) as exc:
            raise VenueError(f"{self.config.exchange}: balance could not be read ({type(exc).__name__}: {exc})") from None
        await self._recover(journal_open or [])
        event(log, "venue_connected", exchange=self.config.exchange, symbols=list(self.symbols), url=self.config.rest_url or "exchange")

    def _record_of(self, jo: dict[str, object]) -> np.void:
        o = np.zeros(1, ORDER_DTYPE)[0]
        o["client_order_id"] = int(jo["coid"])  # type: ignore[call-overload]
        o["symbol_id"] = self.symbols.index(str(jo["symbol"]))
        o["side"] = int(jo["side"])  # type: ignore[call-overload]
        o["order_type"] = int(jo.get("order_type", ORDER_MARKET))  # type: ignore[call-overload]
        o["size"] = float(jo["size"])  # type: ignore[arg-type]
        o["action"] = ACTION_SUBMIT
        return o

    async def _recover(self, journal_open: list[dict[str, object]]) -> None:
        """Each order the journal left open, looked up by its client order id (one failing never stops the others);
        then this engine's orders the venue still works that the journal does not name are canceled too."""
        ccxt = self.ccxt
        window_ns = int((self.config.recv_window_s + 0.5) * 1e9)
        handled: set[int] = set()
        for jo in journal_open:
            o = self._record_of(jo)
            coid, s = int(o["client_order_id"]), int(o["symbol_id"])
            handled.add(coid)
            self.stats_.recovered += 1
            age_ns = time.time_ns() - int(jo.get("ts_ns") or 0)  # type: ignore[call-overload]
            try:
                res = await self.call(
                    "fetch_order", self.client.fetch_order, None, self.symbols[s], {"origClientOrderId": self.cid(coid)}
                )
            except ccxt.OrderNotFound:
                if age_ns > window_ns:  # it can no longer arrive: it never existed there
                    event(log, "recover_order_never_arrived", logging.WARNING, coid=coid, symbol=self.symbols[s])
                    leaves = float(jo["size"]) - float(jo.get("filled") or 0.0)  # type: ignore[arg-type]
                    self._report(coid, s, int(o["side"]), EXEC_CANCELED, leaves=leaves)
                else:  # still inside the receive window: the poll keeps looking until it has passed
                    self.unknown[coid] = (o, time.monotonic() + (window_ns - age_ns) / 1e9)
                continue
            except (TimeoutError, ccxt.BaseError, OSError) as exc:
                event(log, "recover_lookup_failed", logging.WARNING, coid=coid, error=type(exc).__name__)
                self.unknown[coid] = (o, time.monotonic() + window_ns / 1e9)
                continue
            await self._recover_found(o, jo, res)
        await self._cancel_strays(handled)

    async def _recover_found(self, o: np.void, jo: dict[str, object], res: dict[str, Any]) -> None:
        coid, s = int(o["client_order_id"]), int(o["symbol_id"])
        size = float(res.get("amount") or jo["size"])  # type: ignore[arg-type]
        t = Tracked(coid, s, int(o["side"]), size, str(res.get("id") or ""))
        known = float(jo.get("filled") or 0.0)  # type: ignore[arg-type]
        if known == 0.0 and not jo.get("acked"):
            self._report(coid, s, t.side, EXEC_ACK, leaves=size)  # the journal never heard it was taken
        if res.get("status") == "open":
            try:
                res = await self.call("cancel_order", self.client.cancel_order, t.venue_id, self.symbols[s])
                self.stats_.reconciled_canceled += 1
            except self.ccxt.OrderNotFound:
                res = await self.call("fetch_order", self.client.fetch_order, t.venue_id, self.symbols[s])
        trades = await self.call("fetch_my_trades", self.client.fetch_my_trades, self.symbols[s], None, None, {"orderId": t.venue_id})
        step = self.instruments.step(s)
        for trade in sorted(trades, key=lambda x: (x.get("timestamp") or 0, str(x.get("id")))):
            if t.filled + float(trade["amount"]) <= known + step / 2:  # journaled before the stop: seen already
                t.filled += float(trade["amount"])
                t.trade_ids.add(str(trade.get("id") or ""))
                continue
            self._fill(t, trade)
            self.stats_.recovered_fills += 1
        event(log, "recover_order_found", logging.WARNING, coid=coid, status=res.get("status"), filled=t.filled, journal_filled=known)
        self.tracked[coid] = t
        res = dict(res)
        if res.get("status") == "open":
            res["status"] = "canceled"
        self._finish_if_done(t, res)

    async def _cancel_strays(self, handled: set[int]) -> None:
        opened = await self.call("fetch_open_orders", self.client.fetch_open_orders)
        for o in opened:
            coid = self.own(str(o.get("clientOrderId") or ""))
            if coid is None or not self.prefix:
                self.stats_.foreign_orders += 1
                event(log, "reconcile_foreign_order", logging.WARNING, id=o.get("id"), symbol=o.get("symbol"))
                continue
            if coid in handled:
                continue
            try:
                await self.call("cancel_order", self.client.cancel_order, o["id"], o["symbol"])
                self.stats_.reconciled_canceled += 1
                event(log, "reconcile_cancel", logging.WARNING, coid=coid, symbol=o["symbol"], filled=o.get("filled"))
            except self.ccxt.OrderNotFound:
                pass

    # --- orders -------------------------------------------------------------------------------------------------------
    def pump(self, orders: Ring) -> int:
        """Take the core's pending orders into the send queue (sent by :meth:`run_orders`)."""
        self.flush()
        if orders.ctrl[RING_HEAD] == orders.ctrl[RING_TAIL]:
            return 0
        n = orders.pop_many(self._orders_buf)
        for o in self._orders_buf[:n]:
            self.queue.append(o.copy())
        if n:
            self._wake.set()
        return n

    def busy(self) -> bool:
        """Orders still queued, at the venue, of unknown fate, or reports not yet handed on."""
        return bool(self.queue or self.tracked or self.unknown or self.backlog)

    def on_ticks(self, ticks: np.ndarray, start: int = 0, count: int | None = None) -> int:
        """Live markets match on the venue: nothing to do here."""
        return len(ticks) - start if count is None else count

    def _report(self, coid: int, symbol_id: int, side: int, kind: int, *, reason: int = 0, price: float = math.nan,
                size: float = 0.0, fee: float = 0.0, leaves: float = 0.0, liquidity: int = 0) -> None:
        r = self._one[0]
        r["client_order_id"] = coid
        r["ts_exch_ns"] = time.time_ns()
        r["ts_in_ns"] = time.monotonic_ns()
        r["symbol_id"] = symbol_id
        r["venue_id"] = self.venue_id
        r["kind"] = kind
        r["side"] = side
        r["liquidity"] = liquidity
        r["reason"] = reason
        r["price"] = price
        r["size"] = size
        r["fee"] = fee
        r["leaves"] = leaves
        if self.backlog or self.reports.push_many(self._one) == 0:
            self.backlog.append(self._one.copy())  # the ring is full: kept in order, moved on by flush()
        self.flush()
        if self.on_report is not None:
            self.on_report()

    def flush(self) -> int:
        """Move reports held back by a full ring into it (in order); how many are still waiting."""
        while self.backlog and self.reports.push_many(self.backlog[0]) == 1:
            self.backlog.popleft()
        return len(self.backlog)

    def _reject(self, o: np.void, reason: int, why: str) -> None:
        self.stats_.rejected += 1
        event(log, "venue_reject", logging.WARNING, coid=int(o["client_order_id"]), reason=VENUE_REASON_NAMES[reason], why=why[:200])
        self._report(int(o["client_order_id"]), int(o["symbol_id"]), int(o["side"]), EXEC_REJECTED, reason=reason,
                     leaves=float(o["size"]))

    async def run_orders(self, stopping: asyncio.Event) -> None:
        """Send queued orders, one at a time in the core's order."""
        while not stopping.is_set():
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            o = self.queue.popleft()
            if int(o["action"]) == ACTION_CANCEL:
                await self._cancel(o)
            else:
                await self._submit(o)

    def _order_args(self, o: np.void) -> tuple[str, str, str, float, float | None, dict[str, object]]:
        sym = self.symbols[int(o["symbol_id"])]
        otype = int(o["order_type"])
        side = "buy" if int(o["side"]) == SIDE_BUY else "sell"
        params: dict[str, object] = {"clientOrderId": self.cid(int(o["client_order_id"]))}
        price = float(o["price"])
        if otype in (ORDER_LIMIT, ORDER_STOP_LIMIT):
            params["timeInForce"] = TIF_NAMES.get(int(o["tif"]), "GTC")
        if otype in (ORDER_STOP_MARKET, ORDER_STOP_LIMIT):
            params["stopLossPrice"] = float(o["stop_px"])
        return sym, CCXT_TYPES.get(otype, "market"), side, self._on_step(float(o["size"]), int(o["symbol_id"])), (
            None if math.isnan(price) else price
        ), params

    def _on_step(self, size: float, symbol_id: int) -> float:
        """The size as the exact multiple of the step it stands for: ccxt truncates, so 0.26626999.. would lose a step."""
        step = Decimal(repr(self.instruments.step(symbol_id)))
        return float(Decimal(round(Decimal(repr(size)) / step)) * step)

    async def _submit(self, o: np.void) -> None:
        if int(o["order_type"]) not in CCXT_TYPES:
            self._reject(o, VENUE_BAD_ORDER, f"order type {int(o['order_type'])}")
            return
        sym, otype, side, amount, price, params = self._order_args(o)
        self.stats_.sent += 1
        ccxt = self.ccxt
        try:
            res = await self.call("create_order", self.client.create_order, sym, otype, side, amount, price, params)
        except ccxt.InsufficientFunds as exc:
            self._reject(o, VENUE_INSUFFICIENT_FUNDS, str(exc))
            return
        except ccxt.BadSymbol as exc:
            self._reject(o, VENUE_UNKNOWN_SYMBOL, str(exc))
            return
        except ccxt.InvalidOrder as exc:
            self._reject(o, VENUE_BAD_ORDER, str(exc))
            return
        except ccxt.AuthenticationError as exc:
            self._reject(o, VENUE_AUTH, str(exc))
            return
        except ccxt.ExchangeNotAvailable as exc:
            if "circuit breaker open" in str(exc):  # never sent: a clean refusal
                self._reject(o, VENUE_UNAVAILABLE, str(exc))
                return
            self._unknown(o, exc)
            return
        except (TimeoutError, ccxt.OperationFailed, OSError) as exc:
            self._unknown(o, exc)
            return
        except ccxt.ExchangeError as exc:
            self._reject(o, VENUE_ERROR, str(exc))
            return
        self._accepted(o, res)

    def _unknown(self, o: np.void, exc: BaseException) -> None:
        """The request may or may not have reached the venue: find out by client order id before telling the core."""
        self.stats_.unknown += 1
        # a request the venue has not processed within the receive window can no longer execute
        self.unknown[int(o["client_order_id"])] = (o, time.monotonic() + self.config.recv_window_s + 0.5)
        event(log, "order_outcome_unknown", logging.WARNING, coid=int(o["client_order_id"]), error=type(exc).__name__)

    def _accepted(self, o: np.void, res: dict[str, Any]) -> None:
        coid = int(o["client_order_id"])
        t = Tracked(coid, int(o["symbol_id"]), int(o["side"]), float(res.get("amount") or self._on_step(float(o["size"]), int(o["symbol_id"]))), str(res.get("id") or ""))
        self.tracked[coid] = t
        self.stats_.acked += 1
        self._report(coid, t.symbol_id, t.side, EXEC_ACK, leaves=t.size)
        for trade in res.get("trades") or ():
            self._fill(t, trade)
        self._finish_if_done(t, res)

    def _fill(self, t: Tracked, trade: dict[str, Any]) -> None:
        tid = str(trade.get("id") or "")
        if not tid or tid in t.trade_ids:
            return
        t.trade_ids.add(tid)
        price, amount = float(trade["price"]), float(trade["amount"])
        fee = trade.get("fee") or {}
        cost = float(fee.get("cost") or 0.0)
        quote = self.symbols[t.symbol_id].split("/")[1]
        if fee.get("currency") and fee.get("currency") != quote:
            cost *= price  # paid in the base asset
        t.filled += amount
        self.stats_.fills += 1
        liq = LIQUIDITY_MAKER if trade.get("takerOrMaker") == "maker" else LIQUIDITY_TAKER
        self._report(t.coid, t.symbol_id, t.side, EXEC_FILL, price=price, size=amount, fee=cost,
                     leaves=max(0.0, t.size - t.filled), liquidity=liq)

    def _finish_if_done(self, t: Tracked, order: dict[str, Any]) -> bool:
        status = order.get("status")
        filled = float(order.get("filled") or 0.0)
        if status == "open":
            return False
        step = self.instruments.step(t.symbol_id)
        if t.filled + step / 2 < filled and t.polls_closed < 5:
            t.polls_closed += 1  # fills not seen yet: the trade list catches up on the next poll
            return False
        leaves = max(0.0, t.size - t.filled)
        if leaves > step / 2:
            kind = EXEC_EXPIRED if status == "expired" or (status == "closed" and t.filled > 0) else EXEC_CANCELED
            if status == "rejected":
                kind = EXEC_REJECTED
            if kind == EXEC_EXPIRED:
                self.stats_.expired += 1
            elif kind == EXEC_CANCELED:
                self.stats_.canceled += 1
            self._report(t.coid, t.symbol_id, t.side, kind, leaves=leaves, reason=VENUE_ERROR if kind == EXEC_REJECTED else 0)
        self.tracked.pop(t.coid, None)
        return True

    async def _cancel(self, o: np.void) -> None:
        coid = int(o["client_order_id"])
        t = self.tracked.get(coid)
        if t is None:
            return  # already finished (or never accepted): the core hears of it from the fill/reject path
        sym = self.symbols[t.symbol_id]
        try:
            res = await self.call("cancel_order", self.client.cancel_order, t.venue_id, sym)
        except self.ccxt.OrderNotFound:
            return  # finished meanwhile: the poll reports how
        except (TimeoutError, self.ccxt.BaseError, OSError) as exc:
            event(log, "cancel_failed", logging.WARNING, coid=coid, error=type(exc).__name__)
            return  # still tracked: the poll keeps watching it
        res.setdefault("status", "canceled")
        self._finish_if_done(t, res)

    # --- polling ------------------------------------------------------------------------------------------------------
    async def poll_once(self) -> None:
        """Resolve unknown orders, pick up new fills, and notice orders that ended."""
        ccxt = self.ccxt
        for coid, (o, give_up) in list(self.unknown.items()):
            sym = self.symbols[int(o["symbol_id"])]
            try:
                res = await self.call("fetch_order", self.client.fetch_order, None, sym, {"origClientOrderId": self.cid(coid)})
            except ccxt.OrderNotFound:
                if time.monotonic() >= give_up:
                    del self.unknown[coid]
                    self._reject(o, VENUE_UNAVAILABLE, "the venue has no such order after a failed send")
                continue
            except (TimeoutError, ccxt.BaseError, OSError):
                continue
            del self.unknown[coid]
            event(log, "order_outcome_found", coid=coid, status=res.get("status"))
            self._accepted(o, res)
        for t in list(self.tracked.values()):  # each on its own: one order's failure never blocks the others'
            try:
                await self._poll_tracked(t)
            except ccxt.OrderNotFound:
                t.missing += 1
                if t.missing >= LOST_AFTER_POLLS:
                    self._lost(t)
            except (TimeoutError, ccxt.BaseError, OSError) as exc:
                event(log, "order_poll_failed", logging.WARNING, coid=t.coid, error=type(exc).__name__)

    async def _poll_tracked(self, t: Tracked) -> None:
        sym = self.symbols[t.symbol_id]
        if t.venue_id:
            res = await self.call("fetch_order", self.client.fetch_order, t.venue_id, sym)
        else:
            res = await self.call("fetch_order", self.client.fetch_order, None, sym, {"origClientOrderId": self.cid(t.coid)})
            t.venue_id = str(res.get("id") or "")
        t.missing = 0
        step = self.instruments.step(t.symbol_id)
        if float(res.get("filled") or 0.0) > t.filled + step / 2:
            trades = await self.call("fetch_my_trades", self.client.fetch_my_trades, sym, None, None, {"orderId": t.venue_id})
            for trade in trades:
                self._fill(t, trade)
        if t.coid in self.tracked:
            self._finish_if_done(t, res)

    def _lost(self, t: Tracked) -> None:
        """The venue no longer knows an order it took (archived, or lost): closed with what it filled, said loudly."""
        self.stats_.lost_orders += 1
        leaves = max(0.0, t.size - t.filled)
        event(log, "order_lost_at_venue", logging.ERROR, coid=t.coid, symbol=self.symbols[t.symbol_id], filled=t.filled, leaves=leaves)
        self.tracked.pop(t.coid, None)
        self._report(t.coid, t.symbol_id, t.side, EXEC_CANCELED, leaves=leaves)

    async def run_poll(self, stopping: asyncio.Event) -> None:
        """Poll orders while any are open; otherwise a heartbeat that feeds (and probes) the venue breaker."""
        last_beat = 0.0
        while not stopping.is_set():
            try:
                if self.tracked or self.unknown:
                    await self.poll_once()
                if time.monotonic() - last_beat >= self.config.heartbeat_s or self.breaker_state() != BREAKER_CLOSED:
                    last_beat = time.monotonic()
                    await self.call("fetch_time", self.client.fetch_time)  # public and light (weight 1)
            except (TimeoutError, self.ccxt.BaseError, OSError) as exc:
                event(log, "venue_call_failed", logging.WARNING, error=type(exc).__name__, breaker=self.breaker_state())
            self.breakers.check_stale(self.feed_breaker)
            await asyncio.sleep(self.config.poll_interval_s)

    # --- market data --------------------------------------------------------------------------------------------------
    async def run_feed(self, stopping: asyncio.Event, push: PushTicks) -> None:
        """Trades and best bid/ask for every instrument (see :class:`CcxtStream`)."""
        await self.stream.run_feed(stopping, push)

    # --- views --------------------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        s = self.stats_
        out = {
            "open_orders": len(self.tracked),
            "unknown_orders": len(self.unknown),
            "sent": s.sent,
            "accepted": s.acked,
            "rejected": s.rejected,
            "fills": s.fills,
            "canceled": s.canceled,
            "expired": s.expired,
            "calls": s.calls,
            "call_failures": s.call_failures,
            "stream_reconnects": s.reconnects,
            "stream_messages": s.stream_messages,
        }
        for k, v in s.errors.items():
            out[f"error_{k}"] = v
        return out

    async def close(self) -> None:
        await self.client.close()
