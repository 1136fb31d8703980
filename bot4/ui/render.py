"""Pure functions from a :class:`View` to Textual markup. Colours are theme variables only ($success, $error…)."""

from __future__ import annotations

import math

from textual.markup import escape

from bot4.ui.model import LEVEL_COLOR, fmt_ns, level
from bot4.ui.source import View

STATE_COLOR = {"ACTIVE": "$success", "REDUCING": "$warning", "HALTED": "$error"}
BREAKER_COLOR = {"CLOSED": "$success", "HALF_OPEN": "$warning", "OPEN": "$error"}
SPARK = "▁▂▃▄▅▆▇█"


def spark(values: list[float], width: int = 24) -> str:
    vals = [v for v in values[-width:] if v == v]
    if not vals:
        return " " * width
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(SPARK[min(7, int((v - lo) / span * 7.999))] for v in vals).ljust(width)


def bar(frac: float, width: int = 20) -> str:
    frac = 0.0 if frac != frac else max(0.0, min(1.0, frac))
    full = int(frac * width)
    return "█" * full + "░" * (width - full)


def num(x: object) -> float:
    """A float from a snapshot field; None (JSON's NaN) becomes NaN."""
    return float("nan") if x is None else float(x)  # type: ignore[arg-type]


def money(x: float) -> str:
    return "—" if x != x else f"{x:,.2f}"


def banner_markup(view: View) -> str:
    s = view.snapshot
    if not view.connected:
        return f"[b]DISCONNECTED[/b] from {escape(view.source)} · retrying… · the figures below are stale"
    state = s.trading_state
    extra = ""
    if state == "HALTED":
        wait = s.rearm_wait_s
        extra = f" · re-arm [b]r[/b] (confirm {s.halt_seq})" + (f" in {wait:,.0f} s" if wait > 0 else "")
    if view.paused:
        extra += " · PAUSED"
    if not view.gate_open:
        extra += " · EXECUTION GATE CLOSED"
    return (
        f"[b]{state}[/b]{extra} · equity {money(s.equity)} · drawdown {s.drawdown * 100:.2f} %"
        f" · {escape(view.source)} · [b]k[/b] kill switch"
    )


def pipeline_markup(view: View) -> str:
    s = view.snapshot
    lines = ["[b]stage            p50       p95       p99     p99.9   last 60 s (p99)[/b]"]
    for row in view.latency:
        cells = []
        for p in row.percentiles:  # type: ignore[attr-defined]
            color = LEVEL_COLOR[level(p, row.limit_ns)]  # type: ignore[attr-defined]
            cells.append(f"[{color}]{fmt_ns(p):>9}[/]")
        worst = level(row.percentiles[2], row.limit_ns)  # type: ignore[attr-defined]
        lines.append(
            f"{row.name:<14} {' '.join(cells)}  [{LEVEL_COLOR[worst]}]{spark(row.history)}[/]"  # type: ignore[attr-defined]
            f" limit {fmt_ns(row.limit_ns)}"  # type: ignore[attr-defined]
        )
    r = view.rates
    lines.append("")
    lines.append(
        f"ticks/s {r.get('ticks_in', 0):>9,.0f}   orders/s {r.get('orders_out', 0):>6,.1f}"
        f"   fills/s {r.get('fills', 0):>6,.1f}   rejects/s {r.get('risk_rejects', 0):>6,.1f}"
    )
    rejects = s.stats.rejects_by_reason()
    if rejects:
        top = sorted(rejects.items(), key=lambda kv: -kv[1])[:6]
        lines.append("rejects: " + "  ".join(f"{escape(k)} [$warning]{v}[/]" for k, v in top))
    else:
        lines.append("rejects: none")
    ring_txt = []
    for ring in s.rings_view():
        if ring.name in ("md", "fills", "orders", "commands"):
            color = "$error" if ring.refused else "$success"
            ring_txt.append(f"{ring.name} {ring.depth}/{ring.capacity} [{color}]full×{ring.refused}[/]")
    lines.append("rings: " + "  ".join(ring_txt))
    used, high, cap, over = s.pool_usage
    color = "$error" if used >= 0.9 * cap else "$success"
    lines.append(f"order pool: [{color}]{used}/{cap}[/] high {high} overflows {over}")
    return "\n".join(lines)


