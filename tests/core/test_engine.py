"""The engine end to end: ticks -> strategy -> risk -> orders -> fills -> positions, stops, drawdown, kill, re-arm."""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest

from bot4.core.config import StrategyConfig
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    BREAKER_OPEN,
    EXEC_EXPIRED,
    EXEC_FILL,
    FILL_DTYPE,
    FLAG_MANUAL,
    FLAG_REDUCE_ONLY,
    FLAG_STOP_EXIT,
    ORDER_DTYPE,
    SIDE_BUY,
    SIDE_SELL,
    TICK_DTYPE,
    TICK_TRADE,
)
from bot4.core.ring import RING_HEAD
from bot4.core.riskviews import correlation_extremes_nb, envelope_min_nb, rebuild_var_base_nb, var_with_nb
from bot4.core.runner import Core
from bot4.core.state import W_NOTIFY_FD, W_SLEEPING
from tests.harness import Harness, make_core

BIG = dict(max_order_notional_usd=1e9, max_symbol_exposure_usd=1e9, max_gross_exposure_usd=1e9, max_var_frac=1.0)


def test_strategy_signal_becomes_a_sized_order_with_a_stop_and_fills_into_a_position() -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01), **BIG)
    h = Harness(core)
    for p in [103, 102, 101]:
        h.tick(0, p)
    assert len(h.take_orders()) == 0  # still warming up (slow period 4)
    h.tick(0, 100.0)  # warm: fast EMA under slow -> the first view is "sell"
    orders = h.take_orders()
    assert len(orders) == 1
    o = orders[0]
    assert o["side"] == SIDE_SELL and o["action"] == ACTION_SUBMIT
    assert o["stop_px"] == pytest.approx(101.0)
    # 1 % of 100,000 at risk over a 1.0 stop distance, floored to the 1e-5 step
    assert o["size"] == pytest.approx(math.floor(1000 / (101.0 - 100.0) / 1e-5 + 1e-9) * 1e-5)
    h.respond(orders, price=100.0, fee_rate=0.001)
    h.tick(0, 100.5)  # still "sell": no new signal
    assert len(h.take_orders()) == 0
    snap = core.snapshot()
    pos = snap.positions()[0]
    assert pos.qty == pytest.approx(-o["size"]) and pos.avg_px == 100.0 and pos.stop_px == pytest.approx(101.0)
    assert snap.fees == pytest.approx(100.0 * o["size"] * 0.001)
    assert snap.open_orders == 0
    counters = snap.stats.counters()
    assert counters["signals"] == 1 and counters["orders_out"] == 1 and counters["fills"] == 1
    assert snap.stats.histogram("decision").count == 5
    assert snap.stats.histogram("risk_check").count == 1
    assert snap.stats.histogram("tick_to_order").count == 1


