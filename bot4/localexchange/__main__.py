"""``python -m bot4.localexchange``: run the local exchange (see :mod:`bot4.localexchange.server`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bot4.core.config import CoreConfig
from bot4.localexchange.server import LocalExchange
from bot4.venues.replay import load_sample


def main(argv: list[str] | None = None) -> int:
    """Run a local exchange until interrupted (keys from BOT4_BINANCE_API_KEY / BOT4_BINANCE_SECRET)."""
    ap = argparse.ArgumentParser(
        prog="python -m bot4.localexchange",
        description="A local Binance-style exchange backed by the paper exchange (for rehearsals and tests).",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--speed", type=float, default=10.0, help="replay clock rate (1 = real time)")
    ap.add_argument("--history-days", type=float, default=1.0,
                    help="how far back the klines and aggTrades history reaches before the start (default 1)")
    ap.add_argument("--depth", action="store_true",
                    help="serve the shipped L2 book of BTC/USDT (every level, its recorded diffs) instead of one level")
    args = ap.parse_args(argv)
    if not 0 <= args.history_days <= 3650:
        ap.error(f"--history-days {args.history_days}: must be between 0 and 3650")
    key, secret = os.environ.get("BOT4_BINANCE_API_KEY", ""), os.environ.get("BOT4_BINANCE_SECRET", "")
    if not key or not secret:
        ap.error("set BOT4_BINANCE_API_KEY and BOT4_BINANCE_SECRET: the keys the server will accept")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def serve() -> None:
        ticks = load_sample(CoreConfig().symbols, with_depth=True) if args.depth else None
        ex = LocalExchange(
            api_key=key, secret=secret, ticks=ticks, speed=args.speed, history_s=args.history_days * 86_400
        )
        await ex.start(args.host, args.port)
        try:
            await asyncio.Event().wait()
        finally:
            await ex.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
