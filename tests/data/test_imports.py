"""``bot4 data import``: the hftbacktest capture (a real slice of it, and the whole shared capture against the shared
set's own derivation), Binance dumps and Tardis CSV (written here in those layouts from the same real trades, quotes
and book, ms and µs times), every output loading in the replay, and bad rows refused by reason."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from bot4.commands import main
from bot4.core.book import book_counts, book_levels, depth_apply_nb, new_book
from bot4.core.records import TICK_DEPTH
from bot4.marketdata.client import DataError
from bot4.marketdata.imports import import_file
from bot4.venues.replay import load_csv

CAPTURE = "binance_spot_BTCUSDT_20240808T2354_capture.first2000.gz"
TRADES = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.first1000.csv"
BBO = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_bbo.first1000.csv"
LEAN_BARS = "binance_spot_BTCBUSD_1m_20221213.norm.csv"


def table(path: Path) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        return list(csv.reader(fh))


def _value(text: str) -> object:
    try:
        return int(text)  # ids and times stay exact
    except ValueError:
        try:
            return float(text)  # 61836 and 61836.00000000 are the same price
        except ValueError:
            return text


def numeric(rows: list[list[str]]) -> list[tuple[object, ...]]:
    return [tuple(_value(x) for x in r) for r in rows]


def capture_messages(path: Path) -> list[tuple[int, dict]]:
    with gzip.open(path, "rb") as fh:
        return [(int(line.split(b" ", 1)[0]), json.loads(line.split(b" ", 1)[1])) for line in fh]


def test_the_capture_becomes_trades_bbo_and_depth_as_the_shared_set_derived_them(
    test_data: Path, tmp_path: Path
) -> None:
    res = import_file(test_data / CAPTURE, tmp_path)
    assert res.fmt == "capture" and res.rows_read == 2000 and not res.refused and not res.gaps
    msgs = capture_messages(test_data / CAPTURE)
    streams = [m.get("stream", "snapshot") for _, m in msgs]
    trades = table(tmp_path / "binance_BTCUSDT_trades_20240808.csv.gz")
    bbo = table(tmp_path / "binance_BTCUSDT_bbo_20240808.csv.gz")
    depth = table(tmp_path / "binance_BTCUSDT_depth_20240808.csv.gz")
    assert len(trades) - 1 == streams.count("btcusdt@trade") == 297
    assert len(bbo) - 1 == streams.count("btcusdt@bookTicker")
    levels = sum(len(m["data"]["b"]) + len(m["data"]["a"]) for _, m in msgs if "stream" in m and "depth" in m["stream"])
    snap = next(m for _, m in msgs if "lastUpdateId" in m)
    assert len(depth) - 1 == levels + len(snap["bids"]) + len(snap["asks"])
    snap_rows = [r for r in depth[1:] if r[2] == "snapshot"]
    assert len(snap_rows) == 2000 and {r[7] for r in snap_rows} == {str(snap["lastUpdateId"])}
    # the same rows, field for field, as the shared set's derivation shipped under tests/data
    assert numeric(trades[1:]) == numeric(table(test_data / TRADES)[1 : len(trades)])
    assert numeric(bbo[1:1001]) == numeric(table(test_data / BBO)[1:1001])
    ticks, report = load_csv(tmp_path / "binance_BTCUSDT_trades_20240808.csv.gz", 0)
    assert report.kind == "trades" and len(ticks) == 297
    ticks, report = load_csv(tmp_path / "binance_BTCUSDT_depth_20240808.csv.gz", 0)  # the L2 replay reads it
    assert report.kind == "depth" and (ticks["kind"] == TICK_DEPTH).all()
    assert len(ticks) + report.skipped["before_snapshot"] == len(depth) - 1


def test_the_whole_shared_capture_matches_the_shared_derived_files(shared_data: Path, tmp_path: Path) -> None:
    raw = shared_data / "l2" / "binance_spot_raw"
    for name in ("btcusdt_20240808.gz", "btcusdt_20240809.gz"):
        res = import_file(raw / name, tmp_path)
        assert not res.refused and not res.gaps
    for kind in ("trades", "bbo", "depth"):
        mine = [
            r for day in ("20240808", "20240809") for r in table(tmp_path / f"binance_BTCUSDT_{kind}_{day}.csv.gz")[1:]
        ]
        theirs = table(shared_data / "l2" / f"binance_spot_BTCUSDT_20240808T2354_20240809T0005_{kind}.csv.gz")[1:]
        assert len(mine) == len(theirs), kind
        assert numeric(mine) == numeric(theirs), kind


def test_bad_capture_lines_are_refused_by_reason_and_the_rest_kept(test_data: Path, tmp_path: Path) -> None:
    good = gzip.decompress((test_data / CAPTURE).read_bytes()).splitlines(keepends=True)
    bad = [
        b"notanumber {}\n",
        b"1723161254087896568 {not json\n",
        b'1723161254087896568 {"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT"}}\n',
        b'1723161254087896569 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":9,"p":"-5",'
        b'"q":"1","T":1,"m":true}}\n',
    ]
    path = tmp_path / "btcusdt_20240808.txt"
    path.write_bytes(b"".join(good[:500] + bad + good[500:]))
    res = import_file(path, tmp_path / "out")
    assert res.rows_read == 2004
    assert res.refused == {"malformed": 2, "unknown_event_kline": 1, "non_positive_price": 1}
    assert res.gaps == {}  # the refused trade never counted as a jump in ids
    written = {Path(p).name.split("_")[2]: n for p, n in res.written.items()}
    assert written["trades"] == 297


def _dump(tmp_path: Path, name: str, rows: list[list[object]], header: list[str] | None = None) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(header)
    w.writerows(rows)
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name.replace(".zip", ".csv"), buf.getvalue())
    return path


def test_binance_dumps_in_ms_and_us_give_the_same_trades(test_data: Path, tmp_path: Path) -> None:
    real = table(test_data / TRADES)[1:]  # local_ts_ns, exch_ts_ms, trade_id, price, qty, side (taker)
    spot = [[r[2], r[3], r[4], f"{float(r[3]) * float(r[4]):.8f}", int(r[1]), r[5] == "sell", True] for r in real]
    ms = _dump(tmp_path, "BTCUSDT-trades-2024-08-08.zip", spot)
    us_dir = tmp_path / "us"
    us_dir.mkdir()
    us = _dump(us_dir, "BTCUSDT-trades-2024-08-08.zip", [[*r[:4], r[4] * 1000, *r[5:]] for r in spot])
    a = import_file(ms, tmp_path / "a")
    b = import_file(us, tmp_path / "b")
    out_a = table(tmp_path / "a" / "binance_BTCUSDT_trades_exch_2024-08-08.csv.gz")
    assert out_a == table(tmp_path / "b" / "binance_BTCUSDT_trades_exch_2024-08-08.csv.gz")
    assert out_a[0] == ["timestamp_ms", "trade_id", "price", "qty", "side"]
    assert [(r[0], r[1], float(r[2]), float(r[3]), r[4]) for r in out_a[1:]] == [
        (r[1], r[2], float(r[3]), float(r[4]), r[5]) for r in real
    ]
    assert a.gaps == b.gaps == {} and not a.refused
    ticks, report = load_csv(tmp_path / "a" / "binance_BTCUSDT_trades_exch_2024-08-08.csv.gz", 0)
    assert report.kind == "trades" and len(ticks) == 1000
    # aggTrades, futures-style with a header, and two bad rows
    agg = [[r[0], r[1], r[2], r[0], r[0], r[4], r[5]] for r in spot]
    agg[10][1], agg[20] = "-1", ["x", "y"]
    res = import_file(
        _dump(
            tmp_path,
            "BTCUSDT-aggTrades-2024-08-08.zip",
            agg,
            header=[
                "agg_trade_id",
                "price",
                "quantity",
                "first_trade_id",
                "last_trade_id",
                "transact_time",
                "is_buyer_maker",
            ],
        ),
        tmp_path / "c",
    )
    assert res.refused == {"non_positive_price": 1, "malformed": 1} and res.rows_read == 1000
    assert res.gaps == {"BTCUSDT trade ids": 2}  # the two refused ids leave two jumps
    assert sum(res.written.values()) == 998


def test_binance_klines_dump_becomes_bars_the_replay_loads(test_data: Path, tmp_path: Path) -> None:
    bars = table(test_data / LEAN_BARS)[1:]
    kl = [
        [int(r[0]) * 1000, r[1], r[2], r[3], r[4], r[5], (int(r[0]) + 59_999) * 1000, "0", 10, "0", "0", "0"]
        for r in bars
    ]  # microsecond times, as the 2025 spot dumps have them
    res = import_file(_dump(tmp_path, "BTCBUSD-1m-2022-12-13.zip", kl), tmp_path / "out")
    path = tmp_path / "out" / "binance_BTCBUSD_bars_1m_2022-12-13.csv.gz"
    assert res.written == {str(path): 1440} and not res.refused
    out = table(path)[1:]
    assert [(int(r[0]), *map(float, r[1:])) for r in out] == [(int(r[0]), *map(float, r[1:])) for r in bars]
    ticks, report = load_csv(path, 0)
    assert report.kind == "bars" and len(ticks) == 1440


def test_tardis_trades_quotes_and_book_import_like_the_capture(test_data: Path, tmp_path: Path) -> None:
    msgs = capture_messages(test_data / CAPTURE)
    head = "exchange,symbol,timestamp,local_timestamp,"
    t_lines, q_lines, b_lines = (
        [head + "id,side,price,amount"],
        [head + "ask_amount,ask_price,bid_price,bid_amount"],
        [head + "is_snapshot,side,price,amount"],
    )
    for ts, m in msgs:
        local_us = ts // 1000
        d = m.get("data", m)
        if "stream" not in m:
            for side, key in (("bid", "bids"), ("ask", "asks")):
                b_lines += [f"binance,BTCUSDT,{local_us},{local_us},true,{side},{p},{q}" for p, q in d[key]]
        elif d.get("e") == "trade":
            side = "sell" if d["m"] else "buy"
            t_lines.append(f"binance,BTCUSDT,{d['T'] * 1000},{local_us},{d['t']},{side},{d['p']},{d['q']}")
        elif d.get("e") == "depthUpdate":
            for side, key in (("bid", "b"), ("ask", "a")):
                b_lines += [f"binance,BTCUSDT,{d['E'] * 1000},{local_us},false,{side},{p},{q}" for p, q in d[key]]
        else:
            q_lines.append(f"binance,BTCUSDT,{local_us},{local_us},{d['A']},{d['a']},{d['b']},{d['B']}")
    q_lines.append("binance,BTCUSDT,1723161272578895,1723161272578895,1.0,61800.1,,")  # one side empty
    results = {}
    for kind, lines in (("trades", t_lines), ("quotes", q_lines), ("incremental_book_L2", b_lines)):
        path = tmp_path / f"binance_{kind}_2024-08-08_BTCUSDT.csv.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        results[kind] = import_file(path, tmp_path / "out")
        assert results[kind].fmt == "tardis"
    assert results["quotes"].refused == {"one_sided": 1}
    trades = table(tmp_path / "out" / "binance_BTCUSDT_trades_2024-08-08.csv.gz")[1:]
    shipped = table(test_data / TRADES)[1:298]
    assert [(int(r[0]) // 1000, r[1], r[2], float(r[3]), float(r[4]), r[5]) for r in trades] == [
        (int(r[0]) // 1000, r[1], r[2], float(r[3]), float(r[4]), r[5]) for r in shipped
    ]  # µs: the ns digits go
    depth = table(tmp_path / "out" / "binance_BTCUSDT_depth_2024-08-08.csv.gz")[1:]
    assert sum(r[2] == "snapshot" for r in depth) == 2000 and len(depth) == len(b_lines) - 1
    for name in ("trades", "bbo"):
        ticks, report = load_csv(tmp_path / "out" / f"binance_BTCUSDT_{name}_2024-08-08.csv.gz", 0)
        assert len(ticks) == report.rows > 0
    # Tardis has no update ids: the rows of one time are one message; the book ends as the capture's does
    import_file(test_data / CAPTURE, tmp_path / "capture")
    tops = []
    for path in (tmp_path / "out" / "binance_BTCUSDT_depth_2024-08-08.csv.gz",
                 tmp_path / "capture" / "binance_BTCUSDT_depth_20240808.csv.gz"):
        ticks, report = load_csv(path, 0)
        book = new_book(1)
        for t in ticks:
            depth_apply_nb(book, 0, int(t["side"]), t["price"], t["size"], t["bid_px"], t["ask_px"], int(t["bid_sz"]))
        assert book_counts(book, 0)["snapshots"] == 1 and book_counts(book, 0)["gaps"] == 0
        tops.append([x.tolist() for x in book_levels(book, 0, 5)])
    assert tops[0] == tops[1]


def test_import_command_reports_and_refuses_what_it_cannot_use(
    test_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "import", str(test_data / CAPTURE), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "2,000 rows read, 0 refused" in text and "binance_BTCUSDT_depth_20240808.csv.gz: 128,3" not in text
    # a second import into the same place would append twice: refused, the first files untouched
    assert main(["data", "import", str(test_data / CAPTURE), "--out", str(tmp_path)]) == 2
    assert "exists: an import writes new files only" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.part"))
    (tmp_path / "BTCUSDT-trades-2024-08-08.zip").write_bytes(b"PK\x03\x04 damaged")
    for name, message in (
        ("README.md", "not a format bot4 imports"),
        ("BTCUSDT-trades-2024-08-08.zip", "not a readable zip"),
        ("missing.csv", "no such file"),
    ):
        assert (
            main(
                [
                    "data",
                    "import",
                    str(test_data / name if name == "README.md" else tmp_path / name),
                    "--out",
                    str(tmp_path / "x"),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(DataError, match="not a Binance dump name"):
        import_file(test_data / CAPTURE, tmp_path / "y", fmt="binance")
