"""The main screen in each theme, rendered from a deterministic feed and compared with the stored SVG snapshots.

The feed is a real core after a lockstep replay of the first 20,000 ticks of the shipped sample (deterministic),
with its latency histograms replaced by fixed values (real timings differ run to run). Update the stored snapshots
after an intended change with ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from bot4.core import records
from bot4.core.config import CoreConfig, StrategyConfig
from bot4.core.histogram import hist_record_nb, hist_reset_nb
from bot4.core.runner import Core, CoreSnapshot
from bot4.core.stats import HIST_NAMES, hist_base_nb
from bot4.runtime.strategyinfo import strategy_info
from bot4.runtime.trades import Fill
from bot4.ui.app import Bot4App
from bot4.ui.source import describe_strategy
from bot4.venues.lockstep import run_backtest
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_sample

T0 = 1_723_161_600.0  # 2024-08-09 00:00 UTC: the fixed clock of the snapshot feed's samples and fills
FIXED_LATENCIES_NS = {
    "decision": [60, 70, 80, 90, 120, 400],
    "risk_check": [250, 300, 350, 420, 900, 1_500],
    "tick_to_order": [1_200, 1_400, 2_000, 9_000, 30_000, 80_000],
    "order_to_ack": [800_000, 1_000_000, 2_000_000, 5_000_000, 20_000_000, 90_000_000],
}


class FrozenSource:
    """A source whose every view is the same: for pixel-stable snapshots."""

    name = "snapshot · paper"

    def __init__(self) -> None:
        cfg = CoreConfig()
        core, venue = Core(cfg), PaperExchange(cfg)
        run_backtest(core, venue, load_sample()[:20_000])
        for h, name in enumerate(HIST_NAMES):
            base = hist_base_nb(h)
            hist_reset_nb(core.state.stats, base)
            for value in FIXED_LATENCIES_NS[name] * 50:
                hist_record_nb(core.state.stats, base, value)
        core.publish()
        self._info = strategy_info(cfg, core.state)
        self._info["symbols"][1]["manual"] = True  # as if a person held ETH/USDT: marked, left alone
        self._snap = core.snapshot()
        self._snap.taken_ns = 0
        self.symbols = core.symbols
        trades = load_sample(("BTC/USDT",), with_bbo=False)[:20_000]
        # one price sample every 0.25 s, as the engine takes them, on a fixed clock
        self.prices = [(T0 + 0.25 * i, p) for i, p in enumerate(trades["price"][::250].tolist())]
        self.trades = [
            {
                "ts_exch_ns": int(t["ts_exch_ns"]),
                "price": float(t["price"]),
                "size": float(t["size"]),
                "side": "buy" if t["side"] > 0 else "sell",
            }
            for t in trades[-20:]
        ]

    def snapshot(self) -> CoreSnapshot:
        return self._snap

    def trade_fills(self) -> tuple[list[Fill], bool]:
        """Three closed trades (a manual one, a stop exit) and an open one, on the fixed clock."""
        ns, buy, sell = 1_000_000_000, records.SIDE_BUY, records.SIDE_SELL
        t0 = int(T0) * ns
        return [
            Fill(t0 - 600 * ns, "BTC/USDT", buy, 61_800.0, 0.5, 12.36, 1, 0, 61_490.0),
            Fill(t0 - 540 * ns, "BTC/USDT", sell, 61_950.0, 0.5, 12.39, 2, records.FLAG_REDUCE_ONLY),
            Fill(t0 - 300 * ns, "ETH/USDT", sell, 2_690.0, 4.0, 4.30, 3, records.FLAG_MANUAL, 2_705.0),
            Fill(t0 - 200 * ns, "ETH/USDT", buy, 2_705.5, 4.0, 4.33, 4, records.FLAG_STOP_EXIT),
            Fill(t0 + 12 * ns, "BTC/USDT", buy, 61_837.64, 0.80871, 20.0, 5, 0, 61_528.45),
            Fill(t0 + 17 * ns, "BTC/USDT", sell, 61_640.12, 0.80871, 19.94, 6, records.FLAG_REDUCE_ONLY),
            Fill(t0 + 30 * ns, "ETH/USDT", buy, 2_683.0, 1.5, 1.61, 7, 0, 2_669.6),
        ], True

    def strategies(self) -> list[str]:
        return [describe_strategy(StrategyConfig(), 0.01)]

    def strategy_info(self) -> dict[str, object]:
        return self._info

    def activity(self, selected: str) -> dict[str, object]:
        fills = [
            {
                "ts": T0 + 12.0,
                "symbol": "BTC/USDT",
                "side": "buy",
                "size": 0.80871,
                "price": 61837.64,
                "liquidity": "taker",
                "fee": 20.0,
                "coid": 5,
                "ts_exch": T0 + 11.8,
            },
            {
                "ts": T0 + 17.5,
                "symbol": "BTC/USDT",
                "side": "sell",
                "size": 0.80871,
                "price": 61640.12,
                "liquidity": "taker",
                "fee": 19.94,
                "coid": 6,
                "ts_exch": T0 + 17.2,
                "exit": "stop",
            },
        ]
        order = {
            "action": "submit",
            "side": "buy",
            "symbol": "BTC/USDT",
            "size": 0.80871,
            "type": "market",
            "stop_px": 61528.45,
            "price": float("nan"),
            "ts_mkt": T0 + 11.7,
        }
        working = {
            "coid": 8,
            "side": "sell",
            "symbol": "ETH/USDT",
            "size": 1.5,
            "type": "limit",
            "price": 2690.5,
            "filled": 0.25,
        }
        reject = {
            "reason": "loss_streak_cooldown",
            "side": "sell",
            "symbol": "ETH/USDT",
            "size": 18.63,
            "risk_value": 754.0,
            "risk_limit": float("nan"),
            "ts_mkt": T0 + 20.0,
        }
        risky = {
            "reason": "risk_per_trade",
            "side": "buy",
            "symbol": "BTC/USDT",
            "size": 5.0,
            "flags": 2,
            "risk_value": 0.0231,
            "risk_limit": 0.02,
        }
        return {
            "orders": [order],
            "open": [working],
            "fills": fills,
            "rejects": [risky, reject, reject],
            "transitions": [],
            "trades": {"BTC/USDT": self.trades},
            "prices": self.prices if selected == "BTC/USDT" else [],
            "limits": {
                "var_frac": 0.05,
                "var_confidence": 0.99,
                "drawdown_warn": 0.10,
                "drawdown_halt": 0.15,
                "correlation": 0.7,
            },
            "gate_open": True,
        }


@pytest.fixture(scope="module")
def frozen() -> FrozenSource:
    return FrozenSource()


class StillApp(Bot4App):
    def on_mount(self) -> None:
        self.title_panes()
        self.apply_layout(self.size.width)
        self.refresh_view()  # one frame; no timers, so the picture cannot move

    def clock(self) -> float:
        # frozen: a second refresh on a slow machine (a layout pass, the theme) used to add a second sample to the
        # per-second latency sparkline when it came a second after the first, and the picture differed
        return 1000.0


@pytest.mark.parametrize("theme", ["bot4-dark", "bot4-light", "bot4-contrast"])
def test_main_screen(snap_compare, frozen: FrozenSource, theme: str) -> None:  # type: ignore[no-untyped-def]
    app = StillApp(frozen, theme=theme)  # type: ignore[arg-type]

    async def settle(pilot):  # type: ignore[no-untyped-def]
        await pilot.pause(0.3)  # let every pane and the footer finish their first layout on a slow machine
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(app, terminal_size=(200, 50), run_before=settle)


async def settle(pilot):  # type: ignore[no-untyped-def]
    await pilot.pause(0.3)  # every pane and the footer finish their first layout on a slow machine
    await pilot.wait_for_scheduled_animations()


SIZES = [(80, 24), (120, 35), (200, 50)]


@pytest.mark.parametrize("size", SIZES[:2], ids=["80x24", "120x35"])
def test_main_screen_compact(snap_compare, frozen: FrozenSource, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Under 160 columns: banner, positions, tabs, the market pane; the footer whole."""
    assert snap_compare(StillApp(frozen), terminal_size=size, run_before=settle)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES[:2], ids=["80x24", "120x35"])
