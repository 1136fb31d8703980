"""Each pre-trade rule: accepted just inside its limit, refused just outside, with its own reason code."""

from __future__ import annotations

import numpy as np
import pytest

from bot4.core import records
from bot4.core.risk import check_order_nb, size_for_signal_nb
from tests.harness import make_core

GENEROUS = dict(
    max_order_notional_usd=1e12,
    max_symbol_exposure_usd=1e12,
    max_gross_exposure_usd=1e12,
    max_var_frac=1.0,
    order_burst=1_000_000,
)


def core_with(**overrides: object):  # type: ignore[no-untyped-def]
    core = make_core(**{**GENEROUS, **overrides})
    st = core.state
    st.sym["last_px"] = 100.0
    st.core["clock_ns"][0] = 10**18
    return core, st


def check(st, s=0, side=1, price=100.0, size=1.0, stop=99.0, flags=0):  # type: ignore[no-untyped-def]
    return int(check_order_nb(st, s, side, price, size, stop, flags))


def test_a_plain_order_passes() -> None:
    _, st = core_with()
    assert check(st) == records.REASON_OK


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"s": 7}, records.REASON_UNKNOWN_SYMBOL),
        ({"s": -1}, records.REASON_UNKNOWN_SYMBOL),
        ({"size": float("nan")}, records.REASON_BAD_SIZE),
        ({"size": -1.0}, records.REASON_BAD_SIZE),
        ({"size": 0.0}, records.REASON_BAD_SIZE),
        ({"size": float("inf")}, records.REASON_BAD_SIZE),
        ({"price": float("nan")}, records.REASON_BAD_PRICE),
        ({"price": -5.0}, records.REASON_BAD_PRICE),
        ({"stop": float("nan")}, records.REASON_STOP_MISSING),
        ({"stop": 0.0}, records.REASON_STOP_MISSING),
        ({"stop": 100.0}, records.REASON_STOP_WRONG_SIDE),
        ({"stop": 101.0}, records.REASON_STOP_WRONG_SIDE),
        ({"side": -1, "stop": 99.0}, records.REASON_STOP_WRONG_SIDE),
    ],
)
def test_sanity_and_stop_rules(kwargs: dict, reason: int) -> None:
    _, st = core_with()
    assert check(st, **kwargs) == reason


def test_no_market_price_yet() -> None:
    _, st = core_with()
    st.sym["last_px"][0] = np.nan
    assert check(st) == records.REASON_NO_MARKET_PRICE


def test_risk_per_trade_exactly_two_percent() -> None:
    _, st = core_with()
    equity = st.acct["equity"][0]
    size_at_limit = 0.02 * equity / 1.0  # entry 100, stop 99
    assert check(st, size=size_at_limit) == records.REASON_OK
    assert check(st, size=size_at_limit * 1.0001) == records.REASON_RISK_PER_TRADE


def test_max_order_notional_edge() -> None:
    _, st = core_with(max_order_notional_usd=10_000.0)
    assert check(st, size=100.0, stop=99.9) == records.REASON_OK  # 10,000 exactly
    assert check(st, size=100.01, stop=99.9) == records.REASON_MAX_NOTIONAL


def test_symbol_exposure_counts_position_and_working_orders() -> None:
    _, st = core_with(max_symbol_exposure_usd=10_000.0)
    st.sym["qty"][0] = 50.0  # 5,000 held
    assert check(st, size=50.0, stop=99.9) == records.REASON_OK
    assert check(st, size=50.01, stop=99.9) == records.REASON_SYMBOL_EXPOSURE


def test_gross_exposure_edge() -> None:
    core, st = core_with(max_gross_exposure_usd=20_000.0)
    st.sym["qty"][1] = 150.0  # 15,000 in the other symbol
    core.publish()  # re-marks exposures
    assert check(st, size=50.0, stop=99.9) == records.REASON_OK
    assert check(st, size=50.01, stop=99.9) == records.REASON_GROSS_EXPOSURE


@pytest.mark.parametrize(("price", "reason"), [(105.0, records.REASON_OK), (95.0, records.REASON_OK), (105.01, records.REASON_PRICE_BAND), (94.99, records.REASON_PRICE_BAND)])
def test_price_band_edges(price: float, reason: int) -> None:
    _, st = core_with(price_band_frac=0.05)
    assert check(st, price=price, stop=price - 1.0) == reason


def test_correlation_limit_is_exclusive_at_point_seven() -> None:
    _, st = core_with()
    st.sym["qty"][1] = 1.0
    st.risk.corr[0, 1] = st.risk.corr[1, 0] = 0.7
    assert check(st) == records.REASON_CORRELATION
    st.risk.corr[0, 1] = st.risk.corr[1, 0] = 0.6999
    assert check(st) == records.REASON_OK


def test_correlated_hedge_is_not_refused() -> None:
    _, st = core_with()
    st.sym["qty"][1] = -1.0  # short the other, long this: a hedge
    st.risk.corr[0, 1] = st.risk.corr[1, 0] = 0.95
    assert check(st) == records.REASON_OK
    assert check(st, side=-1, price=100.0, stop=101.0) == records.REASON_CORRELATION  # short both: the same bet


