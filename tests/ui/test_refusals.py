"""Refusals in words, with the figures the core measured."""

from __future__ import annotations

import math

from bot4.core.records import REASON_FIGURES, REASON_NAMES
from bot4.ui.refusals import WORDS, reason_words, refusal_text


def test_every_reason_has_words() -> None:
    assert set(REASON_NAMES) - {"ok"} <= set(WORDS)


def test_risk_per_trade_says_both_percentages() -> None:
    text = refusal_text({"reason": "risk_per_trade", "risk_value": 0.0231, "risk_limit": 0.02})
    assert text == "risk 2.31 % of equity > limit 2.00 %"


def test_money_limits_carry_the_quote_currency() -> None:
    text = refusal_text({"reason": "max_notional", "risk_value": 61_234.5, "risk_limit": 50_000.0}, "USDT")
    assert text == "notional 61,234.50 USDT > limit 50,000.00 USDT"
    assert reason_words("var", 1_500.0, 1_000.0, "USDT") == "VaR 1,500.00 USDT > limit 1,000.00 USDT"


def test_cooldown_says_the_time_left() -> None:
    assert reason_words("loss_streak_cooldown", 754.2) == "loss-streak cool-down, 12m35s left"


def test_without_figures_the_words_stand_alone() -> None:
    # an engine from before the figures, or JSON's null for NaN from an attached engine
    assert refusal_text({"reason": "risk_per_trade"}) == "too much of equity at risk"
    assert refusal_text({"reason": "correlation", "risk_value": None, "risk_limit": None}) == (
        "too correlated with an open position"
    )
    for code, _unit in REASON_FIGURES.items():
        words = reason_words(REASON_NAMES[code], math.nan, math.nan)
        assert words and not any(ch.isdigit() for ch in words)


def test_an_unknown_reason_is_shown_as_its_name() -> None:
    assert reason_words("some_new_rule") == "some new rule"


def test_every_failing_check_is_said_after_the_first() -> None:
    text = refusal_text(
        {
            "reason": "risk_per_trade",
            "risk_value": 0.0231,
            "risk_limit": 0.02,
            "also": ["max_notional", "loss_streak_cooldown"],
        },
        "USDT",
    )
    assert text == "risk 2.31 % of equity > limit 2.00 %; also: order notional over its limit, loss-streak cool-down"