def test_orders_tab_maximized(snap_compare, frozen: FrozenSource, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The orders tab maximized: the banner and positions stay; refusals in words with their numbers."""

    async def run(pilot):  # type: ignore[no-untyped-def]
        await pilot.press("2", "m")
        await settle(pilot)

    assert snap_compare(StillApp(frozen), terminal_size=size, run_before=run)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35", "200x50"])
def test_trades_screen(snap_compare, frozen: FrozenSource, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run(pilot):  # type: ignore[no-untyped-def]
        await pilot.press("h")
        await settle(pilot)
        pilot.app.screen.reload()  # what its after-layout reload does, now, however slow the machine was to lay out
        await settle(pilot)

    assert snap_compare(StillApp(frozen), terminal_size=size, run_before=run)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35", "200x50"])
def test_strategy_screen(snap_compare, frozen: FrozenSource, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """What runs with which settings, each symbol's view and holder (ETH/USDT a person's), what the strategy did."""

    async def run(pilot):  # type: ignore[no-untyped-def]
        await pilot.press("a")
        await settle(pilot)
        pilot.app.screen.reload()  # what its after-layout reload does, now, however slow the machine was to lay out
        await settle(pilot)

    assert snap_compare(StillApp(frozen), terminal_size=size, run_before=run)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35", "200x50"])
def test_order_ticket_in_review(snap_compare, frozen: FrozenSource, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The ticket filled in and reviewed: live bid/ask, notional, money at risk, the confirm step."""

    async def run(pilot):  # type: ignore[no-untyped-def]
        await pilot.press("o")
        await pilot.press(*"0,5")
        await pilot.press("tab", *"61,200")
        await pilot.press("enter")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would differ from picture to picture
        await settle(pilot)

    assert snap_compare(StillApp(frozen), terminal_size=size, run_before=run)  # type: ignore[arg-type]


