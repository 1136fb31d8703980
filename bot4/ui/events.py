"""The events pane's lines: the engine's log events and our fills, in words, with rounded figures and their units,
on one clock (the market's on recorded data, the tape's clock).

``event_line`` says a named log event (``bot4.logs.event``) from its fields; ``fill_line`` says one of our fills
(a stop hit, a kill exit and a manual order are named). Both return markup for a :class:`bot4.ui.widgets.panes.Pane`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from textual.markup import escape

from bot4.ui.refusals import reason_words

STATE_COLOR = {"ACTIVE": "$success", "REDUCING": "$warning", "HALTED": "$error"}
MONEY_KEYS = ("equity", "realized", "fee", "price", "notional", "pnl", "balance")
SIZE_KEYS = ("size", "qty", "filled", "leaves")


def figure(key: str, value: object, ccy: str) -> str:
    """One field's value in words: money with two decimals and its currency, a drawdown in %, times with units,
    big counts grouped, other floats rounded; lists and text as they are."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if key == "drawdown" or key.endswith("_frac"):
            return f"{value * 100:.2f} %"
        if key.endswith("_pct"):
            return f"{value:+.2f} %"
        if key.endswith("_us"):
            return f"{value:,.1f} µs"
        if key.endswith("_ms"):
            return f"{value:,.1f} ms"
        if key.endswith("_s"):
            return f"{value:,.1f} s"
        if key in SIZE_KEYS:
            return f"{value:,.8g}"
        if any(k in key for k in MONEY_KEYS):
            return f"{value:,.2f} {ccy}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _fields(fields: Mapping[str, object], ccy: str, skip: tuple[str, ...] = ()) -> str:
    return " · ".join(
        f"{key.replace('_', ' ')} {figure(key, value, ccy)}" for key, value in fields.items() if key not in skip
    )


def _state(f: Mapping[str, object], ccy: str) -> str:
    to = str(f.get("to", "?"))
    color = STATE_COLOR.get(to, "$warning")
    cause = str(f.get("cause", "")).replace("_", " ")
    return (
        f"trading state {escape(str(f.get('frm', '?')))} → [{color}][b]{escape(to)}[/b][/] ({escape(cause)})"
        f" · equity {figure('equity', f.get('equity'), ccy)} · drawdown {figure('drawdown', f.get('drawdown'), ccy)}"
    )


def _breaker(f: Mapping[str, object], _ccy: str) -> str:
    to = str(f.get("to", "?"))
    color = {"CLOSED": "$success", "HALF_OPEN": "$warning", "OPEN": "$error"}.get(to, "$warning")
    cause = str(f.get("cause", "")).replace("_", " ")
    return f"breaker {escape(str(f.get('breaker', '?')))}: {f.get('frm', '?')} → [{color}]{escape(to)}[/] ({cause})"


def _kill(f: Mapping[str, object], ccy: str) -> str:
    return (
        f"[$error][b]KILL SWITCH[/b][/] from {escape(str(f.get('source', '?')))}"
        f" · gate closed in {figure('gate_closed_us', f.get('gate_closed_us'), ccy)}"
    )


def _summary(f: Mapping[str, object], ccy: str) -> str:
    realized = f.get("realized")
    pnl = float(realized) if isinstance(realized, int | float) else math.nan
    color = "$success" if pnl > 0 else "$error" if pnl < 0 else "$foreground-muted"
    return (
        f"run summary · {figure('n', f.get('round_trips', 0), ccy)} round trips"
        f" ({f.get('wins', 0)} won, {f.get('losses', 0)} lost) · realized [{color}]{pnl:+,.2f} {ccy}[/]"
        f" · fees {figure('fees', f.get('fees'), ccy)} · equity {figure('equity', f.get('equity'), ccy)}"
        f" · {escape(_fields({k: v for k, v in f.items() if k in ('return_pct', 'trading_state')}, ccy))}"
    )


def _reject(f: Mapping[str, object], _ccy: str) -> str:
    words = reason_words(str(f.get("reason", "?")))
    return f"[$warning]refused[/] {f.get('side', '')} {escape(str(f.get('symbol', '')))}: {escape(words)}"


SAYINGS: dict[str, Callable[[Mapping[str, object], str], str]] = {
    "trading_state": _state,
    "breaker": _breaker,
    "kill_switch": _kill,
    "run_summary": _summary,
    "order_rejected": _reject,
    "gate_reopened": lambda _f, _c: "[$success]execution gate open again[/]",
    "gate_refused": lambda f, _c: f"[$warning]execution gate closed[/]: {f.get('orders', 0)} orders refused",
}


def event_line(clock: str, name: str, fields: Mapping[str, object], ccy: str = "USD") -> str:
    """A log event in words, its figures rounded with their units."""
    say = SAYINGS.get(name)
    text = say(fields, ccy) if say is not None else escape(f"{name.replace('_', ' ')} · {_fields(fields, ccy)}")
    return f"[$foreground-muted]{clock}[/] {text}".rstrip(" ·")


FILL_NOTE = {"stop": " · [$error]stop hit[/]", "kill": " · [$error]kill exit[/]", "manual": " · manual"}


def fill_line(clock: str, fill: Mapping[str, object], ccy: str = "USD") -> str:
    """One of our fills: side, size, symbol, price and fee, and what the order was for."""
    side = str(fill.get("side", "?"))
    color = "$success" if side == "buy" else "$error"
    price = fill.get("price")
    fee = fill.get("fee")
    return (
        f"[$foreground-muted]{clock}[/] fill [{color}]{side}[/] {figure('size', fill.get('size'), ccy)}"
        f" {escape(str(fill.get('symbol', '?')))} @ {figure('price', price, ccy)}"
        f" · fee {figure('fee', fee, ccy)} · {fill.get('liquidity', '')}{FILL_NOTE.get(str(fill.get('exit', '')), '')}"
    )
