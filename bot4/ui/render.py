"""Pure functions from a :class:`View` to Textual markup. Colours are theme variables only ($success, $error…)."""

from __future__ import annotations

import math
import time

from textual.markup import escape

from bot4.ui.fmt import fmt_duration
from bot4.ui.markup import parse_line
from bot4.ui.model import LEVEL_COLOR, fmt_ns, level
from bot4.ui.refusals import refusal_text
from bot4.ui.source import View

STATE_COLOR = {"ACTIVE": "$success", "REDUCING": "$warning", "HALTED": "$error"}
BREAKER_COLOR = {"CLOSED": "$success", "HALF_OPEN": "$warning", "OPEN": "$error"}
SPARK = "▁▂▃▄▅▆▇█"
CHART_ROWS = 7  # the market chart's height when the pane's is not known; a sized pane gives its own
CHART_COLS = 46
CHART_STEP_S = 1.0  # one column a second


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


def quote(view: View) -> str:
    """The quote currency the account's money figures are in: the instruments' common quote (USDT), else USD."""
    return quote_of(view.symbols)


def quote_of(symbols: tuple[str, ...]) -> str:
    """The common quote currency of ``symbols`` (``BTC/USDT``, ``ETH/USDT``: USDT), else USD."""
    quotes = {sym.partition("/")[2] for sym in symbols}
    return quotes.pop() if len(quotes) == 1 and "" not in quotes else "USD"


def signed(x: float, unit: str = "") -> str:
    """A PnL figure with its sign, coloured: green a gain, red a loss (muted at zero or unknown)."""
    if x != x:
        return "—"
    text = f"{x:+,.2f}" + (f" {unit}" if unit else "")
    color = "$success" if x > 0 else "$error" if x < 0 else "$foreground-muted"
    return f"[{color}]{text}[/]"


def visible_width(markup: str) -> int:
    """Cells a line of the views' markup takes on screen (its plain text, as the panes read it)."""
    return len(parse_line(markup)[0])


def rjust(markup: str, width: int) -> str:
    """``markup`` padded on the left to ``width`` cells on screen (str.rjust would count its tags)."""
    return " " * max(0, width - visible_width(markup)) + markup


def ljust(markup: str, width: int) -> str:
    return markup + " " * max(0, width - visible_width(markup))


def wrap_parts(parts: list[str], width: int, sep: str = " · ") -> list[str]:
    """Join ``parts`` with ``sep`` into lines of at most ``width`` cells (0: one line), a part never split."""
    lines: list[str] = []
    for part in parts:
        if lines and width > 0 and visible_width(lines[-1] + sep + part) > width:
            lines.append("  " + part)
        elif lines:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def side_by_side(left: list[str], right: list[str], width: int) -> list[str]:
    """Two columns of markup lines, the left one padded to ``width`` cells."""
    out = []
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        out.append((a + " " * max(1, width - visible_width(a)) + b).rstrip() if b else a)
    return out


def clock(ts: float) -> str:
    """Time of day of an event in UTC, to the second (the exchanges' clock: market prints carry UTC too)."""
    return "—" if ts != ts else time.strftime("%H:%M:%S", time.gmtime(ts))


