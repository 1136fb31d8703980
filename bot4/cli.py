"""The ``bot4-tui`` command: the workstation, or (``--headless``) the same engine as a server process.

It parses and checks the command line, then hands over to the composition root (:mod:`bot4.compose`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import bot4
from bot4.core.config import ConfigError
from bot4.logs import event, setup_logging

if TYPE_CHECKING:  # the engine's modules are loaded when an engine is to run (``--report`` reads files only)
    from bot4.runtime.config import AppConfig
    from bot4.ui.report_app import ReportApp

log = logging.getLogger("bot4.cli")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number of seconds above 0")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 (as fast as possible) or a positive factor")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot4-tui",
        description="bot4: a terminal trading workstation for crypto. With no arguments it trades on paper against "
        "the built-in exchange simulator, replaying the real market data it ships with.",
    )
    p.add_argument("--headless", action="store_true", help="run the engine without the UI (a server process)")
    p.add_argument("--config", metavar="PATH", help="bot4.toml to load (default: built-in defaults)")
    p.add_argument("--run-for", type=_seconds, metavar="SECONDS", help="stop cleanly after this many seconds")
    p.add_argument("--metrics-addr", metavar="HOST:PORT", help="Prometheus exporter address ('' = off)")
    p.add_argument("--api-addr", metavar="HOST:PORT", help="control API address ('' = off)")
    p.add_argument("--state-dir", metavar="DIR", help="journal and token directory (default: user data dir)")
    p.add_argument("--log-format", choices=("json", "text"), help="log line format")
    p.add_argument("--log-file", metavar="PATH", help="write logs to this file instead of standard error")
    p.add_argument("--speed", type=_speed, help="replay speed: 1 = real time, 0 = as fast as possible")
    p.add_argument(
        "--until-end", action="store_true", help="replay the data once and stop when it ends (replay.loop = false)"
    )
    p.add_argument(
        "--debug-strategy",
        action="store_true",
        help="run the user strategy's handlers as plain Python (tracebacks at your line; slow)",
    )
    p.add_argument("--connect", metavar="URL", help="attach the UI to a headless engine's control API")
    p.add_argument("--token", help="control API token for --connect (default: $BOT4_API_TOKEN)")
    p.add_argument(
        "--report",
        metavar="DIR",
        help="open a finished backtest report (a directory bot4 backtest wrote) alone: no engine is started",
    )
    p.add_argument("--version", action="version", version=f"bot4 {bot4.__version__}")
    return p


def resolve_config(args: argparse.Namespace) -> AppConfig:
    from bot4.runtime.config import load_config, parse_addr

    cfg = load_config(args.config)
    rt = cfg.runtime
    if args.metrics_addr is not None:
        if args.metrics_addr:
            parse_addr(args.metrics_addr, "--metrics-addr")
        rt = replace(rt, metrics_addr=args.metrics_addr)
    if args.api_addr is not None:
        if args.api_addr:
            parse_addr(args.api_addr, "--api-addr")
        rt = replace(rt, api_addr=args.api_addr)
    if args.state_dir is not None:
        rt = replace(rt, state_dir=args.state_dir)
    if args.log_format is not None:
        rt = replace(rt, log_format=args.log_format)
    if args.log_file is not None:
        rt = replace(rt, log_file=args.log_file)
    replay = cfg.replay if args.speed is None else replace(cfg.replay, speed=args.speed)
    if args.until_end:
        replay = replace(replay, loop=False)
    core = cfg.core
    if args.debug_strategy:
        if not any(":" in s.kind for s in core.strategies):
            raise ConfigError('--debug-strategy: the config runs no user strategy (kind = "file.py:Class")')
        core = replace(core, strategies=tuple(replace(s, debug=True) if ":" in s.kind else s for s in core.strategies))
    return replace(cfg, runtime=rt, replay=replay, core=core)


def first_start_notice() -> str | None:
    """A line to show before the first start compiles the core (nothing when compiled kernels are cached)."""
    import numba.core.config

    import bot4.core  # noqa: F401 - sets numba's cache dir

    cache = Path(numba.core.config.CACHE_DIR or "")
    if cache.is_dir() and any(cache.rglob("*.nbi")):
        return None
    return "bot4: compiling the trading core (first start only, about two minutes on 2 cores)…"


def report_app(directory: str) -> ReportApp:
    """The report viewer on ``directory`` (ValueError saying what is wrong when it is not a report); the UI's modules
    without the engine's."""
    from bot4.ui.report_app import make_report_app

    return make_report_app(Path(directory))


def run_report(directory: str) -> int:
    """``--report DIR``: the report viewer alone, until escape or q."""
    try:
        app = report_app(directory)
    except ValueError as exc:
        sys.stderr.write(f"bot4: {exc}\n")
        return 1
    return app.run() or 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report is not None:
        if args.headless or args.connect:
            parser.error("--report opens a finished report: it takes no --headless or --connect")
        return run_report(args.report)
    from bot4.runtime.api import ApiError
    from bot4.runtime.journal import JournalError
    from bot4.runtime.statelock import StateDirBusy
    from bot4.venues.live_config import VenueError

    try:
        cfg = resolve_config(args)
    except ConfigError as exc:
        sys.stderr.write(f"bot4: {exc}\n")  # one write: the log thread cannot cut into the line
        return 2
    notice = None if args.connect else first_start_notice()
    if notice:
        print(notice, file=sys.stderr, flush=True)
    from bot4 import compose

    if args.headless:
        setup_logging(cfg.runtime.log_format, cfg.runtime.log_file)
        try:
            return asyncio.run(compose.run_headless(cfg, args.run_for))
        except (JournalError, ApiError, VenueError, StateDirBusy, ValueError, OSError) as exc:
            event(log, "fatal", logging.ERROR, error=str(exc))
            sys.stderr.write(f"bot4: {exc}\n")  # one write: the log thread cannot cut into the line
            return 1
    token = args.token or os.environ.get("BOT4_API_TOKEN", "")
    try:
        return compose.run_tui(cfg, compose.state_dir_of(cfg), connect=args.connect, token=token, run_for=args.run_for)
    except (JournalError, ApiError, VenueError, StateDirBusy, ValueError, OSError, ConnectionError) as exc:
        sys.stderr.write(f"bot4: {exc}\n")  # one write: the log thread cannot cut into the line
        return 1


if __name__ == "__main__":
    sys.exit(main())
