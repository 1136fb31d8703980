"""The ``bot4-tui`` command."""

from __future__ import annotations

import argparse
import sys

import bot4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot4-tui",
        description="bot4: a terminal trading workstation for crypto.",
    )
    parser.add_argument("--version", action="version", version=f"bot4 {bot4.__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print(f"bot4 {bot4.__version__}: the core's memory (records, pools, rings, stats) is built; see README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
