"""A report as plain text for the terminal: the summary, the per-symbol table, the exit reasons, and the equity
curve drawn in braille (2 x 4 dots per character cell)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np

from bot4.backtest.report import Report

BRAILLE_BASE = 0x2800
# dot bit for (column 0/1, row 0..3 from the top) of a braille cell
DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def braille_chart(values: np.ndarray, width: int = 72, height: int = 8) -> list[str]:
    """``values`` as a line chart ``width`` characters wide and ``height`` lines tall (braille dots)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return []
    cols, rows = width * 2, height * 4
    idx = np.linspace(0, len(v) - 1, cols).round().astype(int)
    pts = v[idx]
    lo, hi = float(v.min()), float(v.max())
    scale = (rows - 1) / (hi - lo) if hi > lo else 0.0
    ys = (rows - 1) - np.round((pts - lo) * scale).astype(int) if scale else np.full(cols, rows // 2)
    grid = np.zeros((height, width), dtype=np.int64)
    prev = None
    for x, y in enumerate(ys.tolist()):
        span = [y] if prev is None else range(min(prev, y), max(prev, y) + 1)  # join the steps: a line, not dots
        for yy in span:
            grid[yy // 4, x // 2] |= DOT[x % 2][yy % 4]
        prev = y
    return ["".join(chr(BRAILLE_BASE + int(c)) for c in row) for row in grid]


def fmt_money(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def fmt_pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def fmt_num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def fmt_dur(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} d"


def fmt_when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


Money = Callable[[float | None], str]


def run_facts(report: Report) -> list[str]:
    """What was run: the span, ticks, orders, fills and the config, one part each."""
    m, info = report.metrics, report.info
    return [
        f"{fmt_when(info['ts_start_ns'])} -> {fmt_when(info['ts_end_ns'])} UTC ({fmt_dur(m.span_s)})",
        f"{info['ticks']:,} ticks",
        f"{info['orders']} orders",
        f"{info['fills']} fills",
        f"config {info['config']}",
    ]


def strategies_text(info: dict[str, Any]) -> str:
    """The strategies a report ran, short (``ema_cross 5/20``)."""
    return ", ".join(
        f"{s['kind']}" + (f" {s['fast_period']}/{s['slow_period']}" if s["kind"] == "ema_cross" else "")
        for s in info.get("strategies", [])
    )


def metric_pairs(report: Report, money: Money = fmt_money, pnl: Money = fmt_money) -> list[tuple[str, str]]:
    """The summary figures as (label, text), in the report's order; ``money`` writes an amount, ``pnl`` a profit or
    loss (the terminal writes both plain, the TUI with the currency and PnL colours)."""
    m = report.metrics
    return [
        ("net PnL", pnl(m.net_pnl)),
        ("gross PnL", pnl(m.gross_pnl)),
        ("fees", money(m.fees)),
        ("return", fmt_pct(m.total_return)),
        ("CAGR", fmt_pct(m.cagr) if m.cagr is not None else "n/a (span < 30 d)"),
        ("Sharpe", fmt_num(m.sharpe)),
        ("Sortino", fmt_num(m.sortino)),
        ("Calmar", fmt_num(m.calmar)),
        ("max drawdown", fmt_pct(m.max_drawdown)),
        ("max DD duration", fmt_dur(m.max_drawdown_duration_s)),
        ("profit factor", fmt_num(m.profit_factor)),
        ("expectancy", pnl(m.expectancy)),
        ("win rate", fmt_pct(m.win_rate)),
        ("trades", f"{m.trades} closed, {m.open_trades} open"),
        ("exposure time", fmt_pct(m.exposure_time)),
        ("trades per day", f"{m.trades_per_day:.1f}"),
        ("equity", f"{fmt_money(m.initial_equity)} -> {money(m.final_equity)}"),
        ("ratios from", f"{m.periods} samples every {fmt_dur(m.bar_s)}, annualised over 365 d"),
    ]


def format_report(report: Report, width: int = 72, chart: bool = True) -> str:
    """The terminal report; ``chart=False`` leaves out the braille equity chart (the HTML page draws its own)."""
    info = report.info
    out = []
    out.append("backtest  " + ", ".join(run_facts(report)))
    out.append(f"strategies: {strategies_text(info)}; final trading state {info['trading_state']}")
    out.append("")
    out.append(f"{'symbol':<12} {'trades':>7} {'win rate':>9} {'net PnL':>12} {'fees':>10} {'avg duration':>13}")
    for r in report.per_symbol:
        out.append(
            f"{r.symbol:<12} {r.trades:>7} {fmt_pct(r.win_rate):>9} {fmt_money(r.net_pnl):>12} "
            f"{fmt_money(r.fees):>10} {fmt_dur(r.avg_duration_s):>13}"
        )
    out.append("")
    reasons = ", ".join(f"{k} {v}" for k, v in report.exit_reasons.items()) or "none"
    out.append(f"exit reasons: {reasons}")
    out.append("")
    pairs = metric_pairs(report)
    for i in range(0, len(pairs), 2):
        left = f"{pairs[i][0]:<16} {pairs[i][1]:>18}"
        right = f"   {pairs[i + 1][0]:<16} {pairs[i + 1][1]}" if i + 1 < len(pairs) else ""
        out.append(left + right)
    eq = report.curve["equity"]
    if chart and len(eq) > 1:
        out.append("")
        out.append(f"equity {fmt_money(float(eq.min()))} .. {fmt_money(float(eq.max()))}")
        out.extend(braille_chart(eq, width))
    return "\n".join(out)
