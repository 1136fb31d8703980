"""The Report screen's text: a finished backtest's run facts, summary figures, per-symbol table, exit reasons,
closed trades and equity curve. Pure functions of a :class:`ReportView`; the figures, labels and the braille chart are
the terminal report's (``bot4.backtest.text``), here with the quote currency and the UI's PnL colours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from textual.markup import escape

from bot4.backtest.report import Report
from bot4.backtest.text import braille_chart, fmt_dur, fmt_pct, metric_pairs, run_facts, strategies_text
from bot4.backtest.trades import EXIT_OPEN, EXIT_REASON_NAMES
from bot4.ui.fmt import fmt_duration
from bot4.ui.render import STATE_COLOR, ljust, money, quote_of, rjust, signed, visible_width, wrap_parts
from bot4.ui.render_trades import direction, row, when

VALUE_COLS = 18  # a figure's column in the summary grid; a longer one (the equity span) gets a line of its own
GAP = "   "  # between two columns of figures
WIDE_COLS = 124  # a trades pane this wide gets the long table (gross, fees, the date); a narrower one the short one
SHORT_REASON = {"stop_loss": "stop", "take_profit": "target"}  # the short table's six-cell reason column
TABS = (("summary", "summary"), ("trades", "trades"), ("equity", "equity"))
"""(pane, label) of the compact layout's tabs, in key order: key 1 shows the first."""


@dataclass(frozen=True)
class ReportView:
    """What the Report screen shows: one report read from its directory."""

    report: Report
    name: str  # the report directory's name (``20240809-120000``)
    ccy: str  # the quote currency of the money figures

    @property
    def closed(self) -> np.ndarray:
        """The closed trades (TRADE_DTYPE), oldest first; the report's last rows may be positions still open."""
        return self.report.trades[self.report.trades["exit_reason"] != EXIT_OPEN]


def report_view(report: Report, name: str) -> ReportView:
    return ReportView(report, name, quote_of(report.symbols))


def header_markup(rv: ReportView, rows: int = 0, cols: int = 0) -> str:
    """What was run: the span, ticks, orders, config, strategy and the trading state it ended in."""
    info = rv.report.info
    state = str(info["trading_state"])
    parts = [f"[b]backtest[/b] {escape(rv.name)}", *(escape(p) for p in run_facts(rv.report))]
    parts.append(f"[b]strategy[/b] {escape(strategies_text(info)) or 'none'}")
    parts.append(f"ended [{STATE_COLOR.get(state, '$foreground')}]{escape(state)}[/]")
    return "\n".join(wrap_parts(parts, cols))


