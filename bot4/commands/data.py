"""``bot4 data``: market data into the files bot4 replays: ``download`` (history through ccxt, resumable), ``record``
(live through ccxt.pro websockets, rotated files, gaps counted) and ``import`` (Binance dumps, Tardis CSV,
hftbacktest captures)."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import time
from pathlib import Path


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds above 0")
    return value


def _venue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exchange", default="binance", help="ccxt exchange id (default: binance)")
    p.add_argument("--symbol", action="append", required=True, metavar="BASE/QUOTE", help="market (repeat for more)")
    p.add_argument(
        "--rest-url",
        default="",
        metavar="URL",
        help="REST base instead of the exchange's own (e.g. http://127.0.0.1:8765/api/v3, the local exchange)",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "data",
        help="download, record or import market data into replayable files",
        description="Market data into the files bot4 replays (bot4 backtest --data SYMBOL=FILE).",
    )
    data = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    d = data.add_parser(
        "download",
        help="history through ccxt (trades, candles); a rerun continues the files",
        description="Fetch trades (fetch_trades) or candles (fetch_ohlcv) into "
        "OUT/<exchange>_<MARKET>_trades.csv.gz or _<timeframe>.csv.gz. Run the same command again "
        "to continue where the files end: no row twice, none skipped.",
    )
    _venue_args(d)
    d.add_argument("--what", action="append", choices=("bars", "trades"), help="bars (default) and/or trades")
    d.add_argument("--timeframe", default="1m", help="candle length for bars (default 1m)")
    d.add_argument("--from", dest="ts_from", required=True, metavar="TIME", help="start, ISO date or date-time (UTC)")
    d.add_argument("--to", dest="ts_to", metavar="TIME", help="end (exclusive; default: now)")
    d.add_argument("--out", default="data", metavar="DIR", help="directory of the files (default: data)")
    d.add_argument("--quiet", action="store_true", help="no progress on standard error")
    d.set_defaults(func=run_download)

    r = data.add_parser(
        "record",
        help="live trades, best bid/ask and L2 book through ccxt.pro websockets",
        description="Record live data into OUT/<exchange>_<MARKET>_<stream>_<UTC time>.csv.gz, a new "
        "file every --rotate seconds, each with a .json sidecar; gaps (lost ids, silences) are "
        "counted and reported at the end. Stop with Ctrl-C or --duration.",
    )
    _venue_args(r)
    r.add_argument(
        "--ws-url",
        default="",
        metavar="URL",
        help="streams base instead of the exchange's own (e.g. ws://127.0.0.1:8765/stream/ws)",
    )
    r.add_argument("--streams", default="trades,bbo,depth", help="any of trades,bbo,depth (default: all)")
    r.add_argument("--duration", type=_positive, metavar="SECONDS", help="stop after this long (default: Ctrl-C)")
    r.add_argument("--rotate", type=_positive, default=3600.0, metavar="SECONDS", help="file period (default 3600)")
    r.add_argument(
        "--max-silence",
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="a stream quiet for longer counts a time gap (default 5)",
    )
    r.add_argument("--out", default="data/record", metavar="DIR", help="directory (default: data/record)")
    r.set_defaults(func=run_record)

    i = data.add_parser(
        "import",
        help="Binance dumps (.zip), Tardis CSV, hftbacktest <ts> <json> captures",
        description="Convert files into bot4's: rows bot4 cannot use are refused and counted by "
        "reason, never the rest of the file.",
    )
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--format", default="auto", choices=("auto", "binance", "tardis", "capture"))
    i.add_argument(
        "--symbol",
        metavar="BASE/QUOTE",
        help="the symbol of a capture's depth snapshots (when the file carries several symbols)",
    )
    i.add_argument("--out", default="data", metavar="DIR", help="directory of the files (default: data)")
    i.set_defaults(func=run_import)


def _fail(what: str, exc: BaseException) -> int:
    print(f"bot4 data {what}: {exc}", file=sys.stderr)
    return 2


def market_file(out: Path, exchange: str, symbol: str, what: str, timeframe: str) -> Path:
    market = symbol.replace("/", "").replace(":", "_")
    return out / f"{exchange}_{market}_{'trades' if what == 'trades' else timeframe}.csv.gz"


def run_download(args: argparse.Namespace) -> int:
    from bot4.backtest.data import parse_time
    from bot4.marketdata.client import DataError

    try:
        ts_from = parse_time(args.ts_from, "--from") // 1_000_000
        now_ms = int(time.time() * 1000)
        ts_to = parse_time(args.ts_to, "--to") // 1_000_000 if args.ts_to else now_ms
        if ts_from >= now_ms:
            raise ValueError(f"--from {args.ts_from} is in the future: there is no history there yet")
        if ts_to <= ts_from:
            raise ValueError(f"--to {args.ts_to or 'now'} is not after --from {args.ts_from}")
        return asyncio.run(_download(args, ts_from, min(ts_to, now_ms)))
    except (DataError, ValueError, OSError) as exc:
        return _fail("download", exc)


async def _download(args: argparse.Namespace, ts_from: int, ts_to: int) -> int:
    from bot4.commands.backtest import Progress
    from bot4.marketdata.client import load_markets, public_client
    from bot4.marketdata.download import DownloadSpec, download

    client = public_client(args.exchange, args.rest_url)
    try:
        await load_markets(client, args.symbol)
        for symbol in args.symbol:
            for what in args.what or ["bars"]:
                path = market_file(Path(args.out), args.exchange, symbol, what, args.timeframe)
                label = f"{symbol} {what if what == 'trades' else args.timeframe + ' bars'}"
                progress = Progress(f"download {label}", enabled=not args.quiet)
                res = await download(client, DownloadSpec(symbol, what, ts_from, ts_to, path, args.timeframe), progress)
                progress.done(f"{res.rows_added:,} rows in {res.pages} pages")
                span = ""
                if res.first_ms is not None and res.last_ms is not None:
                    span = f", {_utc(res.first_ms)} to {_utc(res.last_ms)}"
                notes = [f"{res.rows_before:,} rows were there (continued)" if res.rows_before else ""]
                if res.cut_tail:
                    notes.append("its damaged end (an interrupted run) was cut back to the last whole row")
                if res.holes:
                    notes.append(f"{res.holes} hole(s) in what the exchange sent ({res.missing:,} missing)")
                notes.append(res.note)
                print(f"{path}: +{res.rows_added:,} rows{span}" + "".join(f"; {n}" for n in notes if n))
    finally:
        await client.close()
    return 0


def _utc(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_record(args: argparse.Namespace) -> int:
    from bot4.marketdata.client import DataError
    from bot4.marketdata.record import STREAMS

    streams = tuple(s.strip() for s in args.streams.split(",") if s.strip())
    bad = [s for s in streams if s not in STREAMS]
    if bad or not streams:
        return _fail("record", ValueError(f"--streams {args.streams!r}: any of {', '.join(STREAMS)}"))
    try:
        return asyncio.run(_record(args, streams))
    except (DataError, ValueError, OSError) as exc:
        return _fail("record", exc)


async def _record(args: argparse.Namespace, streams: tuple[str, ...]) -> int:
    from bot4.marketdata.client import load_markets, public_client
    from bot4.marketdata.record import Recorder, RecordSpec

    client = public_client(args.exchange, args.rest_url, args.ws_url)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await load_markets(client, args.symbol)
        spec = RecordSpec(
            args.exchange, tuple(args.symbol), Path(args.out), streams, args.duration, args.rotate, args.max_silence
        )
        print(f"bot4 data record: {', '.join(args.symbol)} ({', '.join(streams)}) into {args.out}", file=sys.stderr)
        summary = await Recorder(client, spec).run(stopping)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await client.close()
    for info in summary.salvaged:
        print(f"finished a cut-short file of an earlier run: {info.path} ({info.rows:,} rows)")
    secs = (summary.stopped_ns - summary.started_ns) / 1e9
    print(f"recorded {secs:.1f} s, {len(summary.files)} file(s) in {args.out}")
    for key, rows in summary.rows.items():
        g = summary.gaps[key]
        gaps = [
            f"{g.sequence} sequence gap(s)" + (f" ({g.missing_ids:,} ids lost)" if g.missing_ids else ""),
            f"{g.time} time gap(s)" + (f" (longest {g.longest_silence_s:.1f} s)" if g.time else ""),
        ]
        extra = [
            f"{v} {n}"
            for n, v in (
                ("resync(s)", g.resyncs),
                ("reconnect(s)", g.reconnects),
                ("out of order", g.out_of_order),
                ("duplicate(s)", g.duplicates),
            )
            if v
        ]
        print(f"  {key}: {rows:,} rows; " + ", ".join(gaps + extra))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from bot4.marketdata.client import DataError
    from bot4.marketdata.imports import import_file

    status = 0
    for name in args.files:
        try:
            res = import_file(Path(name), Path(args.out), args.format, args.symbol)
        except (DataError, OSError) as exc:
            status = _fail("import", exc)
            continue
        refused = sum(res.refused.values())
        why = f" ({', '.join(f'{k} {v:,}' for k, v in sorted(res.refused.items()))})" if refused else ""
        print(f"{name} ({res.fmt}): {res.rows_read:,} rows read, {refused:,} refused{why}")
        for path, rows in res.written.items():
            print(f"  {path}: {rows:,} rows")
        for what, n in sorted(res.gaps.items()):
            print(f"  gaps: {n:,} jump(s) in {what}")
    return status
