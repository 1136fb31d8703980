"""The ccxt adapter with the real ccxt client against the local Binance-style exchange on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import ccxt
import numpy as np
import pytest

from bot4.core import records
from bot4.core.config import BreakerConfig, CoreConfig
from bot4.core.ring import Ring
from bot4.core.runner import Core
from bot4.localexchange.server import LocalExchange
from bot4.venues.ccxt_client import build_client
from bot4.venues.live import CcxtVenue
from bot4.venues.live_config import LiveConfig, VenueError

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ENV = {"BOT4_BINANCE_API_KEY": KEY, "BOT4_BINANCE_SECRET": SECRET}


def live_core_config() -> CoreConfig:
    base = CoreConfig()
    return replace(
        base,
        instruments=tuple(replace(i, venue="binance") for i in base.instruments),
        venue_breaker=BreakerConfig(consecutive_failures=3, open_timeout_s=0.3, probes=2, slow_call_s=5.0, stale_after_s=0.0),
    )


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    ex = LocalExchange(live_core_config(), api_key=KEY, secret=SECRET, speed=20.0, timeout_hang_s=1.5)
    await ex.start()
    yield ex
    await ex.stop()


FAST = dict(  # short waits for tests: every timeout and interval well under a second
    timeout_s=1.0,
    recv_window_s=2.0,
    poll_interval_s=0.05,
    heartbeat_s=0.1,
    reconnect_min_s=0.05,
    reconnect_max_s=0.5,
    connect_attempts=2,
)


def live_config(ex: LocalExchange, **kw: Any) -> LiveConfig:
    return ex.live_config(**{**FAST, **kw})


@pytest.fixture
def core() -> Core:
    return Core(live_core_config())


@pytest.fixture
async def venue(exchange: LocalExchange, core: Core) -> AsyncIterator[CcxtVenue]:
    cfg = live_config(exchange)
    v = CcxtVenue(cfg, core.instruments(), core.breakers(), client=build_client(cfg, ENV))
    yield v
    await v.close()


def order(coid: int, side: int, size: float, otype: int = records.ORDER_MARKET, price: float = float("nan"), symbol_id: int = 0) -> np.ndarray:
    o = np.zeros(1, records.ORDER_DTYPE)
    o["client_order_id"] = coid
    o["symbol_id"] = symbol_id
    o["side"] = side
    o["order_type"] = otype
    o["tif"] = records.TIF_GTC if otype == records.ORDER_LIMIT else records.TIF_IOC
    o["action"] = records.ACTION_SUBMIT
    o["size"] = size
    o["price"] = price
    o["stop_px"] = float("nan")
    return o


class Running:
    """The venue's order and poll loops running, with its reports collected."""

    def __init__(self, venue: CcxtVenue) -> None:
        self.venue = venue
        self.stopping = asyncio.Event()
        self.reports: list[np.void] = []
        self.ring = Ring(records.ORDER_DTYPE, 64, "test_orders")
        self.tasks: list[asyncio.Task[None]] = []
        self._buf = np.zeros(256, records.FILL_DTYPE)

    async def __aenter__(self) -> Running:
        self.tasks = [
            asyncio.create_task(self.venue.run_orders(self.stopping)),
            asyncio.create_task(self.venue.run_poll(self.stopping)),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        self.venue._wake.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def send(self, o: np.ndarray) -> None:
        assert self.ring.push_many(o) == 1
        self.venue.pump(self.ring)

    async def until(self, pred: Callable[[], bool], timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            n = self.venue.reports.pop_many(self._buf)
            self.reports.extend(r.copy() for r in self._buf[:n])
            if pred():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; reports so far: {[(int(r['client_order_id']), int(r['kind'])) for r in self.reports]}")

    def kinds(self, coid: int) -> list[int]:
        return [int(r["kind"]) for r in self.reports if int(r["client_order_id"]) == coid]


async def wait_price(ex: LocalExchange, symbol: str = "BTC/USDT") -> float:
    for _ in range(500):
        px = ex.paper.last_price(symbol)
        if px == px and px > 0:
            return px
        await asyncio.sleep(0.01)
    raise AssertionError("the local exchange replays no market data")


async def test_connect_loads_markets_into_the_instrument_table_and_reads_the_balance(
    exchange: LocalExchange, venue: CcxtVenue, core: Core
) -> None:
    st = core.state
    st.sym["size_step"][0] = 0.5  # a wrong configured step: the venue's own replaces it
    await venue.connect([])
    for s, ins in enumerate(core.config.instruments):
        assert st.sym["size_step"][s] == pytest.approx(ins.size_step)
        assert st.sym["price_tick"][s] == pytest.approx(ins.price_tick)
        assert st.sym["min_size"][s] == pytest.approx(ins.min_size)
    assert venue.markets["BTC/USDT"]["id"] == "BTCUSDT"
    assert venue.balance["total"]["USDT"] == pytest.approx(100_000.0)
    assert exchange.requests["/api/v3/exchangeInfo"] == 1


async def test_market_order_round_trip_fills_with_fee(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    await wait_price(exchange)
    async with Running(venue) as run:
        run.send(order(1001, records.SIDE_BUY, 0.01))

        def done() -> bool:  # filled in full, or the rest expired (the book's best ask was smaller than the order)
            last = run.reports[-1] if run.reports else None
            return last is not None and (
                int(last["kind"]) == records.EXEC_EXPIRED or (int(last["kind"]) == records.EXEC_FILL and float(last["leaves"]) < 1e-9)
            )

        await run.until(done)
    assert run.kinds(1001)[0] == records.EXEC_ACK
    fills = [r for r in run.reports if int(r["kind"]) == records.EXEC_FILL]
    venue_trades = [t for t in exchange.trades if t.order_id == 1001]
    assert len(fills) == len(venue_trades) >= 1
    filled = sum(float(f["size"]) for f in fills)
    assert filled == pytest.approx(sum(t.qty for t in venue_trades))
    assert sum(float(f["fee"]) for f in fills) == pytest.approx(sum(t.fee for t in venue_trades))
    assert float(fills[0]["price"]) == pytest.approx(venue_trades[0].price)
    if run.kinds(1001)[-1] == records.EXEC_EXPIRED:  # the venue's answer, not a loss: the rest is reported as expired
        assert float(run.reports[-1]["leaves"]) == pytest.approx(0.01 - filled)
    else:
        assert filled == pytest.approx(0.01) and float(fills[-1]["leaves"]) == pytest.approx(0.0)
    assert exchange.paper.position("BTC/USDT")[0] == pytest.approx(filled)
    assert venue.tracked == {}


async def test_resting_limit_is_canceled_and_reported(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    px = await wait_price(exchange)
    async with Running(venue) as run:
        run.send(order(2002, records.SIDE_BUY, 0.02, records.ORDER_LIMIT, round(px * 0.8, 2)))
        await run.until(lambda: records.EXEC_ACK in run.kinds(2002))
        assert [o["clientOrderId"] for o in exchange.paper.fetch_open_orders()] == ["2002"]
        cancel = order(2002, records.SIDE_BUY, 0.02, records.ORDER_LIMIT, round(px * 0.8, 2))
        cancel["action"] = records.ACTION_CANCEL
        run.send(cancel)
        await run.until(lambda: records.EXEC_CANCELED in run.kinds(2002))
    done = [r for r in run.reports if int(r["kind"]) == records.EXEC_CANCELED][0]
    assert float(done["leaves"]) == pytest.approx(0.02)
    assert exchange.paper.fetch_open_orders() == []


async def test_venue_refusal_becomes_a_reject_with_its_reason(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    await wait_price(exchange)
    async with Running(venue) as run:
        run.send(order(3003, records.SIDE_BUY, 50.0))  # ~3 M USDT of BTC on a 100 k account
        await run.until(lambda: records.EXEC_REJECTED in run.kinds(3003))
    rej = [r for r in run.reports if int(r["kind"]) == records.EXEC_REJECTED][0]
    assert int(rej["reason"]) == records.VENUE_INSUFFICIENT_FUNDS
    # a refused order is a healthy answer: the venue breaker stays closed
    assert venue.breaker_state() == records.BREAKER_CLOSED


async def test_recovery_looks_up_every_order_by_client_id_and_touches_only_its_own(exchange: LocalExchange) -> None:
    """At start: a journaled order still working is canceled, one that filled while no engine watched has its fills
    reported (F1), one that never arrived is closed; this engine's stray order is canceled; another engine's order and
    a hand-placed one are left alone (F8)."""
    px = await wait_price(exchange)
    me, other = "b4aaaa0001-", "b4bbbb0002-"
    outsider = build_client(live_config(exchange), ENV)
    try:
        await outsider.create_order("BTC/USDT", "limit", "buy", 0.01, round(px * 0.7, 2), {"clientOrderId": me + "4004"})
        await outsider.create_order("BTC/USDT", "limit", "buy", 0.01, round(px * 0.7, 2), {"clientOrderId": me + "4005"})
        await outsider.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": me + "4007"})
        await outsider.create_order("BTC/USDT", "limit", "buy", 0.01, round(px * 0.7, 2), {"clientOrderId": other + "77"})
        await outsider.create_order("ETH/USDT", "limit", "buy", 0.1, 100.0, {"clientOrderId": "manual-by-hand"})
    finally:
        await outsider.close()
    core = Core(live_core_config())
    cfg = live_config(exchange)
    venue = CcxtVenue(cfg, core.instruments(), core.breakers(), client=build_client(cfg, ENV))
    journal_open = [
        {"coid": 4004, "symbol": "BTC/USDT", "side": 1, "size": 0.01, "filled": 0.0, "acked": True},
        {"coid": 4006, "symbol": "BTC/USDT", "side": 1, "size": 0.01, "filled": 0.0, "ts_ns": time.time_ns() - 10**11},
        {"coid": 4007, "symbol": "BTC/USDT", "side": 1, "size": 0.01, "filled": 0.0, "ts_ns": time.time_ns()},
    ]
    try:
        await venue.start(journal_open, "aaaa0001")
    finally:
        await venue.close()
    buf = np.zeros(64, records.FILL_DTYPE)
    reports = buf[: venue.reports.pop_many(buf)]
    kinds = {c: [int(r["kind"]) for r in reports if int(r["client_order_id"]) == c] for c in (4004, 4006, 4007)}
    assert kinds[4004] == [records.EXEC_CANCELED]
    assert kinds[4006] == [records.EXEC_CANCELED]  # never reached the venue, and the receive window has passed
    assert kinds[4007][0] == records.EXEC_ACK and records.EXEC_FILL in kinds[4007]  # the fill made while we were down
    found = sum(float(r["size"]) for r in reports if int(r["client_order_id"]) == 4007 and int(r["kind"]) == records.EXEC_FILL)
    venue_filled = sum(t.qty for t in exchange.trades if exchange.client_ids.get(t.order_id) == me + "4007")
    assert found == pytest.approx(venue_filled) and found > 0
    left = sorted(exchange.client_ids[int(o["id"])] for o in exchange.paper.fetch_open_orders())
    assert left == sorted([other + "77", "manual-by-hand"])
    assert venue.stats_.reconciled_canceled == 2 and venue.stats_.foreign_orders == 2


async def test_one_order_the_venue_forgot_does_not_stop_the_polling_of_the_others(exchange: LocalExchange) -> None:
    """F2: the venue answers "Order does not exist" for one order; every other order is still polled, and the lost
    one is closed (with what it filled) after a few polls, said loudly."""
    px = await wait_price(exchange)
    cfg = live_config(exchange)
    core = Core(live_core_config())
    venue = CcxtVenue(cfg, core.instruments(), core.breakers(), client=build_client(cfg, ENV))
    try:
        await venue.start([], "cccc0003")
        async with Running(venue) as run:
            for coid in (8001, 8002, 8003):
                run.send(order(coid, records.SIDE_BUY, 0.01, records.ORDER_LIMIT, round(px * 0.8, 2)))
            await run.until(lambda: all(records.EXEC_ACK in run.kinds(c) for c in (8001, 8002, 8003)))
            ids = {c: int(venue.tracked[c].venue_id) for c in (8001, 8002, 8003)}
            exchange.forget_order(ids[8001])  # polled first
            for c in (8002, 8003):  # canceled at the venue by someone else: only polling can tell
                exchange.paper.cancel_order(ids[c])
            await run.until(lambda: all(records.EXEC_CANCELED in run.kinds(c) for c in (8001, 8002, 8003)))
        assert venue.stats_.lost_orders == 1 and venue.tracked == {}
    finally:
        await venue.close()


async def test_bad_signature_and_bad_key_are_refused_as_binance_does(exchange: LocalExchange) -> None:
    wrong_secret = build_client(live_config(exchange), {**ENV, "BOT4_BINANCE_SECRET": SECRET[::-1]})
    wrong_key = build_client(live_config(exchange), {**ENV, "BOT4_BINANCE_API_KEY": KEY[::-1]})
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await wrong_secret.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await wrong_key.fetch_balance()
    finally:
        await wrong_secret.close()
        await wrong_key.close()
    # the adapter says so at start, naming the cause, never the key
    core = Core(live_core_config())
    bad_secret = build_client(live_config(exchange), {**ENV, "BOT4_BINANCE_SECRET": "x" * 64})
    venue = CcxtVenue(live_config(exchange), core.instruments(), core.breakers(), client=bad_secret)
    try:
        with pytest.raises(VenueError, match="refused the API key") as info:
            await venue.connect([])
        assert SECRET not in str(info.value) and KEY not in str(info.value)
    finally:
        await venue.close()


def test_keys_come_from_the_environment_only() -> None:
    with pytest.raises(VenueError, match="BOT4_BINANCE_API_KEY and BOT4_BINANCE_SECRET"):
        build_client(LiveConfig(), {})


def transitions(core: Core, breaker_id: int = 0) -> list[tuple[str, str, str]]:
    """(from, to, cause) of the transitions logged since the last call, for one breaker (0 = the venue's)."""
    buf = np.zeros(64, records.TRANSITION_DTYPE)
    n = core.parts.transitions.pop_many(buf)
    return [
        (records.BREAKER_STATE_NAMES[int(t["from_state"])], records.BREAKER_STATE_NAMES[int(t["to_state"])], records.CAUSE_NAMES[int(t["cause"])])
        for t in buf[:n]
        if int(t["breaker_id"]) == breaker_id
    ]


@pytest.mark.parametrize("fault", ["429", "500", "503", "timeout"])
async def test_server_faults_open_the_venue_breaker_and_it_recovers(
    exchange: LocalExchange, venue: CcxtVenue, core: Core, fault: str
) -> None:
    await venue.connect([])
    transitions(core)
    exchange.inject(fault, 3)  # consecutive_failures = 3
    stopping = asyncio.Event()
    poll = asyncio.create_task(venue.run_poll(stopping))
    seen: list[tuple[str, str, str]] = []
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            seen += transitions(core)
            if seen and seen[-1][1] == "CLOSED":
                break
            await asyncio.sleep(0.05)
    finally:
        stopping.set()
        await asyncio.gather(poll, return_exceptions=True)
    assert [(a, b) for a, b, _ in seen] == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")], seen
    assert seen[0][2] == "consecutive_failures"
    assert exchange.faults.served == 3
    expected = {"429": "DDoSProtection", "500": "ExchangeNotAvailable", "503": "ExchangeNotAvailable", "timeout": "RequestTimeout"}[fault]
    assert venue.stats_.errors.get(expected) == 3


async def test_an_open_breaker_refuses_orders_without_sending_them(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    exchange.inject("503", 3)
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await venue.call("fetch_balance", venue.client.fetch_balance)
    assert venue.breaker_state() == records.BREAKER_OPEN
    before = exchange.requests.get("/api/v3/order", 0)
    async with Running(venue) as run:
        run.send(order(5005, records.SIDE_SELL, 0.01))
        await run.until(lambda: records.EXEC_REJECTED in run.kinds(5005))
    assert int(run.reports[0]["reason"]) == records.VENUE_UNAVAILABLE
    assert exchange.requests.get("/api/v3/order", 0) == before


async def test_a_timed_out_order_is_looked_up_not_guessed(exchange: LocalExchange) -> None:
    """The send times out but the venue executes it (it answers after 1.5 s, the client gives up at 1 s)."""
    cfg = live_config(exchange, heartbeat_s=600.0)  # no heartbeat to take the injected faults
    core = Core(live_core_config())
    venue = CcxtVenue(cfg, core.instruments(), core.breakers(), client=build_client(cfg, ENV))
    try:
        await _timed_out_orders(exchange, venue)
    finally:
        await venue.close()


async def _timed_out_orders(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    await wait_price(exchange)
    async with Running(venue) as run:
        exchange.inject("timeout", 1)
        run.send(order(6006, records.SIDE_BUY, 0.01))
        await run.until(lambda: records.EXEC_FILL in run.kinds(6006), timeout=15)
        assert run.kinds(6006)[0] == records.EXEC_ACK
        assert venue.stats_.unknown == 1
        # and one that never reached the matching engine: a 500 before it is read (once the poll has gone quiet)
        await run.until(lambda: not venue.tracked and not venue.unknown)
        await asyncio.sleep(0.3)
        exchange.inject("500", 1)
        run.send(order(6007, records.SIDE_BUY, 0.01))
        await run.until(lambda: records.EXEC_REJECTED in run.kinds(6007))
    assert int([r for r in run.reports if int(r["client_order_id"]) == 6007][0]["reason"]) == records.VENUE_UNAVAILABLE
    # the timed-out order executed once (all of it, or what the touch held: a market order takes no more), the other
    # never: the venue's position is exactly what 6006's fills say
    fills = [r for r in run.reports if int(r["client_order_id"]) == 6006 and int(r["kind"]) == records.EXEC_FILL]
    filled = sum(float(r["size"]) for r in fills)
    assert 0.0 < filled <= 0.01 and exchange.paper.position("BTC/USDT")[0] == pytest.approx(filled)


async def test_streams_feed_ticks_and_reconnect_after_a_drop(exchange: LocalExchange, venue: CcxtVenue) -> None:
    await venue.connect([])
    stopping = asyncio.Event()
    got: list[np.ndarray] = []

    def push(ticks: np.ndarray, n: int) -> int:
        got.append(ticks[:n].copy())
        return n

    feed = asyncio.create_task(venue.run_feed(stopping, push))
    try:
        for _ in range(500):
            if sum(len(g) for g in got) >= 20:
                break
            await asyncio.sleep(0.01)
        first = sum(len(g) for g in got)
        assert first >= 20
        assert await exchange.drop_streams() >= 1
        for _ in range(1000):
            if venue.stats_.reconnects >= 1 and sum(len(g) for g in got) >= first + 20:
                break
            await asyncio.sleep(0.01)
    finally:
        stopping.set()
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
    assert venue.stats_.reconnects >= 1
    ticks = np.concatenate(got)
    assert len(ticks) >= first + 20
    assert np.all(np.diff(ticks["seq"]) > 0)
    assert set(np.unique(ticks["kind"])) == {1, 2}  # trades and best bid/ask
    assert np.all(ticks["price"] > 0)


async def test_a_silent_feed_opens_its_breaker_and_live_data_closes_it_again(exchange: LocalExchange) -> None:
    cfg = live_core_config()
    cfg = replace(cfg, feed_breaker=BreakerConfig(stale_after_s=0.4, open_timeout_s=0.3, probes=2, consecutive_failures=3))
    core = Core(cfg)
    live = live_config(exchange, heartbeat_s=0.1)
    venue = CcxtVenue(live, core.instruments(), core.breakers(), client=build_client(live, ENV))
    stopping = asyncio.Event()
    seen: list[tuple[str, str, str]] = []
    tasks: list[asyncio.Task[None]] = []

    def feed_transitions() -> None:
        seen.extend(transitions(core, venue.feed_breaker))

    try:
        await venue.connect([])
        tasks = [
            asyncio.create_task(venue.run_feed(stopping, lambda ticks, n: n)),
            asyncio.create_task(venue.run_poll(stopping)),
        ]
        await asyncio.sleep(1.0)  # data flowing: CLOSED
        feed_transitions()
        assert seen == []
        exchange.silent = True
        for _ in range(300):
            feed_transitions()
            if seen:
                break
            await asyncio.sleep(0.02)
        assert seen[0] == ("CLOSED", "OPEN", "stale")
        exchange.silent = False
        for _ in range(500):
            feed_transitions()
            if seen[-1][1] == "CLOSED":
                break
            await asyncio.sleep(0.02)
        assert [(a, b) for a, b, _ in seen] == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
    finally:
        stopping.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await venue.close()