TRICKY_MARKUP = [
    "plain",
    "",
    "[b]bold[/b] then [$success]green[/] then [$primary 40%]dim blue[/]",
    "[b][$error]nested[/][/b] after",
    "[b]a[$warning]b[/]c[/b]d",
    "[b]never closed",
    "[b][/b]empty span",
    "not a tag [1,2] and [a b c]",
    "escaped \\[b] bracket",
    "[reverse]r[/reverse] [dim]d[/dim] [u]u[/u] [i]i[/i]",
]


def cells(strip):  # type: ignore[no-untyped-def]
    """What a terminal shows: character, colours and attributes per cell (segment boundaries aside)."""
    out = []
    for seg in strip:
        st = seg.style
        key = None
        if st is not None:
            key = (str(st.color), str(st.bgcolor), st.bold, st.dim, st.italic, st.underline, bool(st.reverse))
        out += [(ch, key) for ch in seg.text]
    return out


@pytest.mark.parametrize("theme", ["bot4-dark", "bot4-light", "bot4-contrast"])
async def test_panes_draw_lines_as_textual_would(frozen: FrozenSource, theme: str) -> None:
    """A pane draws its lines with its own reader of bot4's markup: the text, spans and every cell's colours equal
    Textual's markup parser and renderer, for every line of the main screen and for markup outside the subset; a
    line wider than the pane is cut at the border."""
    from textual.content import Content
    from textual.visual import Visual

    from bot4.ui.markup import parse_line
    from bot4.ui.widgets.panes import Pane

    app = StillApp(frozen, theme=theme)  # type: ignore[arg-type]
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.3)
        panes = list(app.query(Pane))
        lines = [line for pane in panes for line in pane._lines] + TRICKY_MARKUP
        assert len(lines) > 40
        for markup in lines:
            content = Content.from_markup(markup)
            assert parse_line(markup) == (content.plain, list(content.spans)), markup
        pane = app.query_one("#pipeline", Pane)  # one on screen (the positions pane is the compact layout's)
        width = pane.size.width
        base = pane.visual_style
        for y, markup in enumerate(lines):
            pane.show("\n".join([markup] * (y + 1)))  # the line at row y is new: drawn afresh
            drawn = pane.render_line(y)
            textual = Visual.to_strips(pane, Content.from_markup(markup), width, 1, base, pad=True)[0]
            assert cells(drawn) == cells(textual.crop_extend(0, width, base.rich_style)), markup
        long = "[b]" + "x" * (width + 20) + "[/b] tail"
        pane.show(long)
        drawn = pane.render_line(0)
        assert drawn.cell_length == width and drawn.text == "x" * width
