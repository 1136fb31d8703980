"""The Trades screen under Pilot: the journal's trades, their performance, the symbol filter; history after a
restart from the journal itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot4.core import records
from bot4.runtime.journal import Journal
from bot4.ui.source import LocalSource
from bot4.ui.trades_screen import TradesScreen
from bot4.ui.widgets.panes import Pane
from tests.ui.test_app import make_engine
from tests.ui.test_snapshots import FrozenSource, StillApp


def text(screen: TradesScreen, pane_id: str) -> str:
    return str(screen.query_one(pane_id, Pane).render())


async def test_trades_screen_lists_trades_and_filters_by_symbol() -> None:
    app = StillApp(FrozenSource())  # type: ignore[arg-type]
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, TradesScreen)
        closed = text(screen, "#closed-trades")
        assert closed.count("BTC/USDT") == 2 and closed.count("ETH/USDT") == 1
        assert "manual" in closed and "stop" in closed and "signal" in closed
        assert "+75.00" in closed and "+50.25" in closed  # 0.5 x (61,950 - 61,800) gross, less 12.36 + 12.39 fees
        assert "-62.00" in closed and "-70.63" in closed  # the manual short: 4 x (2,690 - 2,705.5), less 8.63
        opened = text(screen, "#open-trades")
        assert "ETH/USDT" in opened and "2,669.60" in opened  # the open trade and its stop
        assert "ema_cross(fast_period=12, slow_period=26)" in text(screen, "#trades-header")
        perf = text(screen, "#performance")
        assert "2024-08-08" in perf and "2024-08-09" in perf
        await pilot.press("f")
        assert screen.symbol == "BTC/USDT"
        closed = text(screen, "#closed-trades")
        assert closed.count("BTC/USDT") == 2 and "ETH/USDT" not in closed
        assert "ETH/USDT" not in text(screen, "#open-trades")
        assert "ETH/USDT" not in text(screen, "#performance")
        await pilot.press("f")
        assert screen.symbol == "ETH/USDT" and "BTC/USDT" not in text(screen, "#closed-trades")
        await pilot.press("f")
        assert screen.symbol == "" and text(screen, "#closed-trades").count("/USDT") == 3
        await pilot.press("escape")
        assert not isinstance(app.screen, TradesScreen)


async def test_trades_come_back_after_a_restart(tmp_path: Path) -> None:
    """What a run traded is read from the journal: a new engine on the same state directory shows it."""
    journal = Journal(tmp_path / "journal.sqlite")
    orders = np.zeros(2, records.ORDER_DTYPE)
    orders["client_order_id"] = [1 << 20, 2 << 20]
    orders["action"] = records.ACTION_SUBMIT
    orders["side"] = [records.SIDE_BUY, records.SIDE_SELL]
    orders["stop_px"] = [99.0, np.nan]
    orders["size"] = 1.0
    journal.append_orders(orders, ("BTC/USDT", "ETH/USDT"))
    fills = np.zeros(2, records.FILL_DTYPE)
    fills["client_order_id"] = orders["client_order_id"]
    fills["kind"] = records.EXEC_FILL
    fills["side"] = orders["side"]
    fills["price"] = [100.0, 103.0]
    fills["size"] = 1.0
    fills["ts_exch_ns"] = [1_723_161_600 * 10**9, 1_723_161_660 * 10**9]
    journal.append_reports(fills, ("BTC/USDT", "ETH/USDT"))
    journal.close()
    engine = make_engine(tmp_path)
    try:
        fills_read, complete = LocalSource(engine).trade_fills()
    finally:
        engine.journal.close()
    assert complete and [(f.price, f.ts_ns) for f in fills_read] == [
        (100.0, 1_723_161_600 * 10**9),
        (103.0, 1_723_161_660 * 10**9),
    ]
