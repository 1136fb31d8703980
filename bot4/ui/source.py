"""Where the UI's views come from and where its commands go: an in-process engine (or, attached, a remote one).

The UI never touches the core's arrays: it reads :class:`View` objects (a frozen snapshot plus recent activity)
and calls the command methods of its source.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot4.core.config import CoreConfig, StrategyConfig
from bot4.core.runner import CoreSnapshot
from bot4.runtime.strategyinfo import strategy_entry
from bot4.runtime.trades import Fill, journal_fills

if TYPE_CHECKING:  # the engine is handed in: a UI without one (the report viewer) does not load the engine's modules
    from bot4.runtime.engine import Engine


def strategy_line(entry: Mapping[str, Any], risk_frac: float | None = None) -> str:
    """``ema_cross(fast_period=12, slow_period=26) · stop 0.50 % · risk 1.00 % of equity a trade · BTC/USDT``:
    what runs, with which settings (the parts joined by " · "), from a ``bot4.runtime.strategyinfo`` entry."""
    parts = [str(entry.get("text", "?")), f"stop {float(entry.get('stop_frac', 0.0)) * 100:.2f} %"]
    if entry.get("take_profit_frac"):
        parts.append(f"target {float(entry['take_profit_frac']) * 100:.2f} %")
    if risk_frac is not None:
        parts.append(f"risk {risk_frac * 100:.2f} % of equity a trade")
    parts.append("every symbol" if entry.get("every") else ", ".join(entry.get("symbols", ())) or "no symbol")
    return " · ".join(parts)


def describe_strategy(s: StrategyConfig, risk_frac: float | None = None, config: CoreConfig | None = None) -> str:
    """:func:`strategy_line` for one configured strategy (of ``config``: the default instruments when not given)."""
    return strategy_line(strategy_entry(config or CoreConfig(strategies=(s,)), s), risk_frac)


@dataclass(frozen=True)
class View:
    """Everything one frame shows."""

    snapshot: CoreSnapshot
    symbols: tuple[str, ...]
    selected: str
    orders: list[dict[str, object]] = field(default_factory=list)
    fills: list[dict[str, object]] = field(default_factory=list)
    rejects: list[dict[str, object]] = field(default_factory=list)
    transitions: list[dict[str, object]] = field(default_factory=list)
    prices: list[tuple[float, float]] = field(default_factory=list)  # (wall time, price) samples, oldest first
    open_orders: list[dict[str, object]] = field(default_factory=list)
    trades: list[dict[str, object]] = field(default_factory=list)  # the selected symbol's last market prints
    limits: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    latency: list[object] = field(default_factory=list)
    gate_open: bool = True
    paused: bool = False
    connected: bool = True
    source: str = "local paper"
    events: tuple[str, ...] = ()  # the events pane's lines (markup), oldest first: the app's own log of the engine
    manual: frozenset[str] = frozenset()  # symbols whose open position a person opened (a manual order)
    taken_s: float = field(default_factory=time.time)


class LocalSource:
    """The engine runs in this process (the default)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        venue = engine.venue.name
        feed = "live data" if engine.venue.streams_market_data else f"replay x{engine.config.replay.speed:g}"
        self.name = f"local · {venue} · {feed}" + (f" · {engine.user_strategy}" if engine.user_strategy else "")

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.engine.symbols

    def snapshot(self) -> CoreSnapshot:
        return self.engine.core.snapshot()

    def activity(self, selected: str) -> dict[str, object]:
        act = self.engine.activity()
        act["prices"] = list(self.engine.price_history.get(selected, ()))
        return act

    def kill(self) -> None:
        self.engine.kill("ui")

    def rearm(self, confirmation: int) -> None:
        self.engine.core.rearm(confirmation)

    def pause(self) -> None:
        self.engine.core.pause()

    def resume(self) -> None:
        self.engine.core.resume()

    def manual_order(self, symbol: str, side: int, size: float, stop_px: float, price: float | None) -> int:
        return self.engine.core.manual_order(symbol, side, size, stop_px=stop_px, price=price)

    def cancel(self, client_order_id: int) -> bool:
        """Ask the core to cancel one open order (its answer comes as a command result); False if not sent."""
        return self.engine.core.cancel(client_order_id) >= 0

    def trade_fills(self) -> tuple[list[Fill], bool]:
        """Every fill the journal holds (this run's and earlier runs'), and True: the history is complete."""
        return journal_fills(self.engine.journal.path), True

    def strategies(self) -> list[str]:
        """What runs, with which settings, from the engine's config."""
        cfg = self.engine.config.core
        return [describe_strategy(s, cfg.risk.risk_per_trade_frac, cfg) for s in cfg.strategies]

    def strategy_info(self) -> dict[str, Any]:
        """The strategies and what each symbol's strategy holds (bot4.runtime.strategyinfo)."""
        return self.engine.strategy_info()
