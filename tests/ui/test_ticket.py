"""The order ticket: what people type, the preview, the outcome as the engine reports it; the whole flow under
Pilot against a real engine (review, send, fill, refusal with its numbers, cancelling one order)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Button, Input, OptionList, Static

from bot4.core.records import FLAG_MANUAL
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.ui.app import Bot4App
from bot4.ui.source import LocalSource
from bot4.ui.ticket import OrderWatch, Ticket, TicketError, parse_number, parse_side, parse_symbol, preview, read_ticket
from bot4.ui.ticket_screen import CancelScreen, OrderTicket
from bot4.ui.widgets.panes import Pane

SYMBOLS = ("BTC/USDT", "ETH/USDT")


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,000", 1000.0), ("61,250.5", 61250.5), ("0,5", 0.5), (" 0.25 ", 0.25), ("1_000", 1000.0), ("2", 2.0)],
)
def test_numbers_as_people_type_them(text: str, value: float) -> None:
    assert parse_number(text, "size") == value


@pytest.mark.parametrize("text", ["abc", "-1", "0", "1,2,3", "nan", "inf"])
def test_bad_numbers_are_named(text: str) -> None:
    with pytest.raises(TicketError, match="size"):
        parse_number(text, "size")


def test_symbols_and_sides_in_any_case() -> None:
    assert parse_symbol("btc/usdt", SYMBOLS) == "BTC/USDT"
    assert parse_symbol("ETHUSDT", SYMBOLS) == "ETH/USDT"
    assert parse_symbol(" eth ", SYMBOLS) == "ETH/USDT"
    with pytest.raises(TicketError, match="DOGE.*BTC/USDT, ETH/USDT"):
        parse_symbol("DOGE", SYMBOLS)
    assert parse_side("BUY") == 1 and parse_side("Sell") == -1 and parse_side("short") == -1
    with pytest.raises(TicketError, match="side"):
        parse_side("up")


def test_a_ticket_reads_every_field_and_names_the_wrong_one() -> None:
    t = read_ticket("btc", -1, "1,000", "", "61,000", SYMBOLS)
    assert (t.symbol, t.side, t.size, t.price) == ("BTC/USDT", -1, 1000.0, 61000.0) and math.isnan(t.stop_px)
    with pytest.raises(TicketError, match="^stop"):
        read_ticket("btc", 1, "1", "x", "", SYMBOLS)


def test_preview_at_the_ask_for_a_market_buy() -> None:
    t = Ticket("BTC/USDT", 1, 0.5, 59_000.0, None)
    p = preview(t, bid=59_990.0, ask=60_000.0, equity=100_000.0)
    assert p.ref_px == 60_000.0 and p.notional == 30_000.0
    assert p.at_risk == 500.0 and p.risk_frac == pytest.approx(0.005) and not p.stop_wrong_side
    lines = p.lines(t, "USDT", 0.02)
    assert "notional 30,000.00 USDT" in lines and "= 0.50 % of equity (limit 2.00 %)" in lines
    big = Ticket("BTC/USDT", 1, 5.0, 59_000.0, None)
    assert "refused" in preview(big, 59_990.0, 60_000.0, 100_000.0).lines(big, "USDT", 0.02)[-1]
    wrong = Ticket("BTC/USDT", -1, 1.0, 59_000.0, None)  # a sell with its stop below: wrong side
    assert preview(wrong, 59_990.0, 60_000.0, 100_000.0).stop_wrong_side


def watch(price: float | None = None, size: float = 2.0) -> OrderWatch:
    return OrderWatch(Ticket("BTC/USDT", 1, size, 59_000.0, price), known={7}, seq=5)


def order(coid: int, flags: int = FLAG_MANUAL) -> dict[str, object]:
    return {"coid": coid, "action": "submit", "symbol": "BTC/USDT", "flags": flags}


def test_watch_waits_for_the_command_then_tells_a_refusal_with_its_numbers() -> None:
    w = watch()
    assert w.outcome((4, 5, "ok"), {}) is None  # the core has not taken it yet
    assert w.outcome((5, 5, "risk_per_trade"), {"rejects": []}) is None  # its record is on the way
    reject = {
        "reason": "risk_per_trade",
        "symbol": "BTC/USDT",
        "flags": FLAG_MANUAL,
        "risk_value": 0.0231,
        "risk_limit": 0.02,
    }
    assert w.outcome((5, 5, "risk_per_trade"), {"rejects": [reject]}) == (
        "refused: risk 2.31 % of equity > limit 2.00 %"
    )


def test_watch_tells_a_refusal_without_figures_when_the_record_never_comes() -> None:
    w = watch()
    said = [w.outcome((5, 5, "paused"), {"rejects": []}) for _ in range(25)]
    assert said[0] is None and said[-1] == "refused: entries paused by an operator"


def test_watch_tells_full_and_partial_fills() -> None:
    w = watch()
    act: dict[str, object] = {"orders": [order(7), order(9)], "open": [{"coid": 9}], "fills": []}
    assert w.outcome((5, 5, "ok"), act) is None and w.coid == 9  # working: a market order says nothing yet
    act = {
        "orders": [order(9)],
        "open": [],
        "fills": [{"coid": 9, "size": 0.5, "price": 100.0}, {"coid": 9, "size": 0.25, "price": 103.0}],
    }
    assert w.outcome((5, 5, "ok"), act, "USDT") == "filled 0.75 of 2 at 101.00 USDT, rest expired"
    full = watch(size=0.75)
    assert full.outcome((5, 5, "ok"), act, "USDT") == "filled 0.75 of 0.75 at 101.00 USDT"


def test_watch_tells_a_resting_limit_once() -> None:
    w = watch(price=58_000.0)
    act = {"orders": [order(9)], "open": [{"coid": 9}], "fills": []}
    assert w.outcome((5, 5, "ok"), act) == "working: limit 58,000.00, filled 0 of 2"
    assert w.outcome((5, 5, "ok"), act) is None


# --- under Pilot, against a running engine ---------------------------------------------------------------------------
def quiet_engine(tmp_path: Path) -> Engine:
    """The paper engine on the shipped data with no strategy: only the ticket's orders trade."""
    cfg = load_config(None, env={})
    cfg = replace(
        cfg,
        core=replace(cfg.core, strategies=()),
        replay=replace(cfg.replay, speed=20.0),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
    )
    return Engine(cfg, tmp_path)


