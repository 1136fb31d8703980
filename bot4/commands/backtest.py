"""``bot4 backtest``: one pass over recorded data with the live core, paper venue and risk checks, then the report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backtest",
        help="replay recorded data through the engine and report what it traded",
        description="One lockstep pass over recorded data (the same core, paper venue and risk "
        "checks as the paper and live engines), then a report: metrics, per-symbol table, exit "
        "reasons, trade list and equity curve (CSV, Parquet; HTML with --html).",
    )
    add_data_args(p)
    p.add_argument("--out", metavar="DIR", help="report directory (default: backtests/<UTC time>)")
    p.add_argument("--html", action="store_true", help="also write report.html (plotly, self-contained)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no terminal report (files only)")
    p.set_defaults(func=run)


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="bot4.toml (default: built-in defaults)")
    p.add_argument(
        "--data",
        metavar="SYMBOL=PATH",
        action="append",
        help="a recorded file for an instrument (repeat; default: the config's replay.files, else the shipped sample)",
    )
    p.add_argument("--from", dest="ts_from", metavar="TIME", help="start, ISO date or date-time (UTC)")
    p.add_argument("--to", dest="ts_to", metavar="TIME", help="end (exclusive), ISO date or date-time (UTC)")
    p.add_argument(
        "--bar",
        type=float,
        metavar="SECONDS",
        help="equity sample spacing (default: chosen from the span, at most 5,000 samples)",
    )


PLAIN_EVERY_S = 5.0  # off a terminal (a log file, a pipe, CI): a plain progress line this often at most


class Progress:
    """Progress on standard error: on a terminal a bar redrawn at most 10 times a second; elsewhere (a log, a pipe) a
    plain line every ``PLAIN_EVERY_S`` while it runs, so a long download or backtest is seen to move; then one line
    at the end."""

    def __init__(
        self, label: str, enabled: bool = True, tty: bool | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.label, self.enabled = label, enabled
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.clock = clock
        self.start = clock()
        self.last = 0.0 if self.tty else self.start

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        frac = done / total if total else 1.0
        if not self.tty:
            if now - self.last >= PLAIN_EVERY_S and done < total:
                self.last = now
                sys.stderr.write(f"{self.label}: {100 * frac:.1f} %  {done:,}/{total:,}  {now - self.start:.0f} s\n")
                sys.stderr.flush()
            return
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        bar = "█" * int(30 * frac) + "·" * (30 - int(30 * frac))
        sys.stderr.write(f"\r{self.label} {bar} {100 * frac:5.1f} %  {done:,}/{total:,}")
        sys.stderr.flush()

    def done(self, what: str) -> None:
        if not self.enabled:
            return
        sys.stderr.write(
            ("\r" if self.tty else "") + f"{self.label} done: {what} in "
            f"{self.clock() - self.start:.2f} s" + (" " * 20 if self.tty else "") + "\n"
        )


def load_inputs(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(config, ticks, bar_ns) from the common flags; raises ConfigError / ValueError with a one-line message."""
    from bot4.backtest.data import load_ticks, parse_time, with_data
    from bot4.runtime.config import load_config

    config = with_data(load_config(args.config), args.data)
    ts_from = parse_time(args.ts_from, "--from") if args.ts_from else None
    ts_to = parse_time(args.ts_to, "--to") if args.ts_to else None
    if ts_from is not None and ts_to is not None and ts_to <= ts_from:
        raise ValueError(f"--to {args.ts_to} is not after --from {args.ts_from}")
    if args.bar is not None and not 0.001 <= args.bar <= 31 * 86_400:
        raise ValueError(f"--bar {args.bar}: must be between 0.001 and 2678400 seconds")
    ticks = load_ticks(config, ts_from, ts_to)
    bar_ns = int(args.bar * 1e9) if args.bar else None
    return config, ticks, bar_ns


def run(args: argparse.Namespace) -> int:
    from bot4.core.config import ConfigError

    try:
        return _run(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"bot4 backtest: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from bot4.backtest.report import make_report, new_report_dir, write_report
    from bot4.backtest.run import run_one
    from bot4.backtest.text import format_report

    config, ticks, bar_ns = load_inputs(args)
    out = Path(args.out) if args.out else new_report_dir()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    progress = Progress("backtest", enabled=not args.quiet)
    result = run_one(config, ticks, bar_ns, progress)
    progress.done(f"{len(ticks):,} ticks")
    report = make_report(result)
    written = write_report(report, out)
    if args.html:
        from bot4.backtest.html import write_html

        written.append(write_html(report, ticks, out / "report.html"))
    if not args.quiet:
        print(format_report(report))
        print()
    print(f"report: {out}/ ({', '.join(p.name for p in written)})")
    return 0