def test_a_crossed_stop_exits_at_once_and_only_once() -> None:
    core = make_core(no_strategy=True, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    assert core.manual_order("BTC/USDT", SIDE_BUY, 10.0, stop_px=98.0) > 0
    core.drain()
    h.fill_all(price=100.0)
    h.tick(0, 98.5)
    assert len(h.take_orders()) == 0
    h.tick(0, 97.9)
    exits = h.take_orders()
    assert len(exits) == 1
    assert exits[0]["side"] == SIDE_SELL and exits[0]["size"] == 10.0
    assert exits[0]["flags"] & FLAG_STOP_EXIT and exits[0]["flags"] & FLAG_REDUCE_ONLY
    h.tick(0, 97.0)
    assert len(h.take_orders()) == 0  # the exit is working: no duplicate
    h.respond(exits, price=97.0)
    snap = core.snapshot()
    assert snap.positions()[0].qty == 0.0 and math.isnan(snap.positions()[0].stop_px)
    assert snap.trades == (1, 0, 1)
    assert snap.stats.counter("stop_exits") == 1


def expire(h: Harness, orders: np.ndarray, filled: float = 0.0, price: float = 100.0) -> None:
    """Answer IOC orders as a thin book does: ``filled`` of each at ``price``, the rest expired."""
    reports = np.zeros(2 * len(orders), FILL_DTYPE)
    k = 0
    for o in orders:
        if filled > 0.0:
            r = reports[k]
            r["client_order_id"], r["symbol_id"], r["side"] = o["client_order_id"], o["symbol_id"], o["side"]
            r["kind"], r["price"], r["size"], r["leaves"] = EXEC_FILL, price, filled, o["size"] - filled
            k += 1
        r = reports[k]
        r["client_order_id"], r["symbol_id"], r["side"] = o["client_order_id"], o["symbol_id"], o["side"]
        r["kind"], r["leaves"] = EXEC_EXPIRED, o["size"] - filled
        k += 1
    assert h.core.parts.fills.push_many(reports[:k]) == k
    h.core.drain()


def test_a_signal_against_a_working_entry_waits_for_its_outcome() -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4, stop_frac=0.01), **BIG)
    h = Harness(core)
    for p in [103, 102, 101, 100.0]:
        h.tick(0, p)
    sell = h.take_orders()
    assert [int(o["side"]) for o in sell] == [SIDE_SELL]  # the entry is working: the venue has not answered
    for p in [104.0, 108.0]:
        h.tick(0, p)  # the EMAs cross up: a buy signal while the sell entry works
    assert len(h.take_orders()) == 0, "a buy entry beside a working sell entry: both could fill"
    assert core.snapshot().stats.counter("signals_deferred") == 1
    expire(h, sell, filled=0.3 * sell[0]["size"], price=100.0)  # a thin book: part filled, the rest expired
    pos = core.snapshot().positions()[0]
    assert pos.qty == pytest.approx(-0.3 * sell[0]["size"])
    h.tick(0, 108.5)  # the held signal is taken on the next tick: close the short first
    orders = h.take_orders()
    assert [(int(o["side"]), bool(o["flags"] & FLAG_REDUCE_ONLY)) for o in orders] == [(SIDE_BUY, True)]
    assert orders[0]["size"] == pytest.approx(0.3 * sell[0]["size"])
    h.respond(orders, price=108.5)
    assert core.snapshot().positions()[0].qty == 0.0
    h.tick(0, 108.5)  # the exit has ended: the entry follows, with its own stop
    entry = h.take_orders()
    assert [(int(o["side"]), bool(o["flags"] & FLAG_REDUCE_ONLY)) for o in entry] == [(SIDE_BUY, False)]
    h.respond(entry, price=108.5)
    pos = core.snapshot().positions()[0]
    assert pos.qty == pytest.approx(entry[0]["size"]) and pos.stop_px == pytest.approx(108.5 * 0.99)
    h.tick(0, 108.6)
    assert len(h.take_orders()) == 0  # nothing held any more


def long_ten_btc(core: Core) -> Harness:
    """A harness whose core holds 10 BTC bought at 100, stop at 98."""
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 10.0, stop_px=98.0)
    core.drain()
    h.fill_all(price=100.0)
    return h


def test_a_refused_stop_exit_is_not_resent_every_tick_and_the_entry_in_its_way_is_cancelled() -> None:
    core = make_core(no_strategy=True, **BIG)
    h = long_ten_btc(core)
    # a resting sell for more than the position (a flip by hand) is working when the stop is crossed
    core.manual_order("BTC/USDT", SIDE_SELL, 15.0, stop_px=101.0, price=99.5)
    core.drain()
    resting = h.take_orders()
    assert len(resting) == 1
    h.tick(0, 97.9)
    # the exit (sell 10) beside the working sell 15 could leave a short of 15: refused, and the sell is cancelled
    cancels = h.take_orders()
    assert [(int(o["action"]), int(o["client_order_id"])) for o in cancels] == [
        (ACTION_CANCEL, int(resting[0]["client_order_id"]))
    ]
    for _ in range(20):
        h.tick(0, 97.8)  # 20 ms of market time: the refused exit is not sent again on every tick
    assert len(h.take_orders()) == 0
    assert core.snapshot().stats.counter("reject_reduce_only_would_increase") == 1
    h.respond(cancels)  # the cancel comes back: the exit goes at the next tick
    h.tick(0, 97.7)
    exits = h.take_orders()
    assert len(exits) == 1 and exits[0]["side"] == SIDE_SELL and exits[0]["size"] == 10.0
    assert exits[0]["flags"] & FLAG_STOP_EXIT
    h.respond(exits, price=97.7)
    assert core.snapshot().positions()[0].qty == 0.0


