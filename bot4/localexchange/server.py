"""A local exchange speaking Binance spot's REST and market-stream dialect, backed by the paper exchange.

It lets the real ccxt client (``ccxt.binance`` / ``ccxt.pro.binance`` with their API URLs pointed here) trade
without internet: tests use it for the live path, and a user can rehearse a live configuration against it::

    python -m bot4.localexchange --port 8765      # key and secret from BOT4_BINANCE_API_KEY / _SECRET

What it serves (the calls bot4's ccxt adapter makes):

- ``GET /api/v3/ping``, ``/time``, ``/exchangeInfo`` (PRICE_FILTER, LOT_SIZE and NOTIONAL filters from the
  instrument table);
- signed: ``GET /api/v3/account``, ``POST|DELETE|GET /api/v3/order``, ``GET /api/v3/openOrders``,
  ``GET /api/v3/myTrades``;
- public market data (:mod:`bot4.localexchange.market`): ``GET /api/v3/klines``, ``/aggTrades`` (the history: the
  recorded trades repeated back over ``history_s`` before the server started) and ``/depth``;
- ``/stream/ws/{n}`` websocket: ``SUBSCRIBE`` to ``<symbol>@trade``, ``<symbol>@bookTicker`` and
  ``<symbol>@depth@100ms``.

Signed requests are checked as Binance checks them: the ``X-MBX-APIKEY`` header must name the account's key
(-2014 / -2015), ``signature`` is the hex HMAC-SHA256 with the secret of the query string followed by the body,
without the signature itself (-1022), and ``timestamp`` must fall inside ``recvWindow`` (-1021).

The account behind it is the paper exchange's quote-currency margin account: the quote asset's ``free`` is the
margin left, its ``locked`` what positions and orders tie up, and each base asset's ``free`` is the position
(negative when short, which Binance spot itself would not allow).

Market data: recorded ticks replayed on a wall clock (``speed`` times real time, looping, stamped with the current
time) go both to the paper matcher and to the websocket subscribers. Faults can be injected for tests: the next N
REST requests answer HTTP 429, 500, 503, or hang past the client's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import time
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from bot4.core.config import CoreConfig
from bot4.core.records import EXEC_FILL, FILL_DTYPE, LIQUIDITY_MAKER, SIDE_BUY, TICK_TRADE
from bot4.core.ring import RING_HEAD, RING_TAIL
from bot4.localexchange.dialect import CCXT_STATUS, FAULTS, ORDER_TYPES, ApiError, Faults, Trade, fmt_num, market_id
from bot4.localexchange.market import MarketData
from bot4.venues.live_config import LiveConfig
from bot4.venues.paper import PaperConfig, PaperExchange, _ccxt
from bot4.venues.replay import load_sample

log = logging.getLogger("bot4.localexchange")

class LocalExchange:
    """The server: ``await start()`` -> base URL; ``await stop()``."""

    def __init__(
        self,
        core_config: CoreConfig | None = None,
        paper_config: PaperConfig | None = None,
        api_key: str = "",
        secret: str = "",
        ticks: np.ndarray | None = None,
        speed: float = 10.0,
        timeout_hang_s: float = 30.0,
        history_s: float = 86_400.0,
    ) -> None:
        self.core_config = core_config or CoreConfig()
        # no latency model by default: like a real matching engine, a marketable order fills in its own request
        self.paper = PaperExchange(self.core_config, paper_config or PaperConfig(latency_ms=0.0))
        self.symbols = self.core_config.symbols
        self.ids = {market_id(s): s for s in self.symbols}
        self.api_key, self.secret = api_key, secret
        self.ticks = load_sample(self.symbols) if ticks is None else ticks
        self.speed = speed
        self.history_s = history_s  # how far back the REST history reaches before the server's start
        self.market = MarketData(self.ticks, self.symbols, int(time.time() * 1000), history_s)
        self.timeout_hang_s = timeout_hang_s
        self.faults = Faults()
        self.forgotten: set[int] = set()  # orders forget_order() made unknown
        self.silent = False  # True: no market data goes out (orders still work)
        self.requests: dict[str, int] = {}
        self.trades: list[Trade] = []
        self.client_ids: dict[int, str] = {}  # orderId -> the clientOrderId the client chose
        self.order_times: dict[int, int] = {}
        self.history: dict[int, dict[str, Any]] = {}  # orderId -> the order as last seen
        self.sockets: dict[web.WebSocketResponse, set[str]] = {}
        self.ticks_sent = 0
        self.last_trade_px: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._feed: asyncio.Task[None] | None = None
        self._reports = np.zeros(4096, FILL_DTYPE)
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_post("/api/v3/order", self._create_order)
        app.router.add_delete("/api/v3/order", self._cancel_order)
        app.router.add_get("/api/v3/order", self._query_order)
        app.router.add_get("/api/v3/openOrders", self._open_orders)
        app.router.add_get("/api/v3/myTrades", self._my_trades)
        app.router.add_get("/stream/ws/{n}", self._ws)
        self.market = MarketData(self.ticks, self.symbols, int(time.time() * 1000), self.history_s)
        self.market.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}"
        self._feed = asyncio.create_task(self._replay(), name="exchange-feed")
        log.info("local exchange listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
            await asyncio.gather(self._feed, return_exceptions=True)
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop_streams(self) -> int:
        """Close every websocket (a network blip): clients must reconnect and subscribe again."""
        n = len(self.sockets)
        for ws in list(self.sockets):
            await ws.close()
        return n

    def live_config(self, **settings: Any) -> LiveConfig:
        """A ``[live]`` section that points ccxt at this server (its REST base and its streams)."""
        return LiveConfig(
            rest_url=self.url + "/api/v3", ws_url=self.url.replace("http", "ws", 1) + "/stream/ws", **settings
        )

    def inject(self, fault: str, count: int = 1, only: str = "") -> None:
        """The next ``count`` REST requests fail with ``fault`` (429, 500, 503 or timeout); ``only``: just the requests
        of that method and path (``"POST /api/v3/order"``: the next order sent)."""
        if fault not in FAULTS:
            raise ValueError(f"fault {fault!r}: one of {', '.join(FAULTS)}")
        self.faults.only = only
        self.faults.queue.extend([fault] * count)

    def forget_order(self, order_id: int) -> None:
        """Fault: the venue stops knowing an order (exchanges archive old orders): it is canceled if it still works,
        and every lookup of it answers "Order does not exist"."""
        with contextlib.suppress(_ccxt().OrderNotFound):
            self.paper.cancel_order(order_id)
        self.history.pop(order_id, None)
        self.client_ids.pop(order_id, None)
        self.forgotten.add(order_id)

    # --- market data --------------------------------------------------------------------------------------------------
    async def _replay(self) -> None:
        ticks = self.ticks
        n = len(ticks)
        if n == 0:
            return
        ts = ticks["ts_exch_ns"]
        span = int(ts[-1] - ts[0]) + 1_000_000_000
        wall0 = time.time_ns()
        data0 = int(ts[0])
        pos, lap = 0, 0
        batch = np.zeros(2048, ticks.dtype)
        while True:
            if self.silent:  # the market goes quiet (a test of staleness): the clock stops with it
                pause0 = time.time_ns()
                while self.silent:
                    await asyncio.sleep(0.01)
                wall0 += time.time_ns() - pause0
            due = data0 + int((time.time_ns() - wall0) * self.speed) - lap * span
            end = min(int(np.searchsorted(ts, due, side="right")), pos + len(batch))
            if end > pos:
                k = end - pos
                batch[:k] = ticks[pos:end]
                # stamped with the wall clock: to a client this is a live market
                batch["ts_exch_ns"][:k] = time.time_ns()
                done = 0
                while done < k:
                    done += self.paper.on_ticks(batch, done, k - done)
                    self._collect()
                await self._broadcast(batch[:k])
                self.ticks_sent += k
                pos = end
            if pos >= n:
                pos, lap = 0, lap + 1
            await asyncio.sleep(0.01)

    async def _broadcast(self, ticks: np.ndarray) -> None:
        for t in ticks:
            if int(t["kind"]) == TICK_TRADE:
                self.last_trade_px[self.symbols[int(t["symbol_id"])]] = float(t["price"])
        msgs = self.market.messages(ticks, encode=bool(self.sockets))  # the book moves on with nobody listening
        for ws, streams in list(self.sockets.items()):
            try:
                for stream in list(streams):
                    for text in msgs.get(stream, ()):
                        await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.sockets.pop(ws, None)  # the client went away; its reader ends on its own

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self.sockets[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    method, params, rid = req["method"], list(req.get("params", [])), req.get("id")
                except (ValueError, KeyError, TypeError):
                    await ws.send_str(json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": None}))
                    continue
                if method == "SUBSCRIBE":
                    self.sockets[ws].update(params)
                    await ws.send_str(json.dumps({"result": None, "id": rid}))
                elif method == "UNSUBSCRIBE":
                    self.sockets[ws].difference_update(params)
                    await ws.send_str(json.dumps({"result": None, "id": rid}))
                else:
                    await ws.send_str(json.dumps({"error": {"code": 1, "msg": f"Unknown method {method}"}, "id": rid}))
        finally:
            self.sockets.pop(ws, None)
        return ws

    # --- plumbing -----------------------------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        if request.path.startswith("/api/"):
            fault = self.faults.take(f"{request.method} {request.path}")
            if fault == "timeout":
                # the request is taken in and executed, but answered late: the client has given up by then, and must
                # find out by itself whether its order exists (shielded: the client hanging up does not undo it)
                await request.read()
                late = asyncio.ensure_future(self._late(request, handler))
                return await asyncio.shield(late)
            elif fault == "429":
                return web.json_response({"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}, status=429)
            elif fault == "500":
                return web.Response(status=500, text="Internal Server Error")
            elif fault == "503":
                return web.Response(status=503, text="Service Unavailable")  # as the load balancer in front answers
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    async def _late(self, request: web.Request, handler: Any) -> web.StreamResponse:
        await asyncio.sleep(self.timeout_hang_s)
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    async def _signed(self, request: web.Request) -> dict[str, str]:
        """The request's parameters once its key, signature and timestamp pass Binance's checks."""
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise ApiError(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode() if request.body_exists else ""  # read() keeps the body: re-readable
        total = query + body
        head, sep, sig = total.rpartition("&signature=")
        if not sep or not sig:
            raise ApiError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        expected = hmac.new(self.secret.encode(), head.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig.lower(), expected):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        params = dict(request.query)
        if body:
            from urllib.parse import parse_qsl

            params.update(parse_qsl(body, keep_blank_values=True))
        params.pop("signature", None)
        try:
            ts = int(params["timestamp"])
            window = int(params.get("recvWindow", 5000))
        except (KeyError, ValueError):
            raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") from None
        now = int(time.time() * 1000)
        if ts > now + 1000 or now - ts > window:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _symbol(self, params: dict[str, str]) -> str:
        mid = params.get("symbol", "")
        if mid not in self.ids:
            raise ApiError(400, -1121, "Invalid symbol.")
        return self.ids[mid]

    def _collect(self) -> None:
        """Move the paper exchange's fills into the trade list (myTrades)."""
        ring = self.paper.reports
        while ring.ctrl[RING_HEAD] != ring.ctrl[RING_TAIL]:
            m = ring.pop_many(self._reports)
            now_ms = int(time.time() * 1000)
            for r in self._reports[:m]:
                oid = int(r["client_order_id"])
                try:  # the paper table reuses slots: keep each order's last state, as an exchange's history does
                    self.history[oid] = self.paper.fetch_order(oid)
                except _ccxt().OrderNotFound:
                    pass
                if int(r["kind"]) != EXEC_FILL:
                    continue
                self.trades.append(
                    Trade(
                        id=len(self.trades) + 1,
                        order_id=int(r["client_order_id"]),
                        symbol=self.symbols[int(r["symbol_id"])],
                        side=int(r["side"]),
                        price=float(r["price"]),
                        qty=float(r["size"]),
                        fee=float(r["fee"]),
                        maker=int(r["liquidity"]) == LIQUIDITY_MAKER,
                        time_ms=now_ms,
                    )
                )

    def _order_json(self, o: dict[str, Any], full: bool = False) -> dict[str, Any]:
        oid = int(o["id"])
        status = CCXT_STATUS.get(str(o["status"]), "PARTIALLY_FILLED" if float(o["filled"]) > 0 else "NEW")  # type: ignore[arg-type]
        filled = float(o["filled"])  # type: ignore[arg-type]
        avg = o["average"] or 0.0
        otype = {v: k for k, v in ORDER_TYPES.items()}[str(o["type"])]
        out: dict[str, Any] = {
            "symbol": market_id(str(o["symbol"])),
            "orderId": oid,
            "orderListId": -1,
            "clientOrderId": self.client_ids.get(oid, str(oid)),
            "price": fmt_num(float(o["price"] or 0.0)),  # type: ignore[arg-type]
            "origQty": fmt_num(float(o["amount"])),  # type: ignore[arg-type]
            "executedQty": fmt_num(filled),
            "cummulativeQuoteQty": fmt_num(filled * float(avg)),  # type: ignore[arg-type]
            "status": status,
            "timeInForce": str(o["timeInForce"]),
            "type": otype,
            "side": str(o["side"]).upper(),
            "stopPrice": fmt_num(float(o["stopPrice"] or 0.0)),  # type: ignore[arg-type]
            "time": self.order_times.get(oid, 0),
            "updateTime": int(time.time() * 1000),
            "isWorking": status in ("NEW", "PARTIALLY_FILLED"),
            "workingTime": self.order_times.get(oid, 0),
            "origQuoteOrderQty": "0",
            "selfTradePreventionMode": "NONE",
        }
        if full:
            out["transactTime"] = int(time.time() * 1000)
            out["fills"] = [
                {"price": fmt_num(t.price), "qty": fmt_num(t.qty), "commission": fmt_num(t.fee),
                 "commissionAsset": t.symbol.split("/")[1], "tradeId": t.id}
                for t in self.trades if t.order_id == oid
            ]
        return out

    def _find(self, params: dict[str, str]) -> int:
        if params.get("orderId"):
            try:
                return int(params["orderId"])
            except ValueError:
                raise ApiError(400, -1100, "Illegal characters found in parameter 'orderId'.") from None
        coid = params.get("origClientOrderId", "")
        for oid, c in self.client_ids.items():
            if c == coid:
                return oid
        raise ApiError(400, -2013, "Order does not exist.")

    # --- endpoints ----------------------------------------------------------------------------------------------------
    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = []
        for ins in self.core_config.instruments:
            base, quote = ins.symbol.split("/")
            symbols.append(
                {
                    "symbol": market_id(ins.symbol),
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": list(ORDER_TYPES),
                    "icebergAllowed": False,
                    "ocoAllowed": False,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": fmt_num(ins.price_tick), "maxPrice": "1000000", "tickSize": fmt_num(ins.price_tick)},
                        {"filterType": "LOT_SIZE", "minQty": fmt_num(ins.min_size), "maxQty": "9000", "stepSize": fmt_num(ins.size_step)},
                        {"filterType": "NOTIONAL", "minNotional": "1", "applyMinToMarket": True, "maxNotional": "9000000", "applyMaxToMarket": False},
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE",
                    "allowedSelfTradePreventionModes": ["NONE"],
                }
            )
        return web.json_response(
            {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [], "exchangeFilters": [], "symbols": symbols}
        )

    async def _account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        bal = self.paper.fetch_balance()
        quote = self.symbols[0].split("/")[1]
        balances = [{"asset": quote, "free": fmt_num(bal[quote]["free"]), "locked": fmt_num(bal[quote]["used"])}]  # type: ignore[index]
        for sym in self.symbols:
            qty, _avg = self.paper.position(sym)
            balances.append({"asset": sym.split("/")[0], "free": fmt_num(qty), "locked": "0"})
        maker = int(round(self.paper.config.maker_fee * 10_000))
        taker = int(round(self.paper.config.taker_fee * 10_000))
        return web.json_response(
            {
                "makerCommission": maker, "takerCommission": taker, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
                "updateTime": int(time.time() * 1000), "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
            }
        )

    async def _create_order(self, request: web.Request) -> web.Response:
        p = await self._signed(request)
        symbol = self._symbol(p)
        side = p.get("side", "").lower()
        if side not in ("buy", "sell"):
            raise ApiError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        btype = p.get("type", "")
        if btype not in ORDER_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        try:
            qty = float(p["quantity"])
            price = float(p["price"]) if "price" in p else None
            stop = float(p["stopPrice"]) if "stopPrice" in p else None
        except (KeyError, ValueError):
            raise ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.") from None
        if not math.isfinite(qty) or qty <= 0:
            raise ApiError(400, -1013, "Invalid quantity.")
        if btype in ("LIMIT", "STOP_LOSS_LIMIT") and price is None:
            raise ApiError(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
        if btype.startswith("STOP_LOSS") and stop is None:
            raise ApiError(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        coid = p.get("newClientOrderId", "")
        if coid and coid in self.client_ids.values():
            raise ApiError(400, -2010, "Duplicate order sent.")
        params: dict[str, object] = {"timeInForce": p.get("timeInForce", "GTC" if btype in ("LIMIT", "STOP_LOSS_LIMIT") else "IOC")}
        if coid.isdigit():
            params["clientOrderId"] = coid
        if stop is not None:
            params["stopPrice"] = stop
        ccxt = _ccxt()
        try:
            o = self.paper.create_order(symbol, ORDER_TYPES[btype], side, qty, price, params)
        except ccxt.InsufficientFunds:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.") from None
        except ccxt.InvalidOrder as exc:
            text = str(exc)
            if "size_step" in text or "min_size" in text:
                raise ApiError(400, -1013, "Filter failure: LOT_SIZE") from None
            if "price_step" in text:
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER") from None
            raise ApiError(400, -2010, f"Order rejected: {text}") from None
        except ccxt.RateLimitExceeded:
            raise ApiError(400, -1015, "Too many new orders; current limit is 200 orders per 10 SECOND.") from None
        oid = int(o["id"])  # type: ignore[arg-type]
        self.client_ids[oid] = coid or str(oid)
        self.order_times[oid] = int(time.time() * 1000)
        self.history[oid] = o
        self._collect()
        return web.json_response(self._order_json(self.paper.fetch_order(oid), full=True))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        p = await self._signed(request)
        self._symbol(p)
        oid = self._find(p)
        try:
            o = self.paper.cancel_order(oid)
        except _ccxt().OrderNotFound:
            raise ApiError(400, -2011, "Unknown order sent.") from None
        self._collect()
        return web.json_response(self._order_json(o))

    async def _query_order(self, request: web.Request) -> web.Response:
        p = await self._signed(request)
        self._symbol(p)
        oid = self._find(p)
        if oid in self.forgotten:
            raise ApiError(400, -2013, "Order does not exist.")
        try:
            o = self.paper.fetch_order(oid)
        except _ccxt().OrderNotFound:
            if oid not in self.history:
                raise ApiError(400, -2013, "Order does not exist.") from None
            o = self.history[oid]
        return web.json_response(self._order_json(o))

    async def _open_orders(self, request: web.Request) -> web.Response:
        p = await self._signed(request)
        symbol = self._symbol(p) if "symbol" in p else None
        return web.json_response([self._order_json(o) for o in self.paper.fetch_open_orders(symbol)])

    async def _my_trades(self, request: web.Request) -> web.Response:
        p = await self._signed(request)
        symbol = self._symbol(p)
        from_id = int(p.get("fromId", 0) or 0)
        order_id = int(p["orderId"]) if p.get("orderId") else None
        limit = min(int(p.get("limit", 500) or 500), 1000)
        out = []
        for t in self.trades[max(0, from_id - 1):] if from_id else self.trades:
            if t.symbol != symbol or (order_id is not None and t.order_id != order_id):
                continue
            out.append(
                {
                    "symbol": market_id(t.symbol), "id": t.id, "orderId": t.order_id, "orderListId": -1,
                    "price": fmt_num(t.price), "qty": fmt_num(t.qty), "quoteQty": fmt_num(t.price * t.qty),
                    "commission": fmt_num(t.fee), "commissionAsset": t.symbol.split("/")[1], "time": t.time_ms,
                    "isBuyer": t.side == SIDE_BUY, "isMaker": t.maker, "isBestMatch": True,
                }
            )
            if len(out) >= limit:
                break
        return web.json_response(out)
