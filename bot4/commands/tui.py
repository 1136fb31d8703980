"""``bot4 tui [...]``: the workstation (the same as ``bot4-tui``, whose flags it takes)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tui", help="the workstation, or with --headless the engine as a server (as bot4-tui)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot4.cli import main

    return main(args.rest)