async def until(pilot, condition, tries: int = 100) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


def said(app: Bot4App) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def fill_ticket(app: Bot4App, pilot, symbol: str, size: str, stop: str, price: str = "") -> None:  # type: ignore[no-untyped-def]
    await pilot.press("o")
    assert isinstance(app.screen, OrderTicket)
    for sel, value in {"#symbol": symbol, "#size": size, "#stop": stop, "#price": price}.items():
        app.screen.query_one(sel, Input).value = value
    app.screen.query_one("#size", Input).focus()


async def test_ticket_flow_review_send_fill_refuse_and_cancel(tmp_path: Path) -> None:
    engine = quiet_engine(tmp_path)
    runner = asyncio.create_task(engine.run())
    app = Bot4App(LocalSource(engine))
    try:
        async with app.run_test(size=(120, 35)) as pilot:

            def btc():  # type: ignore[no-untyped-def]
                return next(p for p in engine.core.snapshot().positions() if p.symbol == "BTC/USDT")

            assert await until(pilot, lambda: btc().bid > 0 and btc().ask > 0, 200)
            bid = btc().bid
            # lower case, a decimal comma and a grouped stop; the side toggles and comes back
            await fill_ticket(app, pilot, "btc", "0,01", f"{bid * 0.99:,.2f}")
            ticket = app.screen
            assert not ticket.query_one("#size", Input).select_on_focus
            ticket.query_one("#side", Button).focus()
            await pilot.press("enter")  # the side toggles from the keyboard
            await pilot.pause(0.3)  # past the button's pressed look, which ignores clicks
            assert str(ticket.query_one("#side", Button).label) == "SELL"
            await pilot.click("#side")  # and with the mouse
            await pilot.pause()
            assert str(ticket.query_one("#side", Button).label) == "BUY"
            ticket.query_one("#size", Input).focus()
            assert await until(pilot, lambda: "ask" in str(ticket.query_one("#quote").render()))
            preview_text = str(ticket.query_one("#preview", Static).render())
            assert "notional" in preview_text and "at risk" in preview_text and "% of equity" in preview_text
            sent_before = engine.core.snapshot().last_command[0]
            await pilot.press("enter")  # review: nothing is sent yet
            assert isinstance(app.screen, OrderTicket) and app.screen.confirming is not None
            assert engine.core.snapshot().last_command[0] == sent_before
            await pilot.press("enter")  # send
            assert not isinstance(app.screen, OrderTicket)
            # a market order takes what the touch holds: all of it, or part with the rest expired
            assert await until(pilot, lambda: any(": filled " in m and " of 0.01 at " in m for m in said(app)), 400), (
                said(app)
            )
            fill = next(m for m in said(app) if ": filled " in m)
            assert ": filled 0.01 of 0.01 at " in fill or fill.endswith(", rest expired"), fill
            # the position is marked as a person's (read from the journal's fills)
            positions = app.query_one("#positions", Pane)
            assert await until(
                pilot, lambda: "BTC/USDT  long" in str(positions.render()) and "manual" in str(positions.render()), 200
            )
            # too big for the 2 % rule: refused with its numbers
            await fill_ticket(app, pilot, "BTC/USDT", "50", f"{bid * 0.9:,.2f}")
            await pilot.press("enter", "enter")
            assert await until(
                pilot, lambda: any("risk " in m and "% of equity > limit 2.00 %" in m for m in said(app)), 200
            )
            # a limit below the market rests; c cancels it from the open orders
            await fill_ticket(app, pilot, "btc", "0.01", f"{bid * 0.95:,.2f}", f"{bid * 0.97:,.2f}")
            await pilot.press("enter", "enter")
            assert await until(pilot, lambda: any(m.endswith("filled 0 of 0.01") for m in said(app)), 200)
            assert engine.core.snapshot().open_orders == 1
            await pilot.press("c")
            assert isinstance(app.screen, CancelScreen)
            assert app.screen.query_one(OptionList).option_count == 1
            await pilot.press("enter")
            assert await until(pilot, lambda: engine.core.snapshot().open_orders == 0, 200)
    finally:
        engine.request_stop()
        await runner
