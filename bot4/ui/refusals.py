"""Refusals in words, with the figures the failing check measured ("risk 2.31 % of equity > limit 2.00 %").

A refused order's view carries its reason's name and, for the checks that measure something, ``risk_value`` and
``risk_limit`` (the units are ``bot4.core.records.REASON_FIGURES``'s). Pure functions: the orders pane, the order
ticket and the events pane all say a refusal the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from bot4.ui.fmt import fmt_duration


def _f(x: object) -> float:
    try:
        return math.nan if x is None else float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def _amount(x: float, ccy: str) -> str:
    return f"{x:,.2f} {ccy}"


def _with(words: str, fmt: Callable[[float, float, str], str]) -> Callable[[float, float, str], str]:
    """``fmt(value, limit, ccy)`` when the record has its figures, else ``words`` (an older engine, or none)."""

    def say(value: float, limit: float, ccy: str) -> str:
        return words if math.isnan(value) else fmt(value, limit, ccy)

    return say


def _plain(words: str) -> Callable[[float, float, str], str]:
    return lambda _v, _l, _c: words


WORDS: dict[str, Callable[[float, float, str], str]] = {
    "halted": _plain("trading is HALTED: nothing but cancels"),
    "reducing_only": _plain("REDUCING: only orders that shrink a position"),
    "loss_streak_cooldown": _with(
        "loss-streak cool-down", lambda v, _l, _c: f"loss-streak cool-down, {fmt_duration(v)} left"
    ),
    "paused": _plain("entries paused by an operator"),
    "unknown_symbol": _plain("unknown symbol"),
    "bad_size": _with("size is not a positive number", lambda v, _l, _c: f"size {v:g} is not a positive number"),
    "bad_price": _with("price is not a positive number", lambda v, _l, _c: f"price {v:g} is not a positive number"),
    "stop_missing": _plain("no stop-loss: every entry needs one"),
    "stop_wrong_side": _with(
        "stop on the wrong side of the entry", lambda v, lim, _c: f"stop {v:,.2f} on the wrong side of entry {lim:,.2f}"
    ),
    "risk_per_trade": _with(
        "too much of equity at risk", lambda v, lim, _c: f"risk {_pct(v)} of equity > limit {_pct(lim)}"
    ),
    "max_notional": _with(
        "order notional over its limit", lambda v, lim, c: f"notional {_amount(v, c)} > limit {_amount(lim, c)}"
    ),
    "symbol_exposure": _with(
        "symbol exposure over its limit", lambda v, lim, c: f"exposure {_amount(v, c)} > symbol limit {_amount(lim, c)}"
    ),
    "gross_exposure": _with(
        "gross exposure over its limit", lambda v, lim, c: f"gross exposure {_amount(v, c)} > limit {_amount(lim, c)}"
    ),
    "price_band": _with(
        "price too far from the last trade",
        lambda v, lim, _c: f"price {_pct(v)} from the last trade > band {_pct(lim)}",
    ),
    "no_market_price": _plain("no market price yet"),
    "correlation": _with(
        "too correlated with an open position",
        lambda v, lim, _c: f"correlation {v:.2f} with an open position ≥ limit {lim:.2f}",
    ),
    "var": _with("portfolio VaR over its limit", lambda v, lim, c: f"VaR {_amount(v, c)} > limit {_amount(lim, c)}"),
    "order_rate": _plain("order rate limit reached (token bucket empty)"),
    "size_zero": _plain("sized to zero: under the minimum size"),
    "venue_breaker_open": _plain("venue circuit breaker open"),
    "feed_stale": _plain("market data stale (feed breaker open)"),
    "pool_exhausted": _plain("no free order record (pool exhausted)"),
    "ring_full": _plain("execution ring full (back-pressure)"),
    "rearm_bad_confirmation": _plain("wrong confirmation number"),
    "rearm_cooldown": _plain("re-arm cool-down still running"),
    "rearm_not_halted": _plain("not halted: nothing to re-arm"),
    "venue_reject": _plain("refused by the venue"),
    "reduce_only_would_increase": _plain("reduce-only order would grow the position"),
    "unknown_order": _plain("no such open order"),
    "post_only_would_cross": _plain("post-only limit would have traded at once"),
    "take_profit_wrong_side": _plain("take-profit on the losing side of the entry"),
    "size_off_step": _plain("size below the instrument's minimum or not a whole number of its steps"),
}


def reason_words(reason: str, value: float = math.nan, limit: float = math.nan, ccy: str = "USD") -> str:
    """A reason name (``records.REASON_NAMES``) and its figures, in words."""
    say = WORDS.get(reason)
    if say is None:
        return reason.replace("_", " ")
    return say(value, limit, ccy)


def refusal_text(order: Mapping[str, object], ccy: str = "USD") -> str:
    """A refused order's view (``reason``, ``risk_value``, ``risk_limit``) in words, then every other check it failed
    too (``also``: the core judges them when it refuses an entry): "risk 2.31 % of equity > limit 2.00 %; also:
    order notional over its limit, loss-streak cool-down"."""
    first = reason_words(str(order.get("reason", "?")), _f(order.get("risk_value")), _f(order.get("risk_limit")), ccy)
    also = order.get("also") or ()
    if not isinstance(also, (list, tuple)) or not also:
        return first
    return first + "; also: " + ", ".join(reason_words(str(name), ccy=ccy) for name in also)
