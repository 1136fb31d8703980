"""Typed, frozen configuration of the core: instruments, strategies, risk limits, breakers.

Every limit the kernels enforce comes from here (none is a literal in a kernel). Each class validates itself on
construction and raises :class:`ConfigError` naming the key, its value and what it must be. The spec's hard limits
are ceilings: config may tighten them (a smaller drawdown, a lower correlation) but never loosen them.
Loading from TOML and environment overrides live in ``bot4.runtime``; this module only knows the shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

SPEC_MAX_RISK_PER_TRADE_FRAC = 0.02
SPEC_MAX_DRAWDOWN_FRAC = 0.15
SPEC_MAX_CORRELATION = 0.7


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type, out of range or unknown."""


def _check(key: str, value: object, ok: bool, must: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key} = {value!r}: must be {must}")


def _finite_number(key: str, value: object) -> float:
    _check(key, value, isinstance(value, int | float) and not isinstance(value, bool), "a number")
    _check(key, value, math.isfinite(float(value)), "finite")  # type: ignore[arg-type]
    return float(value)  # type: ignore[arg-type]


def _frac(key: str, value: object, low: float = 0.0, high: float = 1.0, low_open: bool = True) -> None:
    v = _finite_number(key, value)
    ok = (v > low if low_open else v >= low) and v <= high
    _check(key, value, ok, f"between {low} ({'exclusive' if low_open else 'inclusive'}) and {high}")


def _positive(key: str, value: object) -> None:
    _check(key, value, _finite_number(key, value) > 0, "> 0")


def _non_negative(key: str, value: object) -> None:
    _check(key, value, _finite_number(key, value) >= 0, ">= 0")


def _int_at_least(key: str, value: object, low: int) -> None:
    _check(key, value, isinstance(value, int) and not isinstance(value, bool) and value >= low, f"an integer >= {low}")


@dataclass(frozen=True)
class InstrumentConfig:
    """One tradable symbol on one venue."""

    symbol: str  # ccxt unified symbol, e.g. "BTC/USDT"
    venue: str = "paper"  # venue name from the venues section
    size_step: float = 1e-5  # base units; order sizes are rounded down to a multiple
    price_tick: float = 0.01  # quote units
    min_size: float = 1e-5  # base units; smaller orders are dropped
    max_exposure_usd: float | None = None  # per-symbol limit; None = risk.max_symbol_exposure_usd

    def __post_init__(self) -> None:
        _check("instruments.symbol", self.symbol, isinstance(self.symbol, str) and "/" in self.symbol, "BASE/QUOTE")
        _positive(f"instruments[{self.symbol}].size_step", self.size_step)
        _positive(f"instruments[{self.symbol}].price_tick", self.price_tick)
        _non_negative(f"instruments[{self.symbol}].min_size", self.min_size)
        if self.max_exposure_usd is not None:
            _positive(f"instruments[{self.symbol}].max_exposure_usd", self.max_exposure_usd)


STRATEGY_KINDS = ("ema_cross", "breakout", "zscore")
BUILTIN_PARAMS = {  # the fields each built-in reads
    "ema_cross": ("fast_period", "slow_period", "stop_frac", "take_profit_frac"),
    "breakout": ("lookback", "stop_frac", "take_profit_frac"),
    "zscore": ("window", "entry_z", "exit_z", "stop_frac", "take_profit_frac"),
}


