"""A refusal carries the figure its check measured and the limit it was held against (records.REASON_FIGURES)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot4.core import records
from tests.core.test_risk import check, core_with
from tests.harness import Harness, make_core


def figures(st) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    return float(st.core["refusal_value"][0]), float(st.core["refusal_limit"][0])


def test_risk_per_trade_figure_is_the_fraction_of_equity_at_risk() -> None:
    _, st = core_with()
    equity = float(st.acct["equity"][0])
    # 10 at risk a unit, 300 units: 3,000 at risk
    assert check(st, price=100.0, stop=90.0, size=300.0) == records.REASON_RISK_PER_TRADE
    value, limit = figures(st)
    assert value == pytest.approx(3_000.0 / equity)
    assert limit == pytest.approx(float(st.params["max_risk_frac"][0]))
    assert value > limit


@pytest.mark.parametrize(
    ("overrides", "kwargs", "reason", "value", "limit"),
    [
        ({"max_order_notional_usd": 500.0}, {"size": 6.0, "stop": 99.9}, records.REASON_MAX_NOTIONAL, 600.0, 500.0),
        ({"max_gross_exposure_usd": 450.0}, {"size": 5.0, "stop": 99.9}, records.REASON_GROSS_EXPOSURE, 500.0, 450.0),
        ({}, {"price": 150.0, "stop": 149.0}, records.REASON_PRICE_BAND, 0.5, None),
        ({}, {"stop": 101.0}, records.REASON_STOP_WRONG_SIDE, 101.0, 100.0),
    ],
)
def test_limit_figures(overrides: dict, kwargs: dict, reason: int, value: float, limit: float | None) -> None:
    _, st = core_with(**overrides)
    assert check(st, **kwargs) == reason
    got_value, got_limit = figures(st)
    assert got_value == pytest.approx(value)
    if limit is None:
        assert got_limit == pytest.approx(float(st.params["price_band"][0]))
    else:
        assert got_limit == pytest.approx(limit)


def test_cooldown_figure_is_the_time_left() -> None:
    _, st = core_with()
    st.core["entry_cooldown_until"][0] = int(st.core["clock_ns"][0]) + 90 * 10**9
    assert check(st) == records.REASON_COOLDOWN
    assert figures(st)[0] == pytest.approx(90.0)


def test_the_reject_record_carries_the_figures_and_a_plain_refusal_none() -> None:
    core = make_core(
        no_strategy=True,
        max_order_notional_usd=1e12,
        max_symbol_exposure_usd=1e12,
        max_gross_exposure_usd=1e12,
        max_var_frac=1.0,
    )
    h = Harness(core)
    h.tick(0, 100.0)
    core.manual_order("BTC/USDT", records.SIDE_BUY, 1.0, stop_px=float("nan"))
    core.drain()
    core.manual_order("BTC/USDT", records.SIDE_BUY, 10_000.0, stop_px=99.0)  # 10,000 at risk
    core.drain()
    rejects = np.zeros(8, records.ORDER_DTYPE)
    n = core.parts.rejects.pop_many(rejects)
    assert n == 2
    missing, risky = rejects[0], rejects[1]
    assert int(missing["reject_reason"]) == records.REASON_STOP_MISSING
    assert math.isnan(float(missing["risk_value"])) and math.isnan(float(missing["risk_limit"]))
    assert int(risky["reject_reason"]) == records.REASON_RISK_PER_TRADE
    equity = core.snapshot().equity
    assert float(risky["risk_value"]) == pytest.approx(10_000.0 / equity)
    assert float(risky["risk_limit"]) == pytest.approx(0.02)
    assert int(risky["flags"]) & records.FLAG_MANUAL


def test_a_refused_entry_names_every_check_it_fails_not_only_the_first() -> None:
    """Too big three ways (risk, notional, exposure) during a cool-down: the record says all four."""
    core = make_core(no_strategy=True, max_order_notional_usd=5_000.0, max_symbol_exposure_usd=8_000.0)
    h = Harness(core)
    h.tick(0, 100.0)
    st = core.state
    st.core["entry_cooldown_until"][0] = int(st.core["clock_ns"][0]) + 60 * 10**9
    core.manual_order("BTC/USDT", records.SIDE_BUY, 100.0, stop_px=50.0)  # 5,000 at risk, 10,000 notional
    core.drain()
    st.core["entry_cooldown_until"][0] = 0
    core.manual_order("BTC/USDT", records.SIDE_BUY, 60.0, stop_px=99.9)  # only the notional (6,000 > 5,000)
    core.drain()
    core.manual_order("BTC/USDT", records.SIDE_BUY, 1.0, stop_px=float("nan"))  # no stop, nothing else
    core.drain()
    rejects = np.zeros(8, records.ORDER_DTYPE)
    assert core.parts.rejects.pop_many(rejects) == 3

    def names(mask: int) -> set[str]:
        return {name for i, name in enumerate(records.REASON_NAMES) if mask >> i & 1}

    first = rejects[0]
    assert int(first["reject_reason"]) == records.REASON_COOLDOWN
    assert names(int(first["also_failed"])) == {"risk_per_trade", "max_notional", "symbol_exposure"}
    assert int(rejects[1]["reject_reason"]) == records.REASON_MAX_NOTIONAL
    assert int(rejects[1]["also_failed"]) == 0
    assert int(rejects[2]["reject_reason"]) == records.REASON_STOP_MISSING
    assert int(rejects[2]["also_failed"]) == 0
    assert int(core.state.core["refusal_also"][0]) == 0  # nothing left over for the next refusal
