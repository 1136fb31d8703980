"""User strategies through the lockstep backtest on the paper venue: the built-ins rewritten on the SDK give the
same orders and fills as the in-core ones; a strategy file outside the package backtests; limit orders, post-only,
cancels, a missing stop and the strategy's on_fill / on_reject are checked against what the venue saw; debug mode
runs the handlers as Python with the traceback at the user's line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import (
    ACTION_CANCEL,
    ACTION_SUBMIT,
    EXEC_CANCELED,
    EXEC_FILL,
    FLAG_REDUCE_ONLY,
    ORDER_LIMIT,
    REASON_POST_ONLY,
    REASON_STOP_MISSING,
    TICK_BBO,
)
from bot4.core.runner import Core
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_sample

ORDER_FIELDS = (
    "client_order_id",
    "ts_mkt_ns",
    "symbol_id",
    "side",
    "order_type",
    "tif",
    "flags",
    "action",
    "price",
    "stop_px",
    "take_profit_px",
    "size",
)
REPORT_FIELDS = (
    "client_order_id",
    "ts_exch_ns",
    "symbol_id",
    "kind",
    "side",
    "reason",
    "price",
    "size",
    "fee",
    "leaves",
)

PROBE = '''
"""A probe of the order paths: limit entries and cancels, post-only, a missing stop, market entry then target."""
from bot4.sdk import BUY, Param, State, Strategy, cancel, enter, enter_limit, target


class Probe(Strategy):
    mode: int = Param(0, min=0, max=5)
    every: int = Param(400, min=2)
    ticks: int = State(0)
    placed: int = State(0)
    cancels: int = State(0)
    fills: int = State(0)
    filled: float = State(0.0)
    rejects: int = State(0)
    last_reason: int = State(0)

    @staticmethod
    def on_bbo(p, st, pos, out, bid, bid_size, ask, ask_size, ts_ns):
        st.ticks += 1
        if p.mode == 0 or p.mode == 5:
            phase = st.ticks % p.every
            if phase == 1 and pos.qty == 0.0 and pos.pending_buy == 0.0:
                price = bid if p.mode == 0 else 0.995 * bid  # mode 5: below the bid, to be cancelled unfilled
                enter_limit(out, BUY, price, stop_frac=0.01, post_only=True)  # mode 0 joins the bid
                st.placed += 1
            elif phase == p.every // 2 and pos.pending_buy > 0.0:
                cancel(out, BUY)
                st.cancels += 1
        elif p.mode == 1 and st.ticks == 10:
            enter(out, BUY)  # no stop: refused
        elif p.mode == 2 and st.ticks == 10:
            enter_limit(out, BUY, ask, stop_frac=0.01, post_only=True)  # would take the ask: refused
        elif p.mode == 3:
            if st.ticks == 10:
                mid = 0.5 * (bid + ask)
                enter(out, BUY, stop=0.98 * mid, take_profit=1.5 * mid)  # absolute prices
            elif st.ticks == 300 and pos.qty > 0.0:
                target(out, 0.0)
        elif p.mode == 4 and st.ticks == 50:
            ratio = bid / (st.ticks - 50)  # the line the traceback must name
            st.ticks += int(ratio)

    @staticmethod
    def on_fill(p, st, pos, out, side, price, size, ts_ns):
        st.fills += 1
        st.filled += size

    @staticmethod
    def on_reject(p, st, pos, out, side, reason, ts_ns):
        st.rejects += 1
        st.last_reason = reason
'''


def replay(cfg: CoreConfig, ticks: np.ndarray) -> tuple[Core, np.ndarray, np.ndarray]:
    core = Core(cfg)
    orders, reports = Lockstep(core, PaperExchange(cfg)).replay(ticks)
    return core, orders, reports


def same(a: np.ndarray, b: np.ndarray, names: tuple[str, ...]) -> None:
    assert len(a) == len(b)
    for name in names:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


@pytest.mark.parametrize(
    ("builtin", "sdk"),
    [
        (
            StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26),
            StrategyConfig(kind="bot4.strategies.ema_cross:EmaCross", params={"fast_period": 12, "slow_period": 26}),
        ),
        (
            StrategyConfig(kind="breakout", lookback=60, stop_frac=0.004),
            StrategyConfig(kind="bot4.strategies.breakout:Breakout", params={"lookback": 60, "stop_frac": 0.004}),
        ),
        (
            StrategyConfig(kind="zscore", window=80, entry_z=2.5, exit_z=0.3, take_profit_frac=0.01),
            StrategyConfig(
                kind="bot4.strategies.zscore:ZScore",
                params={"window": 80, "entry_z": 2.5, "exit_z": 0.3, "take_profit_frac": 0.01},
            ),
        ),
    ],
    ids=["ema_cross", "breakout", "zscore"],
)
def test_the_builtins_on_the_sdk_trade_exactly_as_the_builtins(builtin: StrategyConfig, sdk: StrategyConfig) -> None:
    risk = RiskConfig(loss_streak_max=1000)
    cfg_old = CoreConfig(strategies=(builtin,), risk=risk)
    cfg_new = CoreConfig(strategies=(sdk,), risk=risk)
    ticks = load_sample(cfg_old.symbols)
    core_old, orders_old, reports_old = replay(cfg_old, ticks)
    core_new, orders_new, reports_new = replay(cfg_new, ticks)
    assert (orders_old["flags"] & FLAG_REDUCE_ONLY == 0).sum() >= 5  # entries happened: the comparison means something
    same(orders_old, orders_new, ORDER_FIELDS)
    same(reports_old, reports_new, REPORT_FIELDS)
    assert core_old.snapshot().equity == core_new.snapshot().equity


def probe_config(tmp_path: Path, mode: int, debug: bool = False, every: int = 400) -> CoreConfig:
    path = tmp_path / "probe.py"
    path.write_text(textwrap.dedent(PROBE))
    params = {"mode": mode, "every": every}
    strat = StrategyConfig(kind=f"{path}:Probe", params=params, symbols=("BTC/USDT",), debug=debug)
    return CoreConfig(strategies=(strat,), risk=RiskConfig(loss_streak_max=1000))


def test_limit_entries_and_cancels_on_the_paper_venue(tmp_path: Path) -> None:
    cfg = probe_config(tmp_path, mode=0, every=4)  # a limit at the bid, cancelled a tick later, until one fills
    ticks = load_sample(cfg.symbols)
    core, orders, reports = replay(cfg, ticks)
    state = core.user.state[0]
    submits = orders[(orders["action"] == ACTION_SUBMIT) & (orders["symbol_id"] == 0)]
    limits = submits[submits["order_type"] == ORDER_LIMIT]
    assert state["placed"] >= 3
    # every limit the strategy asked for reached the venue, or was refused by a check and on_reject heard of it
    assert len(limits) + state["rejects"] == state["placed"]
    assert sum(core.snapshot().stats.rejects_by_reason().values()) == state["rejects"]
    assert np.all(limits["stop_px"] < limits["price"])  # each limit entry carries its stop
    cancels = orders[orders["action"] == ACTION_CANCEL]
    assert len(cancels) == state["cancels"] >= 1
    assert (reports["kind"] == EXEC_CANCELED).sum() >= 1
    fills = reports[(reports["kind"] == EXEC_FILL) & (reports["symbol_id"] == 0)]
    assert state["fills"] == len(fills)  # the strategy heard of every fill on its symbol
    assert state["filled"] == pytest.approx(fills["size"].sum())
    bbo = ticks[(ticks["kind"] == TICK_BBO) & (ticks["symbol_id"] == 0)]
    assert state["ticks"] == len(bbo)


@pytest.mark.parametrize(("mode", "reason"), [(1, REASON_STOP_MISSING), (2, REASON_POST_ONLY)])
def test_refusals_reach_on_reject_and_nothing_is_sent(tmp_path: Path, mode: int, reason: int) -> None:
    cfg = probe_config(tmp_path, mode=mode)
    ticks = load_sample(cfg.symbols)
    core, orders, _reports = replay(cfg, ticks)
    state = core.user.state[0]
    assert len(orders[orders["symbol_id"] == 0]) == 0
    assert state["rejects"] == 1 and state["last_reason"] == reason
    assert sum(core.snapshot().stats.rejects_by_reason().values()) == 1


def test_a_target_of_zero_closes_the_position(tmp_path: Path) -> None:
    cfg = probe_config(tmp_path, mode=3)
    ticks = load_sample(cfg.symbols)
    core, orders, reports = replay(cfg, ticks)
    mine = orders[orders["symbol_id"] == 0]
    assert len(mine) >= 2 and (mine["flags"][1] & FLAG_REDUCE_ONLY) != 0
    entry = mine[0]
    assert entry["take_profit_px"] / entry["stop_px"] == pytest.approx(1.5 / 0.98)  # both from the entry's price
    assert core.snapshot().positions()[0].qty == 0.0
    assert core.user.state[0]["fills"] == (reports["kind"] == EXEC_FILL).sum() >= 2


def test_debug_mode_runs_the_same_handlers_as_python(tmp_path: Path) -> None:
    ticks = load_sample(("BTC/USDT", "ETH/USDT"))
    ticks = ticks[:20_000]
    _, orders_c, reports_c = replay(probe_config(tmp_path, mode=0, every=4), ticks)  # limits and cancels
    core_d, orders_d, reports_d = replay(probe_config(tmp_path, mode=0, every=4, debug=True), ticks)
    assert len(orders_d) >= 3 and (orders_d["action"] == ACTION_CANCEL).any()
    same(orders_c, orders_d, ORDER_FIELDS)
    same(reports_c, reports_d, REPORT_FIELDS)


def test_debug_mode_shows_the_traceback_at_the_users_line(tmp_path: Path) -> None:
    cfg = probe_config(tmp_path, mode=4, debug=True)  # the same compiled engine as the test above
    path = tmp_path / "probe.py"
    line = next(i for i, t in enumerate(textwrap.dedent(PROBE).splitlines(), 1) if "the line the traceback" in t)
    with pytest.raises(ZeroDivisionError) as err:
        replay(cfg, load_sample(cfg.symbols)[:5000])
    frames = [(Path(f.filename).name, f.lineno) for f in __import__("traceback").extract_tb(err.value.__traceback__)]
    assert (path.name, line) in frames  # the same source loaded by an earlier test may be that test's probe.py
