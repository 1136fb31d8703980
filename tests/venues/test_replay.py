"""Replay: the shipped sample, the test data and the shared files load; merged order is by time; bad rows counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bot4.core.config import CoreConfig
from bot4.core.records import EXEC_FILL, TICK_BAR, TICK_BBO, TICK_TRADE
from bot4.core.runner import Core
from bot4.venues.lockstep import run_backtest
from bot4.venues.paper import PaperExchange
from bot4.venues.replay import load_csv, load_sample, merge_by_time, repeat_shifted, sample_path


def test_shipped_sample_loads_both_symbols_in_time_order() -> None:
    ticks = load_sample()
    assert len(ticks) > 150_000
    assert set(np.unique(ticks["symbol_id"])) == {0, 1}
    assert set(np.unique(ticks["kind"])) == {TICK_TRADE, TICK_BBO}
    assert np.all(np.diff(ticks["ts_exch_ns"]) >= 0)
    btc = ticks[(ticks["symbol_id"] == 0) & (ticks["kind"] == TICK_TRADE)]
    assert 50_000 < btc["price"].min() < btc["price"].max() < 70_000


def check_load(path: Path, kind: int, rows: int) -> None:
    ticks, report = load_csv(path, 3)
    assert report.rows == rows
    assert report.kept + sum(report.skipped.values()) == rows
    assert report.kept >= rows * 0.99
    assert set(np.unique(ticks["kind"])) == {kind}
    assert (ticks["symbol_id"] == 3).all() and (ticks["price"] > 0).all()
    assert np.all(np.diff(ticks["ts_exch_ns"]) >= 0)


# Real files a plain clone has: the package's sample (bot4/data) and tests/data. Between them every kind the loader
# reads (trades, top of book, candles), gzip-compressed and plain.
HB = "binance_spot_{}_20240808T2354_20240809T0005_{}"


@pytest.mark.parametrize(
    ("where", "name", "kind", "rows"),
    [
        ("bot4/data", HB.format("ETHUSDT", "trades.csv.gz"), TICK_TRADE, 14515),
        ("bot4/data", HB.format("ETHUSDT", "bbo.csv.gz"), TICK_BBO, 58758),
        ("tests/data", HB.format("BTCUSDT", "trades.first1000.csv"), TICK_TRADE, 1000),
        ("tests/data", HB.format("BTCUSDT", "bbo.first1000.csv"), TICK_BBO, 1000),
        ("tests/data", "binance_spot_BTCBUSD_1m_20221213.norm.csv", TICK_BAR, 1440),
        ("tests/data", "bybit_BTCUSDT_1m_20221213.norm.csv.gz", TICK_BAR, 1440),
    ],
)
def test_shipped_formats_load(test_data: Path, where: str, name: str, kind: int, rows: int) -> None:
    check_load(sample_path(name) if where == "bot4/data" else test_data / name, kind, rows)


# Files only the shared set has: these sources may not be redistributed, so the tests skip without ../shared.
@pytest.mark.parametrize(
    ("rel", "kind", "rows"),
    [
        ("trades/binance_spot_BTCUSDT_trades_20210108_000000_000046.norm.csv", TICK_TRADE, 2001),
        ("trades/binance_spot_BTCUSDT_bbo_20210108_000000_000046.norm.csv", TICK_BBO, 451),
        ("trades/binance_spot_XRPETH_aggtrades_20191011_20191013.norm.csv", TICK_TRADE, 12477),
        ("ohlcv/binanceus_BTCUSDT_1m_20230301_20230321.norm.csv", TICK_BAR, 30240),
        ("ohlcv/ftx_BTC-PERP_1m_20211231_20220201.norm.csv", TICK_BAR, 45031),
    ],
)
def test_shared_formats_load(shared_data: Path, rel: str, kind: int, rows: int) -> None:
    check_load(shared_data / rel, kind, rows)


def test_bars_are_stamped_at_their_close(test_data: Path) -> None:
    # the file's first candle opens at 2022-12-13 00:00:00 UTC (1670889600000 ms); a 1-minute candle closes 60 s later
    ticks, _ = load_csv(test_data / "binance_spot_BTCBUSD_1m_20221213.norm.csv", 0)
    assert ticks["ts_exch_ns"][0] == 1670889600000 * 1_000_000 + 60 * 10**9


def test_bad_rows_are_counted_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.csv.gz"
    lines = [
        "timestamp_ms,trade_id,price,qty,side",
        "1000,1,100.0,1.0,buy",
        "1001,2,nan,1.0,buy",
        "1002,3,100.5,-2.0,sell",
        "1003,4,abc,1.0,buy",
        "999,5,100.0,1.0,buy",
        "1004,6,0,1.0,buy",
        "1005,7",
        "1006,8,101.0,0.5,sell",
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with caplog.at_level("WARNING"):
        ticks, report = load_csv(path, 0)
    # the row 1 ms early is jitter: sorted into place, not dropped
    assert ticks["price"].tolist() == [100.0, 100.0, 101.0] and ticks["ts_exch_ns"].tolist() == [999e6, 1000e6, 1006e6]
    assert dict(report.skipped) == {"malformed": 3, "negative_size": 1, "non_positive_price": 1}
    assert dict(report.fixed) == {"sorted into place": 1}
    assert len([r for r in caplog.records if "bad.csv.gz" in r.message]) == 4


def test_unknown_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="unrecognised market-data header"):
        load_csv(path, 0)


def test_merge_and_repeat_keep_time_order() -> None:
    a, b = load_sample(("BTC/USDT",), with_bbo=False), load_sample(("ETH/USDT",), with_bbo=False)
    merged = merge_by_time([a, b])
    assert len(merged) == len(a) + len(b) and np.all(np.diff(merged["ts_exch_ns"]) >= 0)
    rep = repeat_shifted(merged, 3 * len(merged) + 5)
    assert len(rep) == 3 * len(merged) + 5 and np.all(np.diff(rep["ts_exch_ns"]) > -1)


def test_lockstep_backtest_on_the_sample_trades_and_balances_agree() -> None:
    cfg = CoreConfig()
    core, venue = Core(cfg), PaperExchange(cfg)
    ticks = load_sample()
    run_backtest(core, venue, ticks)
    snap = core.snapshot()
    counters = snap.stats.counters()
    assert counters["ticks_in"] == len(ticks)
    assert counters["orders_out"] > 5 and counters["fills"] > 5
    # the core's books and the venue's agree on every position and on the fees
    for i, sym in enumerate(cfg.symbols):
        assert snap.positions()[i].qty == pytest.approx(venue.position(sym)[0], abs=1e-9)
    assert snap.fees == pytest.approx(venue.fetch_balance()["info"]["fees"], rel=1e-9)
    assert snap.open_orders == venue.stats()["open_orders"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


TRADES = "timestamp_ms,trade_id,price,qty,side"


def test_one_row_stamped_a_day_late_drops_that_row_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"{1000 + i},{i},{100 + i * 0.01:.2f},1.0,buy" for i in range(50)]
    rows[20] = f"{1000 + 20 + 86_400_000},20,100.20,1.0,buy"  # a day late
    path = _write(tmp_path / "late.csv", [TRADES, *rows])
    with caplog.at_level("WARNING"):
        ticks, report = load_csv(path, 0)
    assert len(ticks) == 49 and report.skipped == {"out_of_place": 1}
    assert (np.diff(ticks["ts_exch_ns"]) > 0).all() and ticks["ts_exch_ns"][-1] == 1049 * 1_000_000
    assert any(str(path) in r.message and "out_of_place" in r.message for r in caplog.records)


def test_a_newest_first_file_keeps_every_row_in_time_order(tmp_path: Path) -> None:
    rows = [f"{1000 + i},{i},{100 + i * 0.01:.2f},1.0,buy" for i in range(30)][::-1]
    ticks, report = load_csv(_write(tmp_path / "desc.csv", [TRADES, *rows]), 0)
    assert len(ticks) == 30 and (np.diff(ticks["ts_exch_ns"]) > 0).all()
    assert ticks["price"][0] == 100.0 and report.fixed == {"turned round (newest first)": 30}


def test_exact_duplicate_rows_are_loaded_once_and_counted(tmp_path: Path) -> None:
    rows = [f"{1000 + i},{i},100.0,1.0,buy" for i in range(10)]
    rows.insert(5, rows[4])
    rows.append(rows[0])
    ticks, report = load_csv(_write(tmp_path / "dup.csv", [TRADES, *rows]), 0)
    assert len(ticks) == 10 and report.skipped == {"duplicate": 2}
    # the same time and price with another trade id is another trade: kept
    ticks, report = load_csv(_write(tmp_path / "two.csv", [TRADES, "1000,1,100.0,1.0,buy", "1000,2,100.0,1.0,buy"]), 0)
    assert len(ticks) == 2 and not report.skipped


def test_a_truncated_gzip_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(TRADES + "\n" + "\n".join(f"{1000 + i},{i},100.0,1.0,buy" for i in range(5000)) + "\n")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.csv.gz: the file is damaged or truncated"):
        load_csv(path, 0)


def test_bars_carry_their_open_and_fill_in_a_backtest(test_data: Path) -> None:
    """Minute bars: each bar keeps its open (orders decided at a close trade at the next open); a backtest on a
    real day of bars fills its market orders, at the opens of the bars after the decisions."""
    from bot4.core.config import CoreConfig, InstrumentConfig, StrategyConfig
    from bot4.venues.lockstep import Lockstep

    ticks, _ = load_csv(test_data / "binance_spot_BTCBUSD_1m_20221213.norm.csv", 0)
    assert (ticks["bid_sz"] > 0).all() and (ticks["bid_px"] <= ticks["price"]).all()
    cfg = CoreConfig(
        instruments=(InstrumentConfig("BTC/USDT"),),
        strategies=(StrategyConfig(kind="ema_cross", fast_period=5, slow_period=20, stop_frac=0.01),),
    )
    core = Core(cfg)
    orders, reports = Lockstep(core, PaperExchange(cfg)).replay(ticks)
    fills = reports[reports["kind"] == EXEC_FILL]
    assert len(fills) >= 10
    opens = set(ticks["bid_sz"].tolist())
    stops = {float(o["stop_px"]) for o in orders}
    assert all(float(f["price"]) in opens or float(f["price"]) in stops for f in fills)
    assert core.snapshot().stats.counter("fills") == len(fills)