def test_a_stop_exit_refused_for_another_reason_is_retried_on_the_market_clock() -> None:
    core = make_core(no_strategy=True, price_band_frac=0.05, **BIG)
    h = long_ten_btc(core)
    core.state.brk["state"][0] = BREAKER_OPEN  # the venue's breaker opens: the exit is refused
    h.tick(0, 97.0)
    assert len(h.take_orders()) == 0
    for _ in range(50):
        h.tick(0, 97.0)  # 1 ms apart
    assert core.snapshot().stats.counter("reject_venue_breaker_open") == 1
    h.tick(0, 97.0, dt_ns=100_000_000)  # 100 ms of market time later: sent again (and refused again)
    assert core.snapshot().stats.counter("reject_venue_breaker_open") == 2


def test_drawdown_reduces_then_halts_then_rearm_needs_cooldown_and_confirmation() -> None:
    core = make_core(no_strategy=True, rearm_cooldown_s=0.4, **BIG)
    h = Harness(core)
    h.tick(0, 1000.0)
    h.tick(1, 50.0)
    # 100 BTC at 1000 with a stop 20 below: 2 % of equity at risk, allowed
    core.manual_order("BTC/USDT", SIDE_BUY, 100.0, stop_px=980.0)
    core.drain()
    h.fill_all(price=1000.0)
    # a working entry order on ETH that a halt must cancel
    core.manual_order("ETH/USDT", SIDE_BUY, 1.0, stop_px=49.0, price=49.5)
    core.drain()
    working = h.take_orders()
    assert len(working) == 1 and working[0]["flags"] & FLAG_MANUAL
    # the market gaps through the stop: an exit goes out, but the loss runs on until it fills
    h.tick(0, 905.0)
    exits = h.take_orders()
    assert len(exits) == 1 and exits[0]["flags"] & FLAG_STOP_EXIT
    assert core.snapshot().trading_state == "ACTIVE"  # 9.5 %
    h.tick(0, 900.0)
    snap = core.snapshot()
    assert snap.drawdown == pytest.approx(0.10) and snap.trading_state == "REDUCING"
    # REDUCING: no new entries
    core.manual_order("ETH/USDT", SIDE_BUY, 1.0, stop_px=49.0)
    core.drain()
    assert core.snapshot().last_command[2] == "reducing_only"
    h.tick(0, 850.0)
    snap = core.snapshot()
    assert snap.drawdown == pytest.approx(0.15) and snap.trading_state == "HALTED"
    cancels = h.take_orders()
    # the ETH entry is cancelled, the protective BTC exit keeps working
    assert [(c["action"], c["client_order_id"]) for c in cancels] == [(ACTION_CANCEL, working[0]["client_order_id"])]
    h.respond(cancels)
    h.respond(exits, price=850.0)
    snap = core.snapshot()
    assert snap.positions()[0].qty == 0.0 and snap.open_orders == 0
    assert snap.equity == pytest.approx(85_000.0)
    # HALTED: nothing new, manual or not
    core.manual_order("ETH/USDT", SIDE_BUY, 1.0, stop_px=49.0)
    core.drain()
    assert core.snapshot().last_command[2] == "halted"
    assert len(h.take_orders()) == 0
    # re-arm: wrong confirmation, then cool-down, then accepted
    halt_seq = snap.halt_seq
    core.rearm(halt_seq + 1)
    core.drain()
    assert core.snapshot().last_command[2] == "rearm_bad_confirmation"
    core.rearm(halt_seq)
    core.drain()
    assert core.snapshot().last_command[2] == "rearm_cooldown"
    assert core.snapshot().trading_state == "HALTED"
    time.sleep(max(0.0, core.snapshot().rearm_wait_s) + 0.05)
    core.rearm(halt_seq)
    core.drain()
    snap = core.snapshot()
    assert snap.last_command[2] == "ok" and snap.trading_state == "ACTIVE"
    assert snap.drawdown == 0.0 and snap.peak_equity == pytest.approx(85_000.0)
    assert snap.stats.counter("rearm_refused") == 2
    changes = np.zeros(16, dtype=core.parts.state_log.dtype)
    n = core.parts.state_log.pop_many(changes)
    assert [(int(c["from_state"]), int(c["to_state"])) for c in changes[:n]] == [(0, 1), (1, 2), (2, 0)]


