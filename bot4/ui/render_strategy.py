"""The Strategy screen's text: what runs with which settings, what each symbol's strategy sees and holds, its signal
counts, and what it did with its signals (orders sent, refusals in words). Pure functions of a :class:`StrategyView`;
:class:`DecisionLog` keeps the strategy's decisions from the frames' activity."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textual.markup import escape

from bot4.core import records
from bot4.core.runner import Position
from bot4.ui.refusals import refusal_text
from bot4.ui.render import clock, ljust, money, num, rjust, wrap_parts
from bot4.ui.source import View, strategy_line

DECISIONS_KEPT = 200
VIEW_WORDS = {1: "[$success]long[/]", -1: "[$error]short[/]", 0: "flat"}


@dataclass(frozen=True)
class StrategyView:
    """What the Strategy screen shows."""

    info: Mapping[str, Any]  # bot4.runtime.strategyinfo.strategy_info (empty: an engine that does not send it)
    positions: dict[str, Position] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)
    decisions: Sequence[Mapping[str, Any]] = ()  # the strategy's orders and refusals, oldest first
    ccy: str = "USD"


def _manual(o: Mapping[str, Any]) -> bool:
    return bool(int(o.get("flags", 0) or 0) & records.FLAG_MANUAL)


class DecisionLog:
    """The strategy's own decisions (orders it sent, orders refused), kept past the activity's short window."""

    def __init__(self) -> None:
        self.items: deque[dict[str, Any]] = deque(maxlen=DECISIONS_KEPT)
        self._seen: deque[tuple[object, ...]] = deque(maxlen=4 * DECISIONS_KEPT)
        self._seen_set: set[tuple[object, ...]] = set()

    def take(self, view: View) -> None:
        for kind, items in (("order", view.orders), ("refused", view.rejects)):
            for o in items:
                if _manual(o) or (kind == "order" and o.get("action") != "submit"):
                    continue
                key = (kind, o.get("coid"), o.get("ts"), o.get("symbol"), o.get("side"), o.get("reason"))
                if key in self._seen_set:
                    continue
                if len(self._seen) == self._seen.maxlen:
                    self._seen_set.discard(self._seen[0])
                self._seen.append(key)
                self._seen_set.add(key)
                self.items.append({**o, "decision": kind})


def header_markup(sv: StrategyView, rows: int = 0, cols: int = 0) -> str:
    """Each strategy in one (wrapped) line with its settings, and what it does with a person's positions."""
    strategies = sv.info.get("strategies")
    if strategies is None:
        return "[$foreground-muted]the attached engine does not send its strategies[/]"
    if not strategies:
        return "[b]no strategy runs[/b]: only manual orders trade"
    lines = []
    risk = sv.info.get("risk_per_trade_frac")
    for s in strategies:
        lines += wrap_parts(("[b]" + escape(strategy_line(s, risk)).replace(" · ", "[/b] · ", 1)).split(" · "), cols)
        hands = "managed by the strategy" if s.get("manage_manual") else "left alone (manage_manual = false)"
        lines.append(f"  [$foreground-muted]a person's positions:[/] {hands}")
    return "\n".join(lines)


def _waiting(sym: Mapping[str, Any]) -> str:
    deferred = int(sym.get("deferred", 0) or 0)
    if deferred:
        return f"{'buy' if deferred > 0 else 'sell'} after the working order"
    if sym.get("exit_wanted"):
        return "[$warning]exit wanted[/]"
    return ""