@dataclass(frozen=True)
class StrategyConfig:
    """A strategy applied to some symbols. Which parameters count depends on ``kind``.

    ``kind`` is a built-in (``ema_cross``, ``breakout``, ``zscore``: the fields below) or a user strategy,
    ``"path/to/file.py:ClassName"`` (or ``"package.module:ClassName"``), whose parameters are ``params``, checked
    against the types and limits its class declares.
    """

    kind: str = "ema_cross"  # ema_cross | breakout | zscore | path/to/file.py:ClassName
    symbols: tuple[str, ...] = ()  # empty = every instrument
    fast_period: int = 12  # ema_cross: ticks in the fast EMA
    slow_period: int = 26  # ema_cross: ticks in the slow EMA
    lookback: int = 100  # breakout: ticks in the channel
    window: int = 100  # zscore: ticks in the rolling mean/std
    entry_z: float = 2.0  # zscore: |z| to enter against the move
    exit_z: float = 0.5  # zscore: |z| under which the position is closed
    stop_frac: float = 0.005  # stop-loss distance from entry, fraction of price
    take_profit_frac: float = 0.0  # take-profit distance, fraction of price (0 = none)
    params: dict[str, Any] = field(default_factory=dict, hash=False)  # a user strategy's parameters
    debug: bool = False  # a user strategy's handlers run as plain Python (tracebacks at your line; slow)
    manage_manual: bool = False  # the strategy may exit or flip a position a person opened (default: leaves it alone)

    def __post_init__(self) -> None:
        _check("strategy.debug", self.debug, isinstance(self.debug, bool), "true or false")
        _check("strategy.manage_manual", self.manage_manual, isinstance(self.manage_manual, bool), "true or false")
        _check("strategy.params", self.params, isinstance(self.params, dict), "a table of the strategy's parameters")
        if ":" in str(self.kind):
            from bot4.core.usercode import load_strategy

            load_strategy(self.kind).resolve_params(self.params)  # one clear line for a wrong name, type or range
        else:
            _check("strategy.kind", self.kind, self.kind in STRATEGY_KINDS,
                   f"one of {', '.join(STRATEGY_KINDS)}, or 'path/to/file.py:ClassName'")
            _check("strategy.params", self.params, not self.params, "empty: params are for user strategies")
        _int_at_least("strategy.fast_period", self.fast_period, 1)
        _int_at_least("strategy.slow_period", self.slow_period, 2)
        _check("strategy.slow_period", self.slow_period, self.slow_period > self.fast_period, "> fast_period")
        _int_at_least("strategy.lookback", self.lookback, 2)
        _int_at_least("strategy.window", self.window, 2)
        _positive("strategy.entry_z", self.entry_z)
        _non_negative("strategy.exit_z", self.exit_z)
        _check("strategy.exit_z", self.exit_z, self.exit_z < self.entry_z, "< entry_z")
        _frac("strategy.stop_frac", self.stop_frac, 0.0, 0.5)
        _frac("strategy.take_profit_frac", self.take_profit_frac, 0.0, 1.0, low_open=False)


    def describe(self) -> str:
        """The strategy with its parameters in one line: ``ema_cross(fast_period=12, ...)``,
        ``MyCross(fast=10, ...) from my_cross.py``."""
        if ":" in self.kind:
            from bot4.core.usercode import load_strategy

            loaded = load_strategy(self.kind)
            values = loaded.resolve_params(self.params)
            args = ", ".join(f"{k}={v}" for k, v in values.items())
            return f"{loaded.name}({args}) from {loaded.path.name}" + (" [debug: plain Python]" if self.debug else "")
        return f"{self.kind}(" + ", ".join(f"{k}={getattr(self, k)}" for k in BUILTIN_PARAMS[self.kind]) + ")"


