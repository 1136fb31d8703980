"""``bot4 data record`` end to end: ccxt.pro's websockets against the local exchange into rotated files whose
sidecars and summary count the gaps made on purpose (a lost book message, a silence, a dropped connection), the
recorded book rebuilt from its file agreeing with the recorded best bid and ask, and the recording backtested."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
from pathlib import Path

import pytest

from bot4.commands import main
from bot4.core.book import book_counts, book_levels, depth_apply_nb, new_book
from bot4.localexchange.server import LocalExchange
from bot4.marketdata.client import load_markets, public_client
from bot4.marketdata.record import Recorder, RecordSpec
from bot4.marketdata.rotation import RotatingFile, finish_parts
from bot4.venues.replay import load_csv, load_sample
from tests.data.conftest import Served
from tests.data.test_download import CONFIG


def rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split(",") for line in fh][1:]


def files(out: Path, market: str, kind: str) -> list[Path]:
    return sorted(out.glob(f"binance_{market}_{kind}_*.csv.gz"))


def rebuilt_tops(depth: list[Path]) -> dict[int, tuple[float, float]]:
    """Best bid and ask after each update id, replaying the depth files as the data README says: a snapshot replaces
    the book, diffs not newer than the snapshot are dropped, the rest applied in file order."""
    book: dict[str, dict[float, float]] = {"bid": {}, "ask": {}}
    snap_id, in_snapshot, tops = -1, False, {}
    for path in depth:
        for r in rows(path):
            event, side, px, qty, last = r[2], r[3], float(r[4]), float(r[5]), int(r[7])
            if event == "snapshot":
                if not in_snapshot:
                    book, snap_id, in_snapshot = {"bid": {}, "ask": {}}, last, True
                book[side][px] = qty
                continue
            in_snapshot = False
            if last <= snap_id:
                continue
            if qty == 0:
                book[side].pop(px, None)
            else:
                book[side][px] = qty
            if book["bid"] and book["ask"]:
                tops[last] = (max(book["bid"]), min(book["ask"]))
    return tops


def test_a_recording_rotates_counts_its_gaps_and_replays(
    live_exchange: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex, out = live_exchange.exchange, tmp_path / "rec"

    def silence(on: bool) -> None:
        ex.silent = on

    events = [
        threading.Timer(1.5, live_exchange.call, [lambda: ex.market.lose_depth_updates("BTC/USDT", 1)]),
        threading.Timer(2.5, live_exchange.call, [lambda: silence(True)]),
        threading.Timer(3.7, live_exchange.call, [lambda: silence(False)]),
    ]
    for t in events:
        t.start()
    argv = [
        "data",
        "record",
        "--symbol",
        "BTC/USDT",
        "--symbol",
        "ETH/USDT",
        "--rest-url",
        live_exchange.rest_url,
        "--ws-url",
        live_exchange.ws_url,
        "--out",
        str(out),
        "--duration",
        "6",
        "--rotate",
        "2",
        "--max-silence",
        "0.8",
    ]
    assert main(argv) == 0
    for t in events:
        t.join()
    text = capsys.readouterr().out
    assert "BTC/USDT depth" in text and "1 sequence gap(s)" in text and "1 resync(s)" in text

    assert not list(out.glob("*.part"))  # every file finished
    summary = json.loads(next(out.glob("record-*.json")).read_text())
    assert summary["gaps"]["BTC/USDT depth"]["sequence"] == 1  # the one lost book message, and only it
    assert summary["gaps"]["ETH/USDT depth"]["sequence"] == 0
    assert summary["gaps"]["BTC/USDT trades"]["time"] >= 1  # the silence, on every stream
    assert summary["gaps"]["BTC/USDT trades"]["longest_silence_s"] >= 0.8
    for key, gaps in summary["gaps"].items():
        if "trades" in key:
            assert gaps["sequence"] == 0 and gaps["missing_ids"] == 0, key  # no trade was lost

    depth = files(out, "BTCUSDT", "depth")
    trades = files(out, "BTCUSDT", "trades")
    bbo = files(out, "BTCUSDT", "bbo")
    assert len(trades) >= 3 and len(depth) >= 3  # a new file every 2 s
    sidecars = [json.loads(Path(str(p) + ".json").read_text()) for p in depth]
    assert sum(s["gaps"]["sequence"] for s in sidecars) == 1
    assert sum(s["rows"] for s in sidecars) == summary["rows"]["BTC/USDT depth"]
    for p, s in zip(depth, sidecars, strict=True):
        assert rows(p)[0][2] == "snapshot" and s["rows"] == len(rows(p))  # each file replays on its own

    ids = [int(r[2]) for p in trades for r in rows(p)]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # every trade, once, in order, across the files
    tops = rebuilt_tops(depth)
    quotes = {int(r[1]): (float(r[2]), float(r[4])) for p in bbo for r in rows(p)}
    common = tops.keys() & quotes.keys()
    # how many quotes a 6 s recording holds depends on the host's load (50 on a loaded run); a few dozen to compare
    # is enough, every one of them must agree
    assert len(common) >= 20, (len(common), len(tops), len(quotes))
    assert all(tops[u] == quotes[u] for u in common)  # the book from the depth file is the exchange's

    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    data = [f"BTC/USDT={p}" for p in trades + bbo]
    ticks = sum(len(load_csv(p, 0)[0]) for p in trades + bbo)
    assert ticks == sum(len(rows(p)) for p in trades + bbo)  # the replay takes every recorded row
    rep = tmp_path / "rep"
    assert (
        main(["backtest", "--config", str(cfg), *sum((["--data", d] for d in data), []), "--out", str(rep), "--quiet"])
        == 0
    )
    assert (rep / "summary.json").exists()


async def test_a_dropped_connection_is_counted_and_the_recording_goes_on(tmp_path: Path) -> None:
    ex = LocalExchange(api_key="k", secret="s", speed=10.0, history_s=0.0)
    url = await ex.start()
    client = public_client("binance", url + "/api/v3", url.replace("http", "ws", 1) + "/stream/ws")
    try:
        await load_markets(client, ["BTC/USDT"])
        spec = RecordSpec(
            "binance",
            ("BTC/USDT",),
            tmp_path,
            ("trades", "depth"),
            duration_s=4.0,
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        )
        rec = asyncio.ensure_future(Recorder(client, spec).run())
        await asyncio.sleep(1.5)
        assert await ex.drop_streams() >= 1
        summary = await rec
    finally:
        await client.close()
        await ex.stop()
    assert summary.gaps["BTC/USDT trades"].reconnects >= 1 or summary.gaps["BTC/USDT depth"].reconnects >= 1
    last = max(int(r[0]) for p in files(tmp_path, "BTCUSDT", "trades") for r in rows(p))
    assert (last - summary.started_ns) / 1e9 > 2.5  # still recording after the drop


def test_a_killed_recordings_part_file_is_finished_as_salvaged(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path, "binance", "BTC/USDT", "trades", 3600.0)
    now = 1_723_161_254_087_896_568
    f.write([(now + i, 1723161255342 + i, 3735683259 + i, "61837.63", "0.02", "sell") for i in range(5000)], now)
    f._writer._fh.flush()  # type: ignore[union-attr]  # what reached the disk before the kill
    part = next(tmp_path.glob("*.part"))
    os.truncate(part, part.stat().st_size - 100)
    done = finish_parts(tmp_path)
    assert len(done) == 1 and done[0].salvaged
    final = Path(done[0].path)
    kept = rows(final)
    assert 0 < len(kept) == done[0].rows and kept[-1][2] == str(3735683259 + len(kept) - 1)
    assert json.loads(Path(str(final) + ".json").read_text())["salvaged"] is True
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--streams", "trades,candles"], "--streams 'trades,candles'"), (["--symbol", "NOPE/USDT"], "no such market")],
)
def test_record_refuses_bad_input_in_one_line(
    live_exchange: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = [
        "data",
        "record",
        "--symbol",
        "BTC/USDT",
        "--rest-url",
        live_exchange.rest_url,
        "--ws-url",
        live_exchange.ws_url,
        "--out",
        str(tmp_path),
        "--duration",
        "1",
        *extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


async def test_the_local_exchanges_l2_book_records_and_replays_level_for_level(tmp_path: Path) -> None:
    """With the shipped BTC/USDT depth the local exchange serves every level and the recorded diffs; a recording of
    it rebuilds, through bot4's own book, the exchange's book: gap-free, and the best levels equal at the end."""
    ex = LocalExchange(
        api_key="k", secret="s", speed=10.0, history_s=0.0, ticks=load_sample(("BTC/USDT", "ETH/USDT"), with_depth=True)
    )
    url = await ex.start()
    client = public_client("binance", url + "/api/v3", url.replace("http", "ws", 1) + "/stream/ws")
    try:
        await load_markets(client, ["BTC/USDT"])
        spec = RecordSpec("binance", ("BTC/USDT",), tmp_path, ("depth",), duration_s=4.0)
        rec = asyncio.ensure_future(Recorder(client, spec).run())
        await asyncio.sleep(3.0)
        ex.silent = True  # the market stops; what was sent reaches the recorder before it ends
        summary = await rec
        served = ex.market.full["BTC/USDT"].levels(5)
    finally:
        await client.close()
        await ex.stop()
    assert summary.gaps["BTC/USDT depth"].sequence == 0
    depth = files(tmp_path, "BTCUSDT", "depth")
    ticks, report = load_csv(depth[0], 0)
    assert report.kind == "depth" and len(ticks) > 1000
    book = new_book(1)
    for t in ticks:
        depth_apply_nb(book, 0, int(t["side"]), t["price"], t["size"], t["bid_px"], t["ask_px"], int(t["bid_sz"]))
    counts = book_counts(book, 0)
    assert counts["gaps"] == 0 and counts["crossed"] == 0 and counts["messages"] >= 3
    bids, asks = book_levels(book, 0, 5)
    assert len(bids) == len(asks) == 5  # many levels, not the one-level book of the bbo stream
    as_served = ([[float(p), float(q)] for p, q in served[0]], [[float(p), float(q)] for p, q in served[1]])
    assert (bids.tolist(), asks.tolist()) == as_served