def risk_markup(view: View) -> str:
    s = view.snapshot
    dd = s.drawdown
    dd_color = "$error" if dd >= 0.15 else "$warning" if dd >= 0.10 else "$success"
    lines = [
        f"equity [b]{money(s.equity)}[/b]  peak {money(s.peak_equity)}  realized {money(s.realized)}"
        f"  fees {money(s.fees)}",
        f"drawdown [{dd_color}]{bar(dd / 0.15, 30)}[/] {dd * 100:5.2f} %  (10 % reduce · 15 % halt)",
        f"gross exposure {money(s.gross_exposure)}   VaR 99 % {money(s.var)}"
        f"   trades {s.trades[0]} (won {s.trades[1]}, lost {s.trades[2]})  streak {s.loss_streak}",
        "",
        "[b]symbol       qty          avg        last      unreal.     stop   exposure[/b]",
    ]
    for p in s.positions():
        frac = p.exposure_usd / p.max_exposure_usd if p.max_exposure_usd else 0.0
        color = "$error" if frac >= 0.9 else "$warning" if frac >= 0.6 else "$success"
        stop = "—" if p.stop_px != p.stop_px else f"{p.stop_px:,.2f}"
        lines.append(
            f"{escape(p.symbol):<9} {p.qty:>9.5f} {money(p.avg_px):>11} {money(p.last_px):>11}"
            f" {money(p.unrealized):>10} {stop:>10} [{color}]{bar(frac, 10)}[/]"
        )
    n = len(view.symbols)
    if n > 1:
        lines.append("")
        lines.append("[b]correlation[/b] (0.7 refuses)  " + " ".join(f"{sym.split('/')[0]:>6}" for sym in view.symbols))
        for i, sym in enumerate(view.symbols):
            cells = []
            for j in range(n):
                c = float(s.corr[i, j])
                if math.isnan(c):
                    cells.append(f"{'—':>6}")
                else:
                    color = "$error" if abs(c) >= 0.7 and i != j else "$warning" if abs(c) >= 0.5 and i != j else "$success"
                    cells.append(f"[{color}]{c:>6.2f}[/]")
            lines.append(f"{' ' * 28}{sym.split('/')[0]:>5} " + " ".join(cells))
    return "\n".join(lines)


def breakers_markup(view: View) -> str:
    s = view.snapshot
    lines = ["[b]breaker          state       errors   latency    since[/b]"]
    for b in s.breakers():
        since = (s.taken_ns - b.since_ns) / 1e9 if b.since_ns else float("nan")
        since_txt = "—" if since != since else f"{since:,.0f} s"
        lines.append(
            f"{escape(b.name):<16} [{BREAKER_COLOR[b.state]}]{b.state:<10}[/] {b.error_rate * 100:5.1f} %"
            f" {fmt_ns(b.last_latency_ns):>9} {since_txt:>8}"
        )
    if view.transitions:
        lines.append("")
        for t in view.transitions[-4:]:
            lines.append(f"{escape(str(t['breaker']))}: {t['from']} → {t['to']} ({t['cause']})")
    return "\n".join(lines)


def market_markup(view: View) -> str:
    s = view.snapshot
    pos = next(p for p in s.positions() if p.symbol == view.selected)
    lines = [
        f"[b]{escape(view.selected)}[/b]  last {money(pos.last_px)}  bid {money(pos.bid)}  ask {money(pos.ask)}"
        f"   ([b]s[/b] next symbol)",
    ]
    prices = view.prices[-60:]
    if prices:
        lo, hi = min(prices), max(prices)
        lines.append(f"[$primary]{spark(prices, 60)}[/]  {money(lo)} – {money(hi)}")
    fills = [f for f in view.fills if f["symbol"] == view.selected][-5:]
    for f in reversed(fills):
        color = "$success" if f["side"] == "buy" else "$error"
        lines.append(f"fill [{color}]{f['side']:<4}[/] {num(f['size']):.5f} @ {money(num(f['price']))} ({f['liquidity']})")
    return "\n".join(lines)


def orders_markup(view: View) -> str:
    lines = ["[b]recent orders[/b]"]
    for o in reversed(view.orders[-6:]):
        color = "$success" if o["side"] == "buy" else "$error"
        lines.append(
            f"{o['action']:<6} [{color}]{o['side']:<4}[/] {escape(str(o['symbol'])):<9} {num(o['size']):.5f}"
            f" {o['type']:<7} stop {money(num(o['stop_px']))}"
        )
    lines.append("[b]rejections[/b]")
    if not view.rejects:
        lines.append("none")
    for o in reversed(view.rejects[-6:]):
        lines.append(f"[$warning]{escape(str(o['reason'])):<22}[/] {o['side']:<4} {escape(str(o['symbol']))} {num(o['size']):.5f}")
    return "\n".join(lines)