@dataclass(frozen=True)
class RiskConfig:
    """Pre-trade limits and the drawdown breaker. Units are in the names."""

    initial_equity_usd: float = 100_000.0  # account equity at the start of a fresh journal
    risk_per_trade_frac: float = 0.01  # sizing: equity fraction put at risk (entry to stop) by one trade
    max_risk_per_trade_frac: float = SPEC_MAX_RISK_PER_TRADE_FRAC  # rejection limit, <= 2 %
    max_order_notional_usd: float = 50_000.0  # one order's size * price
    max_symbol_exposure_usd: float = 100_000.0  # |position| * price per symbol (instruments may override)
    max_gross_exposure_usd: float = 150_000.0  # sum over symbols of |position| * price
    price_band_frac: float = 0.05  # an order's price within this fraction of the last trade
    max_orders_per_s: float = 20.0  # token bucket refill per venue (market clock)
    order_burst: int = 40  # token bucket depth per venue
    max_correlation: float = SPEC_MAX_CORRELATION  # a new position's return correlation with an open one, < 0.7
    correlation_window: int = 60  # return samples in the correlation window
    correlation_min_samples: int = 20  # below this many samples the check cannot judge and admits
    return_sample_interval_s: float = 1.0  # returns are sampled on this market-clock grid
    var_confidence: float = 0.99  # historical VaR confidence
    var_window: int = 100  # return samples in the VaR window
    max_var_frac: float = 0.05  # portfolio VaR with the new order, fraction of equity
    drawdown_warn_frac: float = 0.10  # ACTIVE -> REDUCING
    max_drawdown_frac: float = SPEC_MAX_DRAWDOWN_FRAC  # -> HALTED, <= 15 %
    rearm_cooldown_s: float = 300.0  # after a halt, re-arm is refused this long (wall clock)
    loss_streak_max: int = 3  # this many losing trades in a row force a cool-down
    loss_streak_cooldown_s: float = 900.0  # no new entries for this long (market clock)
    flatten_on_kill: bool = False  # the kill switch also closes every position at market
    outlier_frac: float = 0.2  # a print this far from the symbol's last accepted price is refused as an outlier...
    outlier_confirm: int = 5  # ...unless this many in a row agree on the new level (the market moved): then taken

    def __post_init__(self) -> None:
        _positive("risk.initial_equity_usd", self.initial_equity_usd)
        _frac("risk.max_risk_per_trade_frac", self.max_risk_per_trade_frac, 0.0, SPEC_MAX_RISK_PER_TRADE_FRAC)
        _frac("risk.risk_per_trade_frac", self.risk_per_trade_frac, 0.0, self.max_risk_per_trade_frac)
        _positive("risk.max_order_notional_usd", self.max_order_notional_usd)
        _positive("risk.max_symbol_exposure_usd", self.max_symbol_exposure_usd)
        _positive("risk.max_gross_exposure_usd", self.max_gross_exposure_usd)
        _frac("risk.price_band_frac", self.price_band_frac, 0.0, 1.0)
        _positive("risk.max_orders_per_s", self.max_orders_per_s)
        _int_at_least("risk.order_burst", self.order_burst, 1)
        _frac("risk.max_correlation", self.max_correlation, 0.0, SPEC_MAX_CORRELATION)
        _int_at_least("risk.correlation_window", self.correlation_window, 3)
        _int_at_least("risk.correlation_min_samples", self.correlation_min_samples, 3)
        _check(
            "risk.correlation_min_samples",
            self.correlation_min_samples,
            self.correlation_min_samples <= self.correlation_window,
            "<= risk.correlation_window",
        )
        _positive("risk.return_sample_interval_s", self.return_sample_interval_s)
        _frac("risk.var_confidence", self.var_confidence, 0.5, 0.9999)
        _int_at_least("risk.var_window", self.var_window, 10)
        _frac("risk.max_var_frac", self.max_var_frac, 0.0, 1.0)
        _frac("risk.drawdown_warn_frac", self.drawdown_warn_frac, 0.0, SPEC_MAX_DRAWDOWN_FRAC)
        _frac("risk.max_drawdown_frac", self.max_drawdown_frac, 0.0, SPEC_MAX_DRAWDOWN_FRAC)
        _check(
            "risk.drawdown_warn_frac",
            self.drawdown_warn_frac,
            self.drawdown_warn_frac < self.max_drawdown_frac,
            "< risk.max_drawdown_frac",
        )
        _non_negative("risk.rearm_cooldown_s", self.rearm_cooldown_s)
        _int_at_least("risk.loss_streak_max", self.loss_streak_max, 1)
        _non_negative("risk.loss_streak_cooldown_s", self.loss_streak_cooldown_s)
        _check("risk.flatten_on_kill", self.flatten_on_kill, isinstance(self.flatten_on_kill, bool), "true or false")
        _frac("risk.outlier_frac", self.outlier_frac, 0.0, 10.0)
        _int_at_least("risk.outlier_confirm", self.outlier_confirm, 1)


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds of one circuit breaker (the same shape for venues and feeds)."""

    error_rate: float = 0.5  # OPEN when this fraction of the last `window` calls failed...
    min_calls: int = 10  # ...and at least this many calls are in the window
    window: int = 64  # calls remembered for the error rate (at most 64)
    consecutive_failures: int = 5  # OPEN after this many failures in a row
    slow_call_s: float = 2.0  # a call slower than this counts as a failure
    stale_after_s: float = 10.0  # OPEN when nothing succeeded for this long (0 = never)
    open_timeout_s: float = 5.0  # OPEN -> HALF_OPEN after this long
    probes: int = 3  # successful probes in HALF_OPEN needed to close

    def __post_init__(self) -> None:
        _frac("breaker.error_rate", self.error_rate, 0.0, 1.0)
        _int_at_least("breaker.min_calls", self.min_calls, 1)
        _int_at_least("breaker.window", self.window, 1)
        _check("breaker.window", self.window, self.window <= 64, "<= 64")
        _int_at_least("breaker.consecutive_failures", self.consecutive_failures, 1)
        _positive("breaker.slow_call_s", self.slow_call_s)
        _non_negative("breaker.stale_after_s", self.stale_after_s)
        _positive("breaker.open_timeout_s", self.open_timeout_s)
        _int_at_least("breaker.probes", self.probes, 1)


def _default_instruments() -> tuple[InstrumentConfig, ...]:
    return (
        InstrumentConfig("BTC/USDT", size_step=1e-5, price_tick=0.01, min_size=1e-5),
        InstrumentConfig("ETH/USDT", size_step=1e-4, price_tick=0.01, min_size=1e-4),
    )


@dataclass(frozen=True)
class CoreConfig:
    """Everything the core needs to build its state."""

    instruments: tuple[InstrumentConfig, ...] = field(default_factory=_default_instruments)
    strategies: tuple[StrategyConfig, ...] = field(default_factory=lambda: (StrategyConfig(),))
    risk: RiskConfig = field(default_factory=RiskConfig)
    venue_breaker: BreakerConfig = field(default_factory=BreakerConfig)
    feed_breaker: BreakerConfig = field(
        default_factory=lambda: BreakerConfig(slow_call_s=1.0, stale_after_s=10.0, consecutive_failures=3)
    )
    md_ring_capacity: int = 1 << 16
    order_ring_capacity: int = 1 << 12
    fill_ring_capacity: int = 1 << 12
    order_pool_capacity: int = 10_000
    batch_max: int = 256  # records drained from one ring per core step
    warm_every_ticks: int = 32  # a dry run of the pre-trade checks every this many ticks and when idle (0 = never)

    def __post_init__(self) -> None:
        _check("instruments", self.instruments, len(self.instruments) > 0, "at least one instrument")
        names = [i.symbol for i in self.instruments]
        _check("instruments", names, len(set(names)) == len(names), "unique symbols")
        covered: set[str] = set()
        for s in self.strategies:
            for sym in s.symbols:
                _check("strategy.symbols", sym, sym in names, f"one of the instruments {names}")
                _check("strategy.symbols", sym, sym not in covered, "covered by one strategy only")
                covered.add(sym)
        for key in ("md_ring_capacity", "order_ring_capacity", "fill_ring_capacity"):
            value = getattr(self, key)
            _check(key, value, isinstance(value, int) and value >= 2 and value & (value - 1) == 0, "a power of two")
        _int_at_least("order_pool_capacity", self.order_pool_capacity, 16)
        _check("order_pool_capacity", self.order_pool_capacity, self.order_pool_capacity <= 1 << 14, "<= 16384")
        _int_at_least("batch_max", self.batch_max, 1)
        _int_at_least("warm_every_ticks", self.warm_every_ticks, 0)

    def describe_strategies(self) -> str:
        """Which strategy trades which symbols, with its parameters, in one line."""
        parts = []
        for s in self.strategies:
            names = [sym for sym in self.symbols if self.strategy_for(sym) is s]
            if names:
                parts.append(f"{', '.join(names)}: {s.describe()}")
        return "; ".join(parts) or "none"

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(i.symbol for i in self.instruments)

    @property
    def venues(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for i in self.instruments:
            seen.setdefault(i.venue, None)
        return tuple(seen)

    def strategy_for(self, symbol: str) -> StrategyConfig | None:
        for s in self.strategies:
            if not s.symbols or symbol in s.symbols:
                if s.symbols or not any(symbol in o.symbols for o in self.strategies):
                    return s
        return None


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
