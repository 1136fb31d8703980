"""The whole trading loop against references written apart from bot4: the account rebuilt from the fills by a plain
Python book, and every strategy entry checked against a plain Python EMA cross, on the shipped data and on
generated hostile markets (gaps, outliers, flat stretches, bursts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot4.core.config import CoreConfig, RiskConfig, StrategyConfig
from bot4.core.records import EXEC_FILL, FLAG_REDUCE_ONLY, TICK_BBO, TICK_DTYPE, TICK_TRADE
from bot4.core.runner import Core
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_sample
from tests.core.test_positions import ReferenceBook
from tests.core.test_strategy import ref_ema_cross


def replay(cfg: CoreConfig, ticks: np.ndarray) -> tuple[Core, np.ndarray, np.ndarray]:
    core = Core(cfg)
    orders, reports = Lockstep(core, PaperExchange(cfg)).replay(ticks)
    return core, orders, reports


def check_accounts(cfg: CoreConfig, core: Core, reports: np.ndarray) -> None:
    books = [ReferenceBook() for _ in cfg.symbols]
    for r in reports[reports["kind"] == EXEC_FILL]:
        books[int(r["symbol_id"])].fill(int(r["side"]), float(r["price"]), float(r["size"]), float(r["fee"]))
    snap = core.snapshot()
    unreal = 0.0
    for pos, ref in zip(snap.positions(), books, strict=True):
        assert pos.qty == pytest.approx(ref.qty, abs=1e-9)
        assert pos.realized == pytest.approx(ref.realized, rel=1e-9, abs=1e-7)
        unreal += ref.unrealized(pos.last_px) if ref.qty else 0.0
    fees = sum(b.fees for b in books)
    realized = sum(b.realized for b in books)
    assert snap.fees == pytest.approx(fees, rel=1e-11, abs=1e-9)
    expected = cfg.risk.initial_equity_usd + realized - fees + unreal
    assert snap.equity == pytest.approx(expected, rel=1e-11, abs=1e-7)
    trades = sum(len(b.trade_pnls) for b in books)
    assert snap.trades[0] == trades  # round trips closed, as the reference counts them


def check_entries(cfg: CoreConfig, ticks: np.ndarray, orders: np.ndarray, fast: int, slow: int) -> int:
    """Every strategy entry goes the way the reference EMA cross pointed at the tick it was decided on."""
    checked = 0
    for s in range(len(cfg.symbols)):
        mine = ticks[(ticks["symbol_id"] == s) & (ticks["kind"] == TICK_TRADE)]
        signals = ref_ema_cross(mine["price"], fast, slow)
        times = np.array([int(mine["ts_exch_ns"][i]) for i, _ in signals], dtype=np.int64)
        sides = [side for _, side in signals]
        for o in orders[(orders["symbol_id"] == s) & ((orders["flags"] & FLAG_REDUCE_ONLY) == 0)]:
            if int(o["action"]) != 1:
                continue
            k = int(np.searchsorted(times, int(o["ts_mkt_ns"]), side="right")) - 1
            assert k >= 0 and sides[k] == int(o["side"]), (int(o["client_order_id"]), k)
            checked += 1
    return checked


def test_the_shipped_sample_against_the_references() -> None:
    strat = StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26)
    cfg = CoreConfig(strategies=(strat,), risk=RiskConfig(loss_streak_max=1000))
    ticks = load_sample(cfg.symbols)
    core, orders, reports = replay(cfg, ticks)
    check_accounts(cfg, core, reports)
    assert check_entries(cfg, ticks, orders, 12, 26) >= 50


def hostile_market(seed: int, n: int, gap: float, outlier_every: int, flat: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    px = 100.0
    t = np.zeros(n, TICK_DTYPE)
    ts = 1_700_000_000_000_000_000
    for i in range(n):
        ts += int(rng.integers(1, 50)) * 1_000_000
        if flat and (i // flat) % 3 == 1:
            step = 0.0  # a flat stretch: the averages meet
        elif gap and i % 400 == 399:
            step = gap * (1 if rng.random() < 0.5 else -1)  # a gap through the stops
        else:
            step = rng.normal(0, 0.0008)
        px = max(1.0, px * math.exp(step))
        rec = t[i]
        rec["ts_exch_ns"], rec["symbol_id"], rec["seq"] = ts, 0, i
        if i % 3 == 0:
            rec["kind"], rec["bid_px"], rec["ask_px"] = TICK_BBO, px * 0.9999, px * 1.0001
            rec["bid_sz"] = rec["ask_sz"] = float(rng.uniform(0.01, 3.0))  # thin books: partial fills
            rec["price"] = px
        else:
            rec["kind"], rec["price"], rec["size"] = TICK_TRADE, px, float(rng.uniform(0.001, 2.0))
            rec["side"] = 1 if rng.random() < 0.5 else -1
            if outlier_every and i % outlier_every == outlier_every - 1:
                rec["price"] = px * 1000.0  # a bad print
    return t


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.sampled_from([0.0, 0.01, 0.03]),
    st.sampled_from([0, 97, 500]),
    st.sampled_from([0, 50, 200]),
)
def test_hostile_markets_against_the_references(seed: int, gap: float, outlier_every: int, flat: int) -> None:
    from bot4.core.config import InstrumentConfig

    strat = StrategyConfig(kind="ema_cross", fast_period=5, slow_period=20, stop_frac=0.005, take_profit_frac=0.01)
    cfg = CoreConfig(
        instruments=(InstrumentConfig("BTC/USDT", size_step=1e-4, min_size=1e-4),),
        strategies=(strat,),
        risk=RiskConfig(loss_streak_max=1000, max_orders_per_s=1e6, order_burst=1_000_000),
    )
    ticks = hostile_market(seed, 4000, gap, outlier_every, flat)
    core, orders, reports = replay(cfg, ticks)
    check_accounts(cfg, core, reports)
    snap = core.snapshot()
    assert snap.peak_equity < cfg.risk.initial_equity_usd * 1.5  # no bad print made a fortune or a peak
    pos = snap.positions()[0]
    assert pos.qty == 0.0 or (pos.stop_px > 0 and (pos.stop_px - pos.avg_px) * pos.qty < 0)