def per_second(prices: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The last (time, price) sample of each whole second before the latest sample's (which is not over yet)."""
    if not prices:
        return []
    current = math.floor(prices[-1][0])
    out: list[tuple[float, float]] = []
    for t, p in prices:
        second = math.floor(t)
        if second >= current:
            break
        if p != p:
            continue
        if out and math.floor(out[-1][0]) == second:
            out[-1] = (t, p)
        else:
            out.append((t, p))
    return out or [prices[0]]


def price_chart(
    prices: list[tuple[float, float]], fills: list[dict[str, object]], rows: int = CHART_ROWS, cols: int = CHART_COLS
) -> list[str]:
    """An area chart of the last ``cols`` seconds (a column each: the second's last price; ``rows`` high, eighth-block
    resolution), with our fills marked where they happened: ▲ a buy, ▼ a sell, at the fill's price; the range on the
    right. The second under way is drawn once it is over (the pane's header shows the live price), so the chart moves
    once a second and the pane redraws its rows once a second."""
    samples = per_second(prices)[-cols:]
    if not samples:
        return ["[$foreground-muted]no market data yet[/]"] + [""] * (rows - 1)
    t0, t1 = samples[0][0], samples[-1][0]
    marks: list[tuple[int, float, str]] = []
    for f in fills:
        ts, px = num(f.get("ts")), num(f.get("price"))
        if not (t0 - CHART_STEP_S <= ts <= t1 + CHART_STEP_S) or px != px:
            continue
        col = min(range(len(samples)), key=lambda i: abs(samples[i][0] - ts))
        marks.append((col, px, str(f.get("side", ""))))
    values = [p for _, p in samples] + [px for _, px, _ in marks]
    lo, hi = min(values), max(values)
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 1e-4 or 1.0
        lo -= span / 2
    eighths = rows * 8
    grid = [[" "] * len(samples) for _ in range(rows)]
    for c, (_, p) in enumerate(samples):
        h = max(1, round((p - lo) / span * eighths))
        for r in range(rows):  # r = 0 is the bottom row
            fill = h - 8 * r
            if fill <= 0:
                break
            grid[rows - 1 - r][c] = "█" if fill >= 8 else SPARK[fill - 1]
    marked: dict[tuple[int, int], str] = {}
    for col, px, side in marks:
        r = min(rows - 1, int((px - lo) / span * rows))
        marked[(rows - 1 - r, col)] = side
    pad = " " * (cols - len(samples))  # fewer samples than columns yet: the chart grows from the right
    out = []
    for y in range(rows):
        parts = [pad, "[$primary]"]
        for c, ch in enumerate(grid[y]):
            mark = marked.get((y, c))
            if mark is None:
                parts.append(ch)
            else:
                color = "$success" if mark == "buy" else "$error"
                parts.append(f"[/][{color}]{'▲' if mark == 'buy' else '▼'}[/][$primary]")
        parts.append("[/]")
        label = money(hi) if y == 0 else money(lo + span / 2) if y == rows // 2 else money(lo) if y == rows - 1 else ""
        out.append("".join(parts).replace("[$primary][/]", "") + (f" [$foreground-muted]{label}[/]" if label else ""))
    return out


def banner_markup(view: View, width: int = 0) -> str:
    """The state line: trading state, what blocks entries (with time left), equity, drawdown, the kill key; the
    long form when it fits in ``width`` cells (0: any width), else a short one that keeps every block and figure."""
    s = view.snapshot
    if not view.connected:
        return f"[b]DISCONNECTED[/b] from {escape(view.source)} · retrying… · the figures below are stale"
    state = s.trading_state
    ccy = quote(view)
    blocks = [(name, left) for name, left in s.blocks() if name != "halted"]
    wait = s.rearm_wait_s
    for short in (False, True):
        extra = ""
        if state == "HALTED":
            extra = (" · [b]r[/b] re-arm" if short else f" · re-arm [b]r[/b] (confirm {s.halt_seq})") + (
                f" in {fmt_duration(wait)}" if wait > 0 else ""
            )
        if not view.gate_open:
            extra += " · GATE CLOSED" if short else " · EXECUTION GATE CLOSED"
        if blocks:
            left_word = "" if short else " left"
            extra += (" · [b]blocked[/b]: " if short else " · [b]entries blocked[/b]: ") + ", ".join(
                (name.replace("loss-streak ", "") if short else name)
                + (f" {fmt_duration(left)}{left_word}" if left > 0 else "")
                for name, left in blocks
            )
        if short:
            line = f"[b]{state}[/b]{extra} · {s.equity:,.0f} {ccy} · dd {s.drawdown * 100:.2f} % · [b]k[/b] kill"
        else:
            line = (
                f"[b]{state}[/b]{extra} · equity {money(s.equity)} {ccy} · drawdown {s.drawdown * 100:.2f} %"
                f" · {escape(view.source)} · [b]k[/b] kill switch"
            )
        if not width or visible_width(line) <= width:
            return line
    return line


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


def drawdown_color(state: str, dd: float, warn: float, halt: float) -> str:
    """The drawdown gauge's colour: the trading state's when it is not ACTIVE (REDUCING amber, HALTED red), else
    green under half the reducing level, amber above it, red from the halt level."""
    if state == "HALTED" or dd >= halt:
        return "$error"
    if state == "REDUCING" or dd >= warn / 2:
        return "$warning"
    return "$success"


def risk_markup(view: View) -> str:
    s = view.snapshot
    dd = s.drawdown
    warn = view.limits.get("drawdown_warn", 0.10)
    halt = view.limits.get("drawdown_halt", 0.15)
    dd_color = drawdown_color(s.trading_state, dd, warn, halt)
    var_limit = view.limits.get("var_frac", math.nan) * s.equity
    var_frac = s.var / var_limit if var_limit > 0 else math.nan
    var_color = "$error" if var_frac >= 0.9 else "$warning" if var_frac >= 0.6 else "$success"
    lines = [
        f"equity [b]{money(s.equity)}[/b] {quote(view)}  peak {money(s.peak_equity)}  realized {signed(s.realized)}"
        f"  fees {money(s.fees)}",
        f"drawdown [{dd_color}]{bar(dd / halt, 30)}[/] {dd * 100:5.2f} %"
        f"  ({warn * 100:g} % reduce · {halt * 100:g} % halt)",
        f"VaR {view.limits.get('var_confidence', 0.99) * 100:g} %  [{var_color}]{bar(var_frac, 30)}[/]"
        f" {money(s.var)} of {money(var_limit)}",
        f"gross exposure {money(s.gross_exposure)}"
        f"   trades {s.trades[0]} (won {s.trades[1]}, lost {s.trades[2]})  loss streak {s.loss_streak}",
        " · ".join(  # what blocks entries, with the time left (the line stays blank when nothing does)
            f"[$warning]entries blocked: {name}" + (f" {fmt_duration(left)} left" if left > 0 else "") + "[/]"
            for name, left in s.blocks()
        ),
        "[b]symbol       qty          avg        last      unreal.     stop   exposure[/b]",
    ]
    for p in s.positions():
        manual = " [$accent]manual[/]" if p.symbol in view.manual and p.qty != 0 else ""
        frac = p.exposure_usd / p.max_exposure_usd if p.max_exposure_usd else 0.0
        color = "$error" if frac >= 0.9 else "$warning" if frac >= 0.6 else "$success"
        stop = "—" if p.stop_px != p.stop_px else f"{p.stop_px:,.2f}"
        lines.append(
            f"{escape(p.symbol):<9} {p.qty:>9.5f} {money(p.avg_px):>11} {money(p.last_px):>11}"
            f" {rjust(signed(p.unrealized), 10)} {stop:>10} [{color}]{bar(frac, 10)}[/]{manual}"
        )
    n = len(view.symbols)
    if n > 1:
        lines.append("")
        max_corr = view.limits.get("correlation", 0.7)
        lines.append(
            f"[b]correlation[/b] ({max_corr:g} refuses)  " + " ".join(f"{sym.split('/')[0]:>6}" for sym in view.symbols)
        )
        for i, sym in enumerate(view.symbols):
            cells = []
            for j in range(n):
                c = float(s.corr[i, j])
                if math.isnan(c):
                    cells.append(f"{'—':>6}")
                else:
                    hot = abs(c) >= max_corr and i != j
                    color = "$error" if hot else "$warning" if abs(c) >= 0.5 and i != j else "$success"
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


TAPE_COLS = 38  # a market print: time to the ms, side, price, size


def book_lines(book: dict[str, list[list[float]]], rows: int) -> list[str]:
    """The L2 book's best levels, asks above bids (best nearest the middle), sized to leave ``rows`` room for a few
    prints; nothing when the feed carries no depth."""
    bids, asks = book.get("bids", []), book.get("asks", [])
    if not bids and not asks:
        return []
    depth = max(1, min(5, (rows - 4) // 2))
    lines = [f"[b]book[/b] (best {depth} a side)"]
    for px, qty in reversed(asks[:depth]):
        lines.append(f"[$error]ask[/] {money(px):>14} {qty:>12.5f}")
    for px, qty in bids[:depth]:
        lines.append(f"[$success]bid[/] {money(px):>14} {qty:>12.5f}")
    return lines


def market_markup(view: View, rows: int = CHART_ROWS + 2, cols: int = 0) -> str:
    """Header, price chart (the pane's height less two rows, 3 to 20; as wide as the pane leaves beside the prints)
    beside the last market prints, fill legend."""
    chart_rows = max(3, min(40, rows - 2))
    chart_cols = CHART_COLS if cols <= 0 else max(12, min(150, cols - TAPE_COLS - 13))  # 150 s of samples kept
    s = view.snapshot
    pos = next(p for p in s.positions() if p.symbol == view.selected)
    spread = pos.ask - pos.bid
    lines = [
        f"[b]{escape(view.selected)}[/b]  last [b]{money(pos.last_px)}[/b]  bid {money(pos.bid)}  ask {money(pos.ask)}"
        f"  spread {money(spread)}" + ("   ([b]s[/b] next symbol)" if cols <= 0 or cols >= 90 else ""),
    ]
    fills = [f for f in view.fills if f["symbol"] == view.selected]
    chart = price_chart(view.prices, fills, rows=chart_rows, cols=chart_cols)
    trades = book_lines(s.book_levels(view.selected), chart_rows)
    trades.append("[b]last trades[/b] (exchange time)")
    room = chart_rows - len(trades)  # the prints that fit below the book (all the column without one)
    for t in reversed(view.trades[-room:] if room > 0 else []):
        color = "$success" if t["side"] == "buy" else "$error" if t["side"] == "sell" else "$foreground-muted"
        ns = int(t["ts_exch_ns"])  # type: ignore[call-overload]
        when = f"{clock(ns / 1e9)}.{ns // 1_000_000 % 1000:03d}"
        trades.append(f"{when} [{color}]{str(t['side']):<4}[/] {money(num(t['price'])):>10} {num(t['size']):>8.5f}")
    lines += side_by_side(chart, trades, chart_cols + 12)
    if fills:
        f = fills[-1]
        color = "$success" if f["side"] == "buy" else "$error"
        lines.append(
            f"[$success]▲[/] buy [$error]▼[/] sell · last fill [{color}]{f['side']}[/] {num(f['size']):.5f}"
            f" @ {money(num(f['price']))} ({f['liquidity']}) {clock(fill_time(f))}"
        )
    else:
        lines.append("[$success]▲[/] buy [$error]▼[/] sell · no fills yet")
    return "\n".join(lines)


def positions_markup(view: View) -> str:
    """The account and every position in a few lines: what the compact layout keeps on screen whatever the tab."""
    s = view.snapshot
    ccy = quote(view)
    unreal = sum(p.unrealized for p in s.positions() if p.unrealized == p.unrealized)
    lines = [
        f"equity [b]{money(s.equity)}[/b] {ccy} · realized {signed(s.realized)} · unreal. {signed(unreal)}"
        f" · fees {money(s.fees)}"
    ]
    for p in s.positions():
        if p.qty == 0:
            lines.append(f"{escape(p.symbol):<9} [$foreground-muted]flat[/]   last {money(p.last_px)}")
            continue
        side = "[$success]long[/] " if p.qty > 0 else "[$error]short[/]"
        stop = "[$error]none[/]" if p.stop_px != p.stop_px else money(p.stop_px)
        manual = " [$accent]manual[/]" if p.symbol in view.manual else ""
        lines.append(
            f"{escape(p.symbol):<9} {side} {abs(p.qty):.5f} @ {money(p.avg_px)}  last {money(p.last_px)}"
            f"  {signed(p.unrealized)}  stop {stop}{manual}"
        )
    return "\n".join(lines)


def _open_order_lines(view: View, n: int) -> list[str]:
    lines = [f"[b]open orders[/b] ({len(view.open_orders)})" + ("  [b]c[/b] cancel one" if view.open_orders else "")]
    if not view.open_orders:
        lines.append("[$foreground-muted]none working[/]")
    for o in view.open_orders[-n:]:
        color = "$success" if o["side"] == "buy" else "$error"
        where = f"@ {money(num(o['price']))}" if num(o["price"]) == num(o["price"]) else "market"
        state = " [$warning]cancelling[/]" if o.get("cancelling") else ""
        lines.append(
            f"[{color}]{o['side']:<4}[/] {escape(str(o['symbol'])):<9} {num(o['size']):.5f} {o['type']:<6} {where}"
            f" filled {num(o.get('filled', 0.0)):.5f}{state}"
        )
    return lines


def fill_time(f: dict[str, object]) -> float:
    """When a fill happened on the venue's clock (market time on recorded data, the same clock as the tape)."""
    ts = f.get("ts_exch")
    return num(ts) if ts is not None else num(f.get("ts"))


def _fill_lines(view: View, n: int, ccy: str) -> list[str]:
    lines = ["[b]recent fills[/b] (UTC, venue time)"]
    if not view.fills:
        lines.append("[$foreground-muted]none yet[/]")
    for f in list(reversed(view.fills))[:n]:
        color = "$success" if f["side"] == "buy" else "$error"
        exit_note = " [$warning]stop hit[/]" if f.get("exit") == "stop" else ""
        lines.append(
            f"{clock(fill_time(f))} [{color}]{f['side']:<4}[/] {escape(str(f['symbol'])):<9} {num(f['size']):.5f}"
            f" @ {money(num(f['price']))} {ccy} {f['liquidity']}{exit_note}"
        )
    return lines


def _reject_lines(view: View, n: int) -> list[str]:
    lines = ["[b]refusals[/b] (latest first)"]
    if not view.rejects:
        lines.append("[$foreground-muted]none[/]")
    grouped: dict[tuple[str, str, str], tuple[int, dict[str, object]]] = {}  # a cool-down refuses every signal
    for o in reversed(view.rejects):
        key = (str(o["reason"]), str(o["side"]), str(o["symbol"]))
        count, latest = grouped.get(key, (0, o))
        grouped[key] = (count + 1, latest)
    for (_reason, side, symbol), (count, latest) in list(grouped.items())[:n]:
        times = f" [$foreground-muted]×{count}[/]" if count > 1 else ""
        words = refusal_text(latest, quote(view))
        lines.append(f"{side} {escape(symbol)}: [$warning]{escape(words)}[/]{times}")
    return lines


def orders_markup(view: View, rows: int = 0, cols: int = 0) -> str:
    """Open orders, recent fills and the refusals in words: side by side when the pane is wide enough for both,
    else one above the other, each cut to the pane's ``rows`` (0: not known)."""
    ccy = quote(view)
    if rows <= 0:
        rows = 16
    opened = _open_order_lines(view, 4)
    left = opened + _fill_lines(view, max(5, rows - len(opened) - 1), ccy)
    right = _reject_lines(view, max(9, rows - 1))
    left_w = max((visible_width(line) for line in left), default=0) + 2
    right_w = max((visible_width(line) for line in right), default=0)
    if cols and left_w + right_w <= cols:
        return "\n".join(side_by_side(left, right, left_w)[:rows])
    # one above the other: a share of the rows each (open orders few, refusals the rest)
    n_open = max(1, min(len(view.open_orders), 3))
    n_fill = max(1, min(len(view.fills), (rows - n_open - 4) // 2))
    n_rej = max(1, rows - n_open - n_fill - 3)
    return "\n".join(
        (_open_order_lines(view, n_open) + _fill_lines(view, n_fill, ccy) + _reject_lines(view, n_rej))[:rows]
    )


def events_markup(view: View, rows: int = 0) -> str:
    """The latest events, as many as the pane has rows, newest at the bottom."""
    if not view.events:
        return "[$foreground-muted]no events yet[/]"
    lines = view.events[-rows:] if rows > 0 else view.events
    return "\n".join(lines)
