"""The ``bot4`` command's subcommands (``bot4 backtest``, ``bot4 data ...``, ``bot4 new-strategy``, ...).

Each is a module here with ``register(subparsers)``: it adds its parser and sets ``func`` (args -> exit code) as its
default. ``bot4-tui`` (the workstation and the headless engine) stays its own command, ``bot4.cli``.
"""

from __future__ import annotations

import argparse
import importlib

COMMANDS = (
    "bot4.commands.tui",
    "bot4.commands.backtest",
    "bot4.commands.sweep",
    "bot4.commands.data",
    "bot4.commands.new_strategy",
)


def build_parser() -> argparse.ArgumentParser:
    import bot4

    p = argparse.ArgumentParser(
        prog="bot4",
        description="bot4: a terminal trading workstation for crypto. `bot4 tui` (or `bot4-tui`) runs the workstation.",
    )
    p.add_argument("--version", action="version", version=f"bot4 {bot4.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
