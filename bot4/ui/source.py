"""Where the UI's views come from and where its commands go: an in-process engine (or, attached, a remote one).

The UI never touches the core's arrays: it reads :class:`View` objects (a frozen snapshot plus recent activity)
and calls the command methods of its source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot4.core.runner import CoreSnapshot
from bot4.runtime.engine import Engine


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
