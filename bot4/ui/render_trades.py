"""The Trades screen's text: closed and open trades from the journal, performance by symbol and by day, and what
strategy runs with which settings. Pure functions of a :class:`TradesView`; colours are theme variables."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from textual.markup import escape

from bot4.core.runner import Position
from bot4.runtime.trades import ClosedTrade, OpenTrade, Performance
from bot4.ui.fmt import fmt_duration
from bot4.ui.render import ljust, money, rjust, side_by_side, signed, visible_width, wrap_parts

WIDE_COLS = 130  # a pane narrower than this gets the short tables (no origin, gross or dates; * marks a manual trade)


@dataclass(frozen=True)
class TradesView:
    """What the Trades screen shows, for one symbol filter."""

    closed: list[ClosedTrade]  # filtered, oldest first
    opened: list[OpenTrade]  # filtered
    by_symbol: list[Performance]
    by_day: list[Performance]
    positions: dict[str, Position] = field(default_factory=dict)  # live: last price and the position's stop
    symbol: str = ""  # the filter ("" = every symbol)
    symbols: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    complete: bool = True  # False when attached: only the fills the stream has shown
    ccy: str = "USD"


def when(ts_ns: int, fmt: str = "%m-%d %H:%M:%S") -> str:
    """Date and time of day in UTC."""
    return time.strftime(fmt, time.gmtime(ts_ns / 1e9))


def direction(d: int) -> str:
    return "[$success]long[/] " if d > 0 else "[$error]short[/]"


def origin(manual: bool, wide: bool) -> str:
    if wide:
        return "[$accent]manual[/]  " if manual else "strategy"
    return "[$accent]*[/]" if manual else " "


def row(cells: list[tuple[str, int]]) -> str:
    """Cells of markup, each right-aligned to its width (a negative width: left-aligned), one space apart."""
    return " ".join(ljust(text, -w) if w < 0 else rjust(text, w) for text, w in cells)


def header_markup(tv: TradesView, rows: int = 0, cols: int = 0) -> str:
    """What runs, the symbol filter and the totals of what is shown (wrapped to the pane's width)."""
    lines = []
    for s in tv.strategies or ("settings not sent by an attached engine",):
        lines += wrap_parts(("[b]strategy[/b] " + escape(s)).split(" · "), cols)
    net = sum(t.net for t in tv.closed)
    fees = sum(t.fees for t in tv.closed)
    filt = escape(tv.symbol) if tv.symbol else "all symbols"
    lines += wrap_parts(
        [
            f"[b]showing[/b] {filt} ([b]f[/b] next)",
            f"{len(tv.closed)} closed, {len(tv.opened)} open",
            f"net {signed(net, tv.ccy)} after {money(fees)} fees",
            "[$accent]*[/] manual",
        ],
        cols,
    )
    if not tv.complete:
        lines.append("[$warning]attached: the fills seen on the stream only; the history is in the engine's journal[/]")
    return "\n".join(lines)


def open_trades_markup(tv: TradesView, rows: int = 0, cols: int = 0) -> str:
    wide = cols <= 0 or cols >= WIDE_COLS
    heads = [("symbol", -9), ("side", -5), ("qty", 10), ("entry", 11), ("last", 11), ("stop", 11), ("unreal.", 10)]
    if wide:
        heads = heads[:2] + [("origin", -8)] + heads[2:] + [("since (UTC)", -14)]
    else:
        heads[0] = ("symbol", -10)
    lines = ["[b]" + row(heads) + "[/b]"]
    if not tv.opened:
        lines.append("[$foreground-muted]no open trades[/]")
    for t in tv.opened:
        pos = tv.positions.get(t.symbol)
        last = pos.last_px if pos is not None else math.nan
        stop = pos.stop_px if pos is not None and pos.stop_px == pos.stop_px else t.stop_px
        unreal = (last - t.entry_px) * t.qty * t.direction if last == last else math.nan
        stop_txt = "[$error]none[/]" if stop != stop else money(stop)
        cells = [
            (escape(t.symbol) + ("" if wide else origin(t.manual, False)), -10 if not wide else -9),
            (direction(t.direction), -5),
            (f"{t.qty:.5f}", 10),
            (money(t.entry_px), 11),
            (money(last), 11),
            (stop_txt, 11),
            (signed(unreal), 10),
        ]
        if wide:
            cells = cells[:2] + [(origin(t.manual, True), -8)] + cells[2:] + [(when(t.entry_ts_ns), -14)]
        lines.append(row(cells))
    return "\n".join(lines)


def closed_line(t: ClosedTrade, wide: bool) -> str:
    held = fmt_duration(max(0.0, t.duration_s))
    if not wide:
        return row(
            [
                (when(t.exit_ts_ns, "%H:%M"), -5),
                (escape(t.symbol) + origin(t.manual, False), -10),
                (direction(t.direction), -5),
                (f"{t.size:.4f}", 8),
                (money(t.entry_px), 9),
                (money(t.exit_px), 9),
                (signed(t.net), 9),
                (t.exit_reason[:6], -6),
                (held, 5),
            ]
        )
    return row(
        [
            (when(t.exit_ts_ns), -14),
            (escape(t.symbol), -9),
            (direction(t.direction), -5),
            (origin(t.manual, True), -8),
            (f"{t.size:.5f}", 10),
            (money(t.entry_px), 11),
            (money(t.exit_px), 11),
            (signed(t.gross), 10),
            (money(t.fees), 8),
            (signed(t.net), 10),
            (t.exit_reason, -11),
            (held, 6),
        ]
    )


def closed_header(wide: bool) -> str:
    if not wide:
        cells = [("UTC", -5), ("symbol", -10), ("side", -5), ("size", 8), ("entry", 9), ("exit", 9), ("net", 9)]
        return "[b]" + row([*cells, ("reason", -6), ("held", 5)]) + "[/b]"
    cells = [("closed (UTC)", -14), ("symbol", -9), ("side", -5), ("origin", -8), ("size", 10), ("entry", 11)]
    cells += [("exit", 11), ("gross", 10), ("fees", 8), ("net", 10), ("reason", -11), ("held", 6)]
    return "[b]" + row(cells) + "[/b]"


def closed_trades_markup(tv: TradesView, rows: int = 0, cols: int = 0) -> str:
    """The latest closed trades first, as many as the pane has rows (a short table in a narrow pane)."""
    wide = cols <= 0 or cols >= WIDE_COLS
    lines = [closed_header(wide)]
    if not tv.closed:
        lines.append("[$foreground-muted]no closed trades yet[/]")
    shown = list(reversed(tv.closed))
    if rows > 1:
        shown = shown[: rows - 1]
    lines += [closed_line(t, wide) for t in shown]
    return "\n".join(lines)


def performance_lines(title: str, groups: list[Performance], ccy: str, wide: bool = True) -> list[str]:
    heads = [(title, -10), ("trades", 6), ("won", 4), ("lost", 4), ("win %", 5), ("fees", 9), ("net", 11)]
    if wide:
        heads = heads[:5] + [("gross", 11)] + heads[5:] + [("best", 10), ("worst", 10)]
    lines = ["[b]" + row(heads) + "[/b]"]
    if not groups:
        lines.append("[$foreground-muted]no closed trades yet[/]")
    for p in groups:
        rate = "—" if p.win_rate != p.win_rate else f"{p.win_rate * 100:.0f} %"
        cells = [
            (escape(p.key), -10),
            (str(p.trades), 6),
            (str(p.wins), 4),
            (str(p.losses), 4),
            (rate, 5),
            (money(p.fees), 9),
            (signed(p.net), 11),
        ]
        if wide:
            cells = cells[:5] + [(signed(p.gross), 11)] + cells[5:] + [(signed(p.best), 10), (signed(p.worst), 10)]
        lines.append(row(cells))
    return lines


def performance_markup(tv: TradesView, rows: int = 0, cols: int = 0) -> str:
    """Per symbol and per day (UTC, by the day a trade closed), side by side when both fit; the fees and net only
    in a narrow pane."""
    wide = cols <= 0 or cols >= 100
    symbols = performance_lines("symbol", tv.by_symbol, tv.ccy, wide)
    days = performance_lines("day (UTC)", tv.by_day, tv.ccy, wide)
    width = max(visible_width(line) for line in symbols) + 3
    if cols > 0 and width + max(visible_width(line) for line in days) <= cols:
        return "\n".join(side_by_side(symbols, days, width))
    return "\n".join(symbols + days)