def figure_grid(pairs: list[tuple[str, str]], cols: int) -> list[str]:
    """(label, value) pairs in as many columns of ``label value`` as ``cols`` holds (two when unknown), row by row;
    a value wider than its column gets a line of its own after the grid."""
    label_w = max(len(label) for label, _ in pairs)
    cell = label_w + 1 + VALUE_COLS
    per_row = max(1, (cols + len(GAP)) // (cell + len(GAP))) if cols > 0 else 2
    short = [(label, v) for label, v in pairs if visible_width(v) <= VALUE_COLS]
    lines = []
    for i in range(0, len(short), per_row):
        cells = [ljust(label, label_w) + " " + rjust(v, VALUE_COLS) for label, v in short[i : i + per_row]]
        lines.append(GAP.join(cells))
    lines += [ljust(label, label_w) + " " + v for label, v in pairs if visible_width(v) > VALUE_COLS]
    return lines


def summary_markup(rv: ReportView, rows: int = 0, cols: int = 0) -> str:
    """The figures (money in the quote currency, PnL coloured), the per-symbol table and the exit reasons."""
    ccy = rv.ccy

    def amount(v: float | None) -> str:
        return "n/a" if v is None else f"{money(v)} {ccy}"

    def pnl(v: float | None) -> str:
        return "n/a" if v is None else signed(v, ccy)

    lines = figure_grid(metric_pairs(rv.report, amount, pnl), cols)
    heads = [("symbol", -10), ("trades", 6), ("win rate", 8), (f"net ({ccy})", 12), (f"fees ({ccy})", 12)]
    lines += ["", "[b]" + row([*heads, ("avg held", 9)]) + "[/b]"]
    for r in rv.report.per_symbol:
        cells = [(escape(r.symbol), -10), (str(r.trades), 6), (fmt_pct(r.win_rate), 8), (signed(r.net_pnl), 12)]
        lines.append(row([*cells, (money(r.fees), 12), (fmt_dur(r.avg_duration_s), 9)]))
    reasons = [f"{escape(k)} {v}" for k, v in rv.report.exit_reasons.items()] or ["none"]
    lines += [""] + wrap_parts(["[b]exit reasons[/b] " + reasons[0], *reasons[1:]], cols)
    return "\n".join(lines)


def equity_markup(rv: ReportView, rows: int = 0, cols: int = 0) -> str:
    """The equity curve in braille, as large as the pane (its low and high above it, its span under it), green when
    the run ended above where it started, red below."""
    curve = rv.report.curve
    eq = curve["equity"]
    if len(eq) < 2:
        return "[$foreground-muted]no equity curve: the run took fewer than 2 samples[/]"
    width, height = (cols if cols > 0 else 72), max(1, (rows if rows > 0 else 10) - 2)
    color = "$success" if eq[-1] >= eq[0] else "$error"
    top = f"low {money(float(eq.min()))} · high {money(float(eq.max()))} {rv.ccy} · "
    top += f"max drawdown {fmt_pct(rv.report.metrics.max_drawdown)}"
    chart = [f"[{color}]{line}[/]" for line in braille_chart(eq, width, height)]
    start, end = when(int(curve["ts_ns"][0]), "%Y-%m-%d %H:%M:%S"), when(int(curve["ts_ns"][-1]), "%H:%M:%S UTC")
    axis = start + " " * max(1, width - len(start) - len(end)) + end
    return "\n".join([top, *chart, axis])


def trades_header(wide: bool) -> str:
    if wide:
        cells = [("#", 5), ("closed (UTC)", -14), ("symbol", -10), ("side", -5), ("size", 10), ("entry", 11)]
        cells += [("exit", 11), ("gross", 10), ("fees", 9), ("net", 10), ("reason", -11), ("held", 6)]
    else:
        cells = [("closed", -8), ("symbol", -9), ("side", -5), ("size", 8), ("entry", 9), ("exit", 9)]
        cells += [("net", 9), ("reason", -6), ("held", 5)]
    return "[b]" + row(cells) + "[/b]"


def trade_line(n: int, t: np.void, symbols: tuple[str, ...], wide: bool) -> str:
    """Trade number ``n`` (from 1) of the report: a TRADE_DTYPE row."""
    symbol = escape(symbols[int(t["symbol_id"])])
    reason = EXIT_REASON_NAMES[int(t["exit_reason"])]
    held = fmt_duration(max(0.0, (int(t["ts_exit_ns"]) - int(t["ts_entry_ns"])) / 1e9))
    exit_ns, side = int(t["ts_exit_ns"]), direction(int(t["side"]))
    if not wide:
        cells = [(when(exit_ns, "%d %H:%M"), -8), (symbol, -9), (side, -5), (f"{t['size']:.4f}", 8)]
        cells += [(money(t["entry_px"]), 9), (money(t["exit_px"]), 9), (signed(t["net"]), 9)]
        return row([*cells, (SHORT_REASON.get(reason, reason)[:6], -6), (held, 5)])
    cells = [(str(n), 5), (when(exit_ns), -14), (symbol, -10), (side, -5), (f"{t['size']:.5f}", 10)]
    cells += [(money(t["entry_px"]), 11), (money(t["exit_px"]), 11), (signed(t["gross"]), 10)]
    return row([*cells, (money(t["fees"]), 9), (signed(t["net"]), 10), (reason, -11), (held, 6)])


def trades_markup(rv: ReportView, wide: bool = True) -> str:
    """Every closed trade, oldest first (the screen scrolls them), in the long table or the short one."""
    closed = rv.closed
    if not len(closed):
        return "[$foreground-muted]no closed trades in this run[/]"
    symbols = rv.report.symbols
    return "\n".join(trade_line(i, t, symbols, wide) for i, t in enumerate(closed, start=1))


def trades_title(rv: ReportView) -> str:
    still = len(rv.report.trades) - len(rv.closed)
    return f"closed trades ({len(rv.closed)}" + (f"; {still} open at the end)" if still else ")")


def tabs_markup(current: str) -> str:
    """``1 summary  2 trades  3 equity`` with the one on show reversed."""
    parts = []
    for i, (pane, label) in enumerate(TABS, start=1):
        text = f" {i} {label} "
        parts.append(f"[reverse]{text}[/reverse]" if pane == current else text)
    return "".join(parts) + "  [b]esc[/b] back"