def test_kill_halts_cancels_everything_and_nothing_leaves_afterwards() -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4), **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=99.0, price=99.5)
    core.drain()
    working = h.take_orders()
    assert len(working) == 1
    core.kill()
    core.drain()
    snap = core.snapshot()
    assert snap.trading_state == "HALTED" and snap.kills == 1
    cancels = h.take_orders()
    assert len(cancels) == 1 and cancels[0]["action"] == ACTION_CANCEL
    h.respond(cancels)
    for p in [100, 101, 102, 103, 99, 98, 97, 104, 106]:  # the strategy keeps deciding; nothing may leave
        h.tick(0, p)
    assert len(h.take_orders()) == 0
    snap = core.snapshot()
    assert snap.stats.rejects_by_reason().get("halted", 0) >= 1
    assert snap.open_orders == 0


def test_kill_with_flatten_closes_positions() -> None:
    core = make_core(no_strategy=True, flatten_on_kill=True, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 3.0, stop_px=90.0)
    core.drain()
    h.fill_all(price=100.0)
    core.kill()
    core.drain()
    out = h.take_orders()
    assert len(out) == 1 and out[0]["side"] == SIDE_SELL and out[0]["size"] == 3.0
    h.respond(out, price=100.0)
    assert core.snapshot().positions()[0].qty == 0.0


def test_manual_order_is_refused_with_its_reason_like_any_other() -> None:
    core = make_core(no_strategy=True, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=float("nan"))
    core.drain()
    assert core.snapshot().last_command[2] == "stop_missing"
    core.manual_order("BTC/USDT", SIDE_BUY, 10_000.0, stop_px=99.0)  # 10,000 at risk: 10 %
    core.drain()
    assert core.snapshot().last_command[2] == "risk_per_trade"
    rejects = np.zeros(8, ORDER_DTYPE)
    n = core.parts.rejects.pop_many(rejects)
    assert [int(r["reject_reason"]) for r in rejects[:n]] == [8, 10]
    assert len(h.take_orders()) == 0
    with pytest.raises(KeyError, match="unknown symbol"):
        core.manual_order("DOGE/USDT", SIDE_BUY, 1.0, stop_px=0.1)


def test_losing_streak_forces_a_cooldown_on_the_market_clock() -> None:
    core = make_core(no_strategy=True, loss_streak_max=2, loss_streak_cooldown_s=60.0, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    for _ in range(2):
        core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=99.0)
        core.drain()
        h.fill_all(price=100.0)
        h.tick(0, 98.9)  # stop crossed
        h.fill_all(price=98.9)
        h.tick(0, 100.0)
    assert core.snapshot().trades == (2, 0, 2)
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=99.0)
    core.drain()
    assert core.snapshot().last_command[2] == "loss_streak_cooldown"
    h.tick(0, 100.0, dt_ns=61 * 10**9)
    core.manual_order("BTC/USDT", SIDE_BUY, 1.0, stop_px=99.0)
    core.drain()
    assert core.snapshot().last_command[2] == "ok"


def test_bad_ticks_are_counted_and_skipped() -> None:
    core = make_core(**BIG)
    ticks = np.zeros(6, TICK_DTYPE)
    ticks["kind"] = TICK_TRADE
    ticks["symbol_id"] = [0, 0, 0, 5, 0, 0]
    ticks["price"] = [100.0, np.nan, -3.0, 100.0, 100.0, 101.0]
    ticks["size"] = [1.0, 1.0, 1.0, 1.0, -1.0, 1.0]
    ticks["ts_exch_ns"] = [10, 11, 12, 13, 14, 9]  # the last is older than the first
    core.parts.md.push_many(ticks)
    core.drain()
    snap = core.snapshot()
    assert snap.stats.counter("ticks_in") == 6
    assert snap.stats.counter("bad_ticks") == 4
    assert snap.stats.counter("out_of_order_ticks") == 1
    assert snap.positions()[0].last_px == 100.0