def test_var_limit_edge() -> None:
    # 100 samples of returns for symbol 0 whose worst is -5 %; VaR 99 % of 100 samples is the worst outcome
    rets = np.linspace(-0.05, 0.05, 100)
    _, st = core_with(var_window=100, var_confidence=0.99, max_var_frac=0.0005, correlation_min_samples=20)
    st.risk.rets[0, :100] = rets
    st.core["ret_count"][0] = 100
    st.core["var_dirty"][0] = 1
    # buying 10 at 100 = 1,000 of value; worst sample loses 5 % = 50 = 0.0005 of 100,000 equity: at the limit
    assert check(st, size=10.0, stop=99.9) == records.REASON_OK
    assert check(st, size=10.01, stop=99.9) == records.REASON_VAR
    # selling gains on the worst sample; its VaR is the best sample mirrored: also 50
    assert check(st, side=-1, size=10.0, stop=100.1) == records.REASON_OK


def test_order_rate_token_bucket_refills_on_the_market_clock() -> None:
    _, st = core_with(order_burst=3, max_orders_per_s=2.0)
    assert [check(st) for _ in range(4)] == [records.REASON_OK, records.REASON_OK, records.REASON_OK, records.REASON_ORDER_RATE]
    st.core["clock_ns"][0] += 500_000_000  # half a second: one token at 2 per second
    assert check(st) == records.REASON_OK
    assert check(st) == records.REASON_ORDER_RATE


def test_protective_exits_skip_the_rate_bucket() -> None:
    _, st = core_with(order_burst=1)
    st.sym["qty"][0] = 2.0
    assert check(st) == records.REASON_OK
    assert check(st) == records.REASON_ORDER_RATE
    assert check(st, side=-1, size=2.0, stop=np.nan, flags=records.FLAG_STOP_EXIT | records.FLAG_REDUCE_ONLY) == records.REASON_OK


def test_halted_admits_only_protective_reductions() -> None:
    _, st = core_with()
    st.sym["qty"][0] = 2.0
    st.core["trading_state"][0] = records.STATE_HALTED
    assert check(st) == records.REASON_HALTED
    assert check(st, side=-1, size=1.0, stop=np.nan) == records.REASON_HALTED
    assert check(st, side=-1, size=2.0, stop=np.nan, flags=records.FLAG_STOP_EXIT) == records.REASON_OK
    assert check(st, side=-1, size=3.0, stop=np.nan, flags=records.FLAG_STOP_EXIT) == records.REASON_HALTED  # would flip


def test_reducing_admits_only_reductions() -> None:
    _, st = core_with()
    st.sym["qty"][0] = 2.0
    st.core["trading_state"][0] = records.STATE_REDUCING
    assert check(st) == records.REASON_REDUCING
    assert check(st, side=-1, size=1.0, stop=np.nan) == records.REASON_OK
    assert check(st, side=-1, size=2.5, price=100.0, stop=101.0) == records.REASON_REDUCING


def test_reduce_only_flag_refuses_an_increase() -> None:
    _, st = core_with()
    assert check(st, flags=records.FLAG_REDUCE_ONLY) == records.REASON_REDUCE_ONLY


def test_breakers_cooldown_and_pause() -> None:
    core, st = core_with()
    n_venues = st.risk.tokens.shape[0]
    st.brk["state"][0] = records.BREAKER_OPEN
    assert check(st) == records.REASON_VENUE_BREAKER
    st.brk["state"][0] = 0
    st.brk["state"][n_venues] = records.BREAKER_OPEN
    assert check(st) == records.REASON_FEED_STALE
    st.sym["qty"][0] = 1.0
    assert check(st, side=-1, size=1.0, stop=np.nan) == records.REASON_OK  # exits still allowed on a stale feed
    st.sym["qty"][0] = 0.0
    st.brk["state"][n_venues] = 0
    st.core["entry_cooldown_until"][0] = st.core["clock_ns"][0] + 1
    assert check(st) == records.REASON_COOLDOWN
    st.core["entry_cooldown_until"][0] = 0
    st.core["paused"][0] = 1
    assert check(st) == records.REASON_PAUSED
    assert check(st, flags=records.FLAG_MANUAL) == records.REASON_OK


def test_sizing_two_percent_rule_and_step() -> None:
    core, st = core_with(risk_per_trade_frac=0.01)
    size = size_for_signal_nb(st, 0, 1, 100.0, 99.0)
    assert size == pytest.approx(1000.0)  # 1 % of 100,000 over a 1.0 stop distance
    assert abs(size / 1e-5 - round(size / 1e-5)) < 1e-6  # a multiple of the BTC step
    core2, st2 = core_with(max_order_notional_usd=5_000.0)
    assert size_for_signal_nb(st2, 0, 1, 100.0, 99.0) == pytest.approx(50.0)  # clipped by notional
    assert size_for_signal_nb(st2, 0, 1, 100.0, 100.0) == 0.0  # no stop distance: dropped
    st2.acct["equity"][0] = 1e-9
    assert size_for_signal_nb(st2, 0, 1, 100.0, 99.0) == 0.0  # rounds to zero: dropped