def symbols_markup(sv: StrategyView, rows: int = 0, cols: int = 0) -> str:
    """Per symbol: its strategy's view (or how far its warm-up is), the position and who opened it, its stop."""
    wide = cols <= 0 or cols >= 100
    head = f"{'symbol':<10} {'strategy':<10} {'view':<10} {'position':>16} {'held by':<22}"
    lines = ["[b]" + head + (f" {'stop':>11}  waiting" if wide else "") + "[/b]"]
    names = [str(s.get("kind", "?")).rpartition(":")[2] for s in sv.info.get("strategies", [])]
    for sym in sv.info.get("symbols", []):
        i = int(sym.get("strategy", -1))
        name = names[i] if 0 <= i < len(names) else "—"
        seen, need = sym.get("seen"), sym.get("warm_up")
        if i < 0:
            view = "—"
        elif seen is not None and need is not None and seen < need:
            view = f"warm {seen}/{need}"
        elif sym.get("view") is None:
            view = "its own"  # a user strategy keeps its view in its own state
        else:
            view = VIEW_WORDS.get(int(sym["view"]), "?")
        pos = sv.positions.get(str(sym.get("symbol")))
        qty = pos.qty if pos is not None else 0.0
        side = "[$success]long[/]" if qty > 0 else "[$error]short[/]" if qty < 0 else "flat"
        position = f"{side} {abs(qty):.5f}" if qty else side
        if not qty:
            held = ""
        elif sym.get("manual") and i < 0:
            held = "[$accent]manual[/]"
        elif sym.get("manual"):
            managed = 0 <= i < len(names) and sv.info["strategies"][i].get("manage_manual")
            held = "[$accent]manual[/]" + (", managed" if managed else ", left alone")
        else:
            held = "strategy"
        line = (
            f"{escape(str(sym.get('symbol'))):<10} {escape(name[:10]):<10} {ljust(view, 10)} {rjust(position, 16)}"
            f" {ljust(held, 22)}"
        )
        if wide:
            stop = money(pos.stop_px) if pos is not None and qty else ""
            line += f" {stop:>11}  {_waiting(sym)}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def counts_markup(sv: StrategyView, rows: int = 0, cols: int = 0) -> str:
    """The signals and what came of them, since the engine started."""
    c = sv.counters
    parts = [
        f"[b]signals[/b] {c.get('signals', 0):,}",
        f"entries {c.get('entries', 0):,}",
        f"exits {c.get('exits', 0):,}",
        f"stop exits {c.get('stop_exits', 0):,}",
        f"deferred behind a working order {c.get('signals_deferred', 0):,}",
        f"held: a person's position {c.get('signals_manual_held', 0):,}",
        f"refused by the risk checks {c.get('risk_rejects', 0):,} (manual orders too)",
    ]
    return "\n".join(wrap_parts(parts, cols))


def _decision_line(d: Mapping[str, Any], ccy: str) -> str:
    ts = d.get("ts_mkt") or d.get("ts")
    side = str(d.get("side", "?"))
    color = "$success" if side == "buy" else "$error"
    head = f"{clock(num(ts))} {escape(str(d.get('symbol'))):<9} [{color}]{side:<4}[/]"
    if d["decision"] == "refused":
        return f"{head} [$warning]refused: {escape(refusal_text(d, ccy))}[/]"
    flags = int(d.get("flags", 0) or 0)
    what = (
        "stop exit"
        if flags & records.FLAG_STOP_EXIT
        else "kill exit"
        if flags & records.FLAG_KILL
        else "exit"
        if flags & records.FLAG_REDUCE_ONLY
        else "entry"
    )
    price = num(d.get("price"))
    where = f"limit {money(price)}" if price == price else "market"
    stop = num(d.get("stop_px"))
    stop_txt = f", stop {money(stop)}" if what == "entry" and stop == stop else ""
    return f"{head} {what} {num(d.get('size')):.5f} {where}{stop_txt}"


def decisions_markup(sv: StrategyView, rows: int = 0, cols: int = 0) -> str:
    """What the strategy did with its signals, latest first (market time on recorded data)."""
    if not sv.decisions:
        return "[$foreground-muted]no order from the strategy yet[/]"
    lines = [_decision_line(d, sv.ccy) for d in reversed(sv.decisions)]
    return "\n".join(lines[: rows - 2] if rows > 2 else lines)
