"""The HTML report: one self-contained file (plotly with its JavaScript inline, no network needed to open it) with
the equity curve, the drawdown, and each symbol's price with the trades marked on it (entries ▲ long / ▼ short,
exits ×), beside the summary table."""

from __future__ import annotations

import html as html_escape
from pathlib import Path

import numpy as np

from bot4.backtest.report import Report
from bot4.backtest.text import format_report
from bot4.core.records import TICK_BAR, TICK_BBO, TICK_TRADE

MAX_PRICE_POINTS = 4_000


def _times(ns: np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype="datetime64[ns]")


def price_series(ticks: np.ndarray, symbol_id: int) -> tuple[np.ndarray, np.ndarray]:
    """A symbol's trade prices (or mids, or bar closes), thinned to at most MAX_PRICE_POINTS for drawing."""
    mine = ticks[ticks["symbol_id"] == symbol_id]
    trades = mine[(mine["kind"] == TICK_TRADE) | (mine["kind"] == TICK_BAR)]  # prints and bar closes
    if len(trades) == 0:
        trades = mine[mine["kind"] == TICK_BBO]  # a quote-only file: its mids
    step = max(1, len(trades) // MAX_PRICE_POINTS)
    sel = trades[::step]
    return sel["ts_exch_ns"], sel["price"]


def write_html(report: Report, ticks: np.ndarray, path: Path) -> Path:
    """Write the report as one HTML file at ``path``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n_sym = len(report.symbols)
    titles = ["equity", "drawdown"] + [f"{s}: price and trades" for s in report.symbols]
    fig = make_subplots(
        rows=2 + n_sym,
        cols=1,
        shared_xaxes=True,
        subplot_titles=titles,
        vertical_spacing=0.04,
        row_heights=[0.3, 0.15] + [0.55 / max(1, n_sym)] * n_sym,
    )
    c = report.curve
    t = _times(c["ts_ns"])
    eq = c["equity"]
    peak = np.maximum.accumulate(eq) if len(eq) else eq
    fig.add_trace(go.Scatter(x=t, y=eq, name="equity", mode="lines"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=t, y=-(1.0 - eq / peak) * 100.0, name="drawdown %", mode="lines", fill="tozeroy"), row=2, col=1
    )
    tr = report.trades
    for s, name in enumerate(report.symbols):
        ts, px = price_series(ticks, s)
        fig.add_trace(go.Scattergl(x=_times(ts), y=px, name=f"{name} price", mode="lines"), row=3 + s, col=1)
        mine = tr[tr["symbol_id"] == s]
        for side, label, symbol in ((1, "long entry", "triangle-up"), (-1, "short entry", "triangle-down")):
            sel = mine[mine["side"] == side]
            fig.add_trace(
                go.Scatter(
                    x=_times(sel["ts_entry_ns"]),
                    y=sel["entry_px"],
                    name=f"{name} {label}",
                    mode="markers",
                    marker={"symbol": symbol, "size": 9},
                ),
                row=3 + s,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=_times(mine["ts_exit_ns"]),
                y=mine["exit_px"],
                name=f"{name} exit",
                mode="markers",
                marker={"symbol": "x", "size": 8},
                text=[f"net {v:,.2f}" for v in mine["net"]],
            ),
            row=3 + s,
            col=1,
        )
    fig.update_layout(height=500 + 300 * n_sym, title="bot4 backtest", showlegend=True)
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    summary = html_escape.escape(format_report(report, chart=False))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bot4 backtest</title></head><body>"
        f"<pre style='font-family: monospace'>{summary}</pre>{body}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