def test_unknown_execution_reports_are_counted_not_applied() -> None:
    from bot4.core.records import EXEC_FILL, FILL_DTYPE

    core = make_core(**BIG)
    rep = np.zeros(1, FILL_DTYPE)
    rep["client_order_id"] = 12345
    rep["kind"] = EXEC_FILL
    rep["price"] = 100.0
    rep["size"] = 1.0
    core.parts.fills.push_many(rep)
    core.drain()
    snap = core.snapshot()
    assert snap.stats.counter("unknown_exec") == 1 and snap.positions()[0].qty == 0.0


def test_core_thread_picks_up_ticks_and_commands_and_stops_cleanly() -> None:
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4), **BIG)
    core.start()
    try:
        ticks = np.zeros(200, TICK_DTYPE)
        ticks["kind"] = TICK_TRADE
        ticks["symbol_id"] = 0
        ticks["price"] = 100.0 + np.sin(np.arange(200) / 5.0)
        ticks["size"] = 1.0
        ticks["ts_exch_ns"] = np.arange(200) * 1_000_000 + 1
        for chunk in np.array_split(ticks, 20):
            core.parts.md.push_many(chunk)
            core.notify()
            time.sleep(0.002)
        core.kill()
        out = np.zeros(1024, ORDER_DTYPE)
        got = 0
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            snap = core.snapshot()
            if snap.stats.counter("ticks_in") == 200 and snap.trading_state == "HALTED":
                break
            time.sleep(0.01)
        got = core.parts.orders.pop_many(out)
        assert snap.stats.counter("ticks_in") == 200
        assert snap.trading_state == "HALTED"
        assert got >= 1 and snap.stats.counter("signals") >= 2
    finally:
        core.stop()
    assert not core.running
    assert core.snapshot().stats.counter("ticks_in") == 200



def trades(n: int, start_ts: int, base: float = 100.0) -> np.ndarray:
    ticks = np.zeros(n, TICK_DTYPE)
    ticks["kind"] = TICK_TRADE
    ticks["price"] = base + np.sin(np.arange(n) / 3.0) * 3.0
    ticks["size"] = 1.0
    ticks["ts_exch_ns"] = start_ts + np.arange(n) * 1_000_000
    return ticks


def test_a_sleeping_core_has_its_step_run_by_the_producer_at_once() -> None:
    """Ticks pushed while the core thread sleeps are handled before push_ticks returns, on the pushing thread: no
    wait for the sleeping thread's CPU to wake. The thread sleeps on, then takes the step back."""
    core = make_core(StrategyConfig(kind="ema_cross", fast_period=2, slow_period=4), **BIG)
    st = core.state
    core.start()
    try:
        stolen = 0
        for attempt in range(10):
            deadline = time.monotonic() + 5.0
            while not st.sync[W_SLEEPING] and time.monotonic() < deadline:
                time.sleep(0.001)
            before = int(st.core["steals"][0])
            assert core.push_ticks(trades(40, 1 + attempt * 100_000_000)) == 40
            if int(st.core["steals"][0]) == before + 1:  # (the thread may wake on its timer in that very instant)
                assert core.parts.md.depth == 0  # every tick handled before push_ticks returned
                stolen += 1
            core.parts.orders.pop_many(np.zeros(1024, ORDER_DTYPE))
        assert stolen >= 5
        assert core.parts.orders.depth == 0
        applied = 0  # commands too: applied on this thread when the core sleeps
        for i in range(10):
            deadline = time.monotonic() + 5.0
            while not st.sync[W_SLEEPING] and time.monotonic() < deadline:
                time.sleep(0.001)
            before = int(st.core["steals"][0])
            core.pause() if i % 2 == 0 else core.resume()
            if int(st.core["steals"][0]) == before + 1:
                assert int(st.core["paused"][0]) == (1 if i % 2 == 0 else 0)  # already, before the call returned
                applied += 1
        assert applied >= 5
        core.kill()
    finally:
        core.stop()
    snap = core.snapshot()
    assert snap.stats.counter("ticks_in") == 400 and snap.trading_state == "HALTED"


