"""The paper engine on recorded data is the backtest: same orders, fills and equity, at any speed, every run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bot4.core.records import EXEC_FILL, ORDER_MARKET, TICK_BBO
from bot4.core.runner import Core
from bot4.runtime.config import AppConfig
from bot4.runtime.engine import Engine
from bot4.runtime.journal import Journal
from bot4.venues.lockstep import Lockstep
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_sample


def fills_of(reports: np.ndarray) -> list[tuple[int, int, float, float, float]]:
    f = reports[reports["kind"] == EXEC_FILL]
    return [(int(r["client_order_id"]), int(r["side"]), float(r["size"]), float(r["price"]), float(r["fee"])) for r in f]


def journal_fills(path: Path) -> list[tuple[int, int, float, float, float]]:
    j = Journal(path)
    try:
        rows = j.db.execute(
            "SELECT coid, side, size, price, fee FROM reports WHERE kind = ? ORDER BY id", (EXEC_FILL,)
        ).fetchall()
    finally:
        j.close()
    return [(int(c), int(s), float(z), float(p), float(f)) for c, s, z, p, f in rows]


async def test_running_engine_at_any_speed_matches_the_lockstep_backtest(app_config: AppConfig, tmp_path: Path) -> None:
    """Three runs of the running engine (two at full speed, one paced) and the lockstep backtest of the same data
    and config: the same fills, one for one, and the same final equity, to the cent and beyond."""
    base = replace(app_config, runtime=replace(app_config.runtime, api_addr="", metrics_addr=""))
    core = Core(base.core)
    orders, reports = Lockstep(core, PaperExchange(base.core, base.paper)).replay(load_sample(base.core.symbols))
    expected = fills_of(reports)
    expected_equity = core.snapshot().equity
    assert len(expected) >= 5 and len(orders) >= len(expected)
    runs = []
    for i, speed in enumerate((0.0, 0.0, 2000.0)):
        cfg = replace(base, replay=replace(base.replay, speed=speed, loop=False))
        engine = Engine(cfg, tmp_path / f"run{i}")
        assert await engine.run(run_for=300) == 0
        assert engine.feed.done.is_set()  # the data ended the run
        runs.append((journal_fills(tmp_path / f"run{i}" / "journal.sqlite"), engine.summary()["equity"]))
    for got, equity in runs:
        assert got == expected
        assert equity == round(expected_equity, 6)


def test_market_orders_meet_the_market_at_their_decision_tick_plus_latency(app_config: AppConfig) -> None:
    """A market order fills at the quote of the first tick of its symbol at or after (the tick it was decided on +
    the venue's latency), not at a later batch's: what the backtest does is what the paper engine does."""
    core = Core(app_config.core)
    venue = PaperExchange(app_config.core, app_config.paper)
    ticks = load_sample(app_config.core.symbols)
    orders, reports = Lockstep(core, venue).replay(ticks)
    latency_ns = int(venue.state.params["latency_ns"][0])
    ts, sym, kind = ticks["ts_exch_ns"], ticks["symbol_id"], ticks["kind"]
    first_fill = {}
    for r in reports[reports["kind"] == EXEC_FILL]:
        first_fill.setdefault(int(r["client_order_id"]), float(r["price"]))
    checked = 0
    for o in orders:
        coid = int(o["client_order_id"])
        if o["order_type"] != ORDER_MARKET or coid not in first_fill:
            continue
        s, side = int(o["symbol_id"]), int(o["side"])
        j = int(np.searchsorted(ts, int(o["ts_mkt_ns"]) + latency_ns, side="left"))
        while sym[j] != s:
            j += 1
        quotes = np.flatnonzero((sym[: j + 1] == s) & (kind[: j + 1] == TICK_BBO))
        expected = ticks[quotes[-1]]["ask_px" if side > 0 else "bid_px"]
        assert first_fill[coid] == expected, (coid, first_fill[coid], float(expected))
        checked += 1
    assert checked >= 5, checked
