"""Summary figures of a backtest, from its equity curve (sampled on a regular market-time grid) and its trades.

Conventions (those of empyrical / pyfolio, so the figures compare with other tools):
- returns are simple returns between consecutive equity samples; crypto trades all year, so a year is
  365 days of samples (``periods_per_year = 365 * 86400 / bar_seconds``);
- Sharpe = mean / standard deviation (ddof 1) x sqrt(periods per year), risk-free rate 0;
- Sortino = mean / downside deviation x sqrt(periods per year), downside deviation = sqrt(mean(min(r, 0)^2));
- max drawdown = the largest fall from a running peak, as a fraction of that peak; its duration is the longest
  time spent below a peak (to the sample that regained it, or to the end);
- CAGR = (final / initial) ^ (1 / years) - 1, given only when the data spans at least ``MIN_CAGR_DAYS`` (a figure
  compounded from hours says nothing); Calmar = CAGR / max drawdown, under the same condition;
- trade figures (win rate, profit factor, expectancy, average duration) count closed trades only; net and gross PnL
  and fees come from the account (open positions marked at the last price);
- exposure time = the fraction of the span during which any position was open.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from bot4.backtest.trades import EXIT_OPEN

DAY_NS = 86_400 * 1_000_000_000
YEAR_DAYS = 365.0
MIN_CAGR_DAYS = 30.0


@dataclass(frozen=True)
class Metrics:
    """A backtest's summary. Money in quote units, fractions as fractions, times in seconds; None = not defined."""

    initial_equity: float
    final_equity: float
    net_pnl: float  # final - initial equity
    gross_pnl: float  # net + fees
    fees: float
    total_return: float  # net / initial
    cagr: float | None  # None when the span is under MIN_CAGR_DAYS
    sharpe: float | None  # None with fewer than 2 returns or no variation
    sortino: float | None  # None with no downside
    calmar: float | None  # None without a CAGR or without a drawdown
    max_drawdown: float  # fraction of the peak
    max_drawdown_duration_s: float  # longest time under a peak
    trades: int  # closed trades
    open_trades: int  # positions still open at the end
    win_rate: float | None  # winning closed trades / closed trades
    profit_factor: float | None  # gross wins / gross losses (net of fees); None without a losing trade
    expectancy: float | None  # mean net PnL per closed trade
    avg_duration_s: float | None
    exposure_time: float  # fraction of the span with a position open
    trades_per_day: float
    span_s: float  # first to last tick
    bar_s: float  # equity sample spacing
    periods: int  # equity samples

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def returns_of(equity: np.ndarray) -> np.ndarray:
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) < 2:
        return np.zeros(0)
    return eq[1:] / eq[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if not sd > 0.0:
        return None
    return float(np.mean(returns)) / sd * math.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if not downside > 0.0:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(periods_per_year)


def max_drawdown(ts_ns: np.ndarray, equity: np.ndarray) -> tuple[float, float]:
    """(largest drawdown as a fraction of its peak, longest time under a peak in seconds)."""
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) == 0:
        return 0.0, 0.0
    peak = np.maximum.accumulate(eq)
    dd = 1.0 - eq / peak
    worst = float(dd.max())
    under = eq < peak
    longest = 0
    start = -1
    for i in range(len(eq)):
        if under[i]:
            if start < 0:
                start = i - 1  # the peak's sample
        elif start >= 0:
            longest = max(longest, int(ts_ns[i] - ts_ns[start]))
            start = -1
    if start >= 0:
        longest = max(longest, int(ts_ns[-1] - ts_ns[start]))
    return worst, longest / 1e9


def exposure_fraction(trades: np.ndarray, ts_start: int, ts_end: int) -> float:
    """Fraction of [ts_start, ts_end] covered by at least one trade (the union of their intervals)."""
    span = ts_end - ts_start
    if span <= 0 or len(trades) == 0:
        return 0.0
    order = np.argsort(trades["ts_entry_ns"], kind="stable")
    covered = 0
    cur_a, cur_b = int(trades["ts_entry_ns"][order[0]]), int(trades["ts_exit_ns"][order[0]])
    for i in order[1:]:
        a, b = int(trades["ts_entry_ns"][i]), int(trades["ts_exit_ns"][i])
        if a > cur_b:
            covered += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    covered += cur_b - cur_a
    return min(1.0, covered / span)


def compute_metrics(
    ts_ns: np.ndarray,
    equity: np.ndarray,
    trades: np.ndarray,
    initial_equity: float,
    fees: float,
    ts_start: int,
    ts_end: int,
    bar_ns: int,
) -> Metrics:
    """The summary of one run: ``equity`` sampled at ``ts_ns`` (every ``bar_ns``; the first sample is the initial
    equity), its ``trades``, the account's total ``fees``, and the data's first and last tick times."""
    equity = np.asarray(equity, dtype=np.float64)
    final = float(equity[-1]) if len(equity) else initial_equity
    net = final - initial_equity
    span_s = max(0, ts_end - ts_start) / 1e9
    days = span_s / 86_400.0
    ppy = YEAR_DAYS * DAY_NS / bar_ns
    rets = returns_of(equity)
    dd, dd_s = max_drawdown(ts_ns, equity)
    cagr = None
    if days >= MIN_CAGR_DAYS and final > 0:
        cagr = (final / initial_equity) ** (YEAR_DAYS / days) - 1.0
    calmar = cagr / dd if cagr is not None and dd > 0 else None
    closed = trades[trades["exit_reason"] != EXIT_OPEN]
    n = len(closed)
    nets = closed["net"]
    wins, losses = nets[nets > 0].sum(), -nets[nets < 0].sum()
    return Metrics(
        initial_equity=initial_equity,
        final_equity=final,
        net_pnl=net,
        gross_pnl=net + fees,
        fees=fees,
        total_return=net / initial_equity,
        cagr=cagr,
        sharpe=sharpe_ratio(rets, ppy),
        sortino=sortino_ratio(rets, ppy),
        calmar=calmar,
        max_drawdown=dd,
        max_drawdown_duration_s=dd_s,
        trades=n,
        open_trades=len(trades) - n,
        win_rate=float((nets > 0).sum()) / n if n else None,
        profit_factor=float(wins / losses) if losses > 0 else None,
        expectancy=float(nets.mean()) if n else None,
        avg_duration_s=float(((closed["ts_exit_ns"] - closed["ts_entry_ns"]) / 1e9).mean()) if n else None,
        exposure_time=exposure_fraction(trades, ts_start, ts_end),
        trades_per_day=n / days if days > 0 else 0.0,
        span_s=span_s,
        bar_s=bar_ns / 1e9,
        periods=len(equity),
    )


# metrics a sweep may rank by, and whether larger is better
RANKABLE = {
    "sharpe": True,
    "sortino": True,
    "calmar": True,
    "net_pnl": True,
    "total_return": True,
    "cagr": True,
    "profit_factor": True,
    "expectancy": True,
    "win_rate": True,
    "max_drawdown": False,
    "fees": False,
    "trades": True,
}