def test_producers_and_a_sleeping_waking_core_never_lose_or_repeat_a_record() -> None:
    """A feed pushing ticks and another thread sending commands, at gaps around the core's sleep threshold, so the
    step changes hands between the core thread and the producers thousands of times: every record is handled once."""
    core = make_core(no_strategy=True, **BIG)
    st = core.state
    rng = np.random.default_rng(7)
    gaps_md = rng.choice([0.0, 0.00005, 0.0003, 0.002], size=1500)
    gaps_cmd = rng.choice([0.0, 0.0001, 0.001, 0.003], size=600)
    sent = [0]

    def feed() -> None:
        ts = 1
        for gap in gaps_md:
            chunk = trades(int(rng.integers(1, 40)), ts)
            ts += len(chunk) * 1_000_000
            pushed = 0
            while pushed < len(chunk):
                pushed += core.push_ticks(chunk, pushed)
            if gap:
                time.sleep(gap)

    def operator() -> None:
        for i, gap in enumerate(gaps_cmd):
            while (core.pause() if i % 2 == 0 else core.resume()) < 0:
                time.sleep(0.0001)  # the command ring is full: back-pressure, try again
            sent[0] += 1
            if gap:
                time.sleep(gap)

    core.start()
    try:
        threads = [threading.Thread(target=feed), threading.Thread(target=operator)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
            assert not t.is_alive()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and (core.parts.md.depth or core.parts.commands.depth):
            time.sleep(0.01)
    finally:
        core.stop()
    snap = core.snapshot()
    pushed_ticks = int(core.parts.md.ctrl[RING_HEAD])
    assert snap.stats.counter("ticks_in") == pushed_ticks and snap.stats.counter("commands") == sent[0] == 600
    assert snap.stats.counter("out_of_order_ticks") == 0 and snap.stats.counter("bad_ticks") == 0
    # the step changed hands (thousands of times on an idle machine; on a loaded one the core may rarely get to sleep)
    assert int(st.core["steals"][0]) + int(st.core["sleeps"][0]) > 0


def test_core_signals_its_eventfd_when_orders_wait_and_only_when_armed() -> None:
    """The execution side sleeps on output_fd(): the core writes it once per arm when orders reach the ring."""
    import select

    core = make_core(no_strategy=True, **BIG)
    fd = core.output_fd()
    core.start()
    try:
        tick = np.zeros(1, TICK_DTYPE)
        tick["kind"], tick["symbol_id"], tick["price"], tick["size"], tick["ts_exch_ns"] = TICK_TRADE, 0, 100.0, 1.0, 1
        core.push_ticks(tick)
        assert core.arm_output() == 0  # armed, nothing waiting
        assert select.select([fd], [], [], 0.05)[0] == []  # a tick with no order: no signal
        core.manual_order("BTC/USDT", SIDE_BUY, 0.01, stop_px=99.0)
        assert select.select([fd], [], [], 5.0)[0] == [fd]
        assert os.eventfd_read(fd) == 1
        assert core.arm_output() == 1  # the order is still in the ring: the caller takes it instead of sleeping
        out = np.zeros(16, ORDER_DTYPE)
        assert core.parts.orders.pop_many(out) == 1
        core.manual_order("BTC/USDT", SIDE_BUY, 0.01, stop_px=99.0)  # armed again by arm_output() above: one signal
        assert select.select([fd], [], [], 5.0)[0] == [fd]
        assert os.eventfd_read(fd) == 1
        core.manual_order("BTC/USDT", SIDE_BUY, 0.01, stop_px=99.0)  # not armed since: no signal
        assert select.select([fd], [], [], 0.1)[0] == []
        assert core.state.core["notifies"][0] == 2
    finally:
        core.stop()
        core.close_output_fd()
    assert core.state.sync[W_NOTIFY_FD] == -1

def test_risk_views_stay_current_through_samples_fills_and_warm_ups() -> None:
    """The correlation extremes and VaR envelopes the risk check reads are kept by the engine (return samples,
    fills, the periodic dry run): at every step they give what a scan of the current state gives, the envelopes
    are in use most of the time, and the dry runs leave the order-rate bucket as it was."""
    core = make_core(
        StrategyConfig(kind="ema_cross", fast_period=3, slow_period=8, stop_frac=0.01),
        return_sample_interval_s=0.005,
        correlation_min_samples=5,
        loss_streak_max=1000,  # a cool-down would stop the entries (and the fills) this test needs
        **BIG,
    )
    st = core.state
    h = Harness(core)
    rng = np.random.default_rng(7)
    px = np.array([100.0, 50.0])
    used = 0
    for step in range(1500):
        common = rng.normal(0, 0.002)
        px *= np.exp(common + rng.normal(0, 0.001, 2))
        h.tick(step % 2, float(px[step % 2]))
        if step % 3 == 0:
            h.fill_all()
        aux = np.zeros_like(st.risk.aux)
        correlation_extremes_nb(st.sym, st.risk.corr, aux)
        np.testing.assert_array_equal(st.risk.aux[["corr_hi", "corr_lo"]], aux[["corr_hi", "corr_lo"]])
        count, window = int(st.core["ret_count"][0]), int(st.params["var_window"][0])
        for s in range(2):
            lines = int(st.risk.aux["env_lines"][s])
            if lines == 0 or count < 2:
                continue
            used += 1
            for d in (-5e4, -10.0, 0.0, 10.0, 5e4):  # against a scan of the engine's own VaR base (fills included)
                scan = var_with_nb(st.risk.rets, st.risk.var_base, np.zeros(2), min(count, window), count, 1, s, d)
                env = envelope_min_nb(st.risk.var_env, s, lines, d)
                assert max(0.0, -env) == pytest.approx(scan, rel=1e-9, abs=1e-9)
    assert core.snapshot().stats.counter("fills") > 20
    assert st.core["warms"][0] > 20
    assert used > 1000
    # and that base is the positions' own: rebuilt from scratch at the last sample's prices it is the same series
    window = int(st.params["var_window"][0])
    h.tick(0, float(px[0]), dt_ns=10_000_000)  # a sample (and its rebuild) with no fill after it
    base = np.zeros(window)
    n = rebuild_var_base_nb(st.risk.rets, st.sym, int(st.core["ret_count"][0]), window, base)
    np.testing.assert_allclose(st.risk.var_base[:n], base[:n], rtol=1e-12)
    for _ in range(3):  # what is still working or held (a flip's entry waits for its exit) plays out first
        h.fill_all()
        h.tick(0, float(px[0]))
    h.fill_all()
    tokens, warms = st.risk.tokens.copy(), int(st.core["warms"][0])
    for _ in range(70):
        h.tick(0, float(px[0]))  # a flat price: no signal, no order; the dry runs (every 32 ticks) take no token
    assert st.core["warms"][0] >= warms + 2
    np.testing.assert_array_equal(st.risk.tokens, tokens)


def test_a_person_s_order_needs_a_size_the_venue_takes_and_a_take_profit_on_the_profit_side() -> None:
    """F12/F13: below the minimum, off the size step, or a take-profit on the loss side: refused with its reason."""
    core = make_core(no_strategy=True, **BIG)
    h = Harness(core)
    h.tick(0, 100.0)
    min_size = float(core.state.sym["min_size"][0])
    step = float(core.state.sym["size_step"][0])
    cases = [
        (dict(side=SIDE_BUY, size=min_size / 2, stop_px=98.0), "size_off_step"),
        (dict(side=SIDE_BUY, size=1.0 + step / 3, stop_px=98.0), "size_off_step"),
        (dict(side=SIDE_BUY, size=1.0, stop_px=98.0, take_profit_px=99.0), "take_profit_wrong_side"),
        (dict(side=SIDE_SELL, size=1.0, stop_px=102.0, take_profit_px=101.0), "take_profit_wrong_side"),
        (dict(side=SIDE_BUY, size=1.0, stop_px=98.0, take_profit_px=103.0), "ok"),
    ]
    for fields, expected in cases:
        seq = core.manual_order("BTC/USDT", **fields)  # type: ignore[arg-type]
        core.drain()
        assert core.command_result(seq) == expected, fields
    assert len(h.take_orders()) == 1  # only the last one went out
