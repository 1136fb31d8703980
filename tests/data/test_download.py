"""``bot4 data download`` end to end: the real ccxt client against the local exchange's klines and aggTrades
endpoints, files the replay loads, a rerun (even after a kill cut a file short) giving exactly a fresh download's
rows, a backtest on a downloaded day, and one clear line for bad input."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from pathlib import Path

import ccxt
import numpy as np
import pytest

from bot4.commands import main
from bot4.venues.replay import load_csv
from tests.data.conftest import Served

MIN = 60_000
CONFIG = """
[risk]
loss_streak_max = 1000

[[instruments]]
symbol = "BTC/USDT"

[[strategies]]
kind = "ema_cross"
fast_period = 5
slow_period = 20
"""


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split(",") for line in fh]


def download(served: Served, out: Path, *extra: str) -> int:
    return main(
        [
            "data",
            "download",
            "--symbol",
            "BTC/USDT",
            "--rest-url",
            served.rest_url,
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def test_a_day_of_minute_bars_is_every_complete_candle_once_with_the_trades_ohlcv(
    history_exchange: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = history_exchange.exchange.market.history.tapes["BTC/USDT"]
    end = tape.end
    frm, to = end - 86_400_000, end
    assert download(history_exchange, tmp_path, "--what", "bars", "--from", iso(frm), "--to", iso(to)) == 0
    path = tmp_path / "binance_BTCUSDT_1m.csv.gz"
    assert str(path) in capsys.readouterr().out
    table = rows(path)
    assert table[0] == ["timestamp_ms", "open", "high", "low", "close", "volume"]
    opens = np.array([int(r[0]) for r in table[1:]])
    first, last = -(-frm // MIN) * MIN, (end // MIN) * MIN - MIN  # the last candle that closed inside the history
    assert opens[0] == first and opens[-1] == last
    assert np.all(np.diff(opens) == MIN) and len(opens) >= 1439  # every minute of the day, once, in order
    # each candle is what the trades make: checked against the trades themselves for a stretch of the day
    lo, hi = int(tape.first_at(opens[700])), int(tape.first_at(opens[720]))
    trades = tape.page(lo, hi - lo)
    for r in table[701:721]:
        o = int(r[0])
        sel = (trades.time_ms >= o) & (trades.time_ms < o + MIN)
        if sel.any():
            px = trades.price[sel]
            want = [px[0], px.max(), px.min(), px[-1], trades.qty[sel].sum()]
            assert [float(x) for x in r[1:]] == pytest.approx(want, rel=1e-9)
    ticks, report = load_csv(path, 0)  # the replay reads it: one bar each, stamped at its close
    assert report.kind == "bars" and len(ticks) == len(opens) and report.skipped == {}
    assert ticks["ts_exch_ns"][0] == (opens[0] + MIN) * 1_000_000

    # backtest on it: the day of bars through the engine
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "rep"
    assert main(["backtest", "--config", str(cfg), "--data", f"BTC/USDT={path}", "--out", str(out), "--quiet"]) == 0
    assert (out / "summary.json").exists()


def test_a_rerun_continues_the_files_and_a_killed_run_loses_nothing(history_exchange: Served, tmp_path: Path) -> None:
    end = history_exchange.exchange.market.history.tapes["BTC/USDT"].end
    frm, mid, to = end - 6 * 3_600_000, end - 3 * 3_600_000, end
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    assert download(history_exchange, fresh, "--from", iso(frm), "--to", iso(to)) == 0
    assert download(history_exchange, resumed, "--from", iso(frm), "--to", iso(mid)) == 0
    part = resumed / "binance_BTCUSDT_1m.csv.gz"
    half = rows(part)
    assert int(half[-1][0]) == (mid // MIN) * MIN - MIN  # the last candle closed before --to
    os.truncate(part, part.stat().st_size - 700)  # a kill in the middle of a write: the file's end is damaged
    assert download(history_exchange, resumed, "--from", iso(frm), "--to", iso(to)) == 0
    assert rows(part) == rows(fresh / "binance_BTCUSDT_1m.csv.gz")  # no row twice, none missing
    assert download(history_exchange, resumed, "--from", iso(frm), "--to", iso(to)) == 0  # up to date: no change
    assert rows(part) == rows(fresh / "binance_BTCUSDT_1m.csv.gz")


def test_trades_are_paged_by_id_and_resume_after_a_kill(
    history_exchange: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = history_exchange.exchange.market.history.tapes["BTC/USDT"]
    frm, to = tape.end - 8 * MIN, tape.end - 2 * MIN
    args = ["--what", "trades", "--from", iso(frm), "--to", iso(to)]
    assert download(history_exchange, tmp_path / "a", *args) == 0
    path = tmp_path / "a" / "binance_BTCUSDT_trades.csv.gz"
    table = rows(path)
    assert table[0] == ["timestamp_ms", "trade_id", "price", "qty", "side"]
    ids = np.array([int(r[1]) for r in table[1:]])
    times = np.array([int(r[0]) for r in table[1:]])
    want_lo, want_hi = int(tape.first_at(frm)), int(tape.first_at(to))
    assert ids[0] == want_lo and ids[-1] == want_hi - 1 and np.all(np.diff(ids) == 1)  # every trade in range
    assert times.min() >= frm and times.max() < to and len(ids) > 5000  # several 1,000-trade pages
    assert {r[4] for r in table[1:]} == {"buy", "sell"}
    ticks, report = load_csv(path, 0)
    assert report.kind == "trades" and len(ticks) == len(ids)
    # a second copy, killed part-way, then run again: the same rows
    other = tmp_path / "b" / "binance_BTCUSDT_trades.csv.gz"
    assert (
        download(history_exchange, tmp_path / "b", "--what", "trades", "--from", iso(frm), "--to", iso(frm + 3 * MIN))
        == 0
    )
    os.truncate(other, other.stat().st_size - 2000)
    capsys.readouterr()
    assert download(history_exchange, tmp_path / "b", *args) == 0
    assert "cut back to the last whole row" in capsys.readouterr().out
    assert rows(other) == table


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2024-08-09", "--symbol", "DOGE/EUR"], "symbol 'DOGE/EUR': binance has no such market"),
        (["--from", "2024-13-40"], "not a date"),
        (["--from", "2024-08-09", "--to", "2024-08-08"], "is not after --from"),
        (["--from", "2999-01-01"], "is in the future"),
        (["--from", "2024-08-09", "--timeframe", "7m"], "--timeframe '7m'"),
    ],
)
def test_bad_input_is_one_line_naming_it(
    history_exchange: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert download(history_exchange, tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_a_dead_exchange_is_named_with_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "data",
        "download",
        "--symbol",
        "BTC/USDT",
        "--from",
        "2024-08-09",
        "--out",
        str(tmp_path),
        "--rest-url",
        "http://127.0.0.1:9/api/v3",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not answer" in err and "127.0.0.1:9" in err and "Traceback" not in err


async def test_the_server_keeps_binance_paging_limits(history_exchange: Served) -> None:
    client = ccxt.async_support.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
    client.urls["api"]["public"] = history_exchange.rest_url
    try:
        await client.load_markets()
        assert len(await client.fetch_ohlcv("BTC/USDT", "1m", limit=5000)) == 1000  # ccxt caps spot at 1000 itself
        with pytest.raises(ccxt.BadRequest):
            await client.public_get_klines({"symbol": "BTCUSDT", "interval": "1m", "limit": 1001})
        with pytest.raises(ccxt.BadRequest):  # Binance: startTime and endTime at most an hour apart
            await client.public_get_aggtrades({"symbol": "BTCUSDT", "startTime": 0, "endTime": 3_600_001})
        with pytest.raises(ccxt.BadRequest):  # fromId with a time window: refused
            await client.public_get_aggtrades({"symbol": "BTCUSDT", "fromId": 5, "startTime": 0})
        assert len(await client.public_get_aggtrades({"symbol": "BTCUSDT"})) == 500  # the default page
        with pytest.raises(ccxt.BadSymbol):
            await client.public_get_klines({"symbol": "NOPEUSDT", "interval": "1m"})
    finally:
        await client.close()
