"""Round trips paired from fills, checked against trades worked out by hand; the journal's fills read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot4.core import records
from bot4.runtime.journal import Journal
from bot4.runtime.trades import Fill, by_day, by_symbol, journal_fills, pair_trades, performance

S = 10**9
BUY, SELL = records.SIDE_BUY, records.SIDE_SELL


def test_a_long_round_trip() -> None:
    closed, opened = pair_trades(
        [
            Fill(0, "BTC/USDT", BUY, 100.0, 2.0, 0.20, flags=0, stop_px=95.0),
            Fill(60 * S, "BTC/USDT", SELL, 110.0, 2.0, 0.22, flags=records.FLAG_REDUCE_ONLY),
        ]
    )
    assert opened == []
    (t,) = closed
    assert (t.direction, t.size, t.entry_px, t.exit_px) == (1, 2.0, 100.0, 110.0)
    assert t.gross == pytest.approx(20.0)  # 2 x (110 - 100)
    assert t.fees == pytest.approx(0.42)
    assert t.net == pytest.approx(19.58)
    assert t.duration_s == 60.0
    assert t.exit_reason == "signal" and not t.manual and t.stop_px == 95.0


def test_scaling_in_and_out_averages_both_sides() -> None:
    closed, _ = pair_trades(
        [
            Fill(0, "ETH/USDT", BUY, 100.0, 1.0, 0.10),
            Fill(1 * S, "ETH/USDT", BUY, 104.0, 1.0, 0.10),  # average entry 102
            Fill(2 * S, "ETH/USDT", SELL, 106.0, 0.5, 0.05),  # +0.5 x 4 = +2
            Fill(3 * S, "ETH/USDT", SELL, 98.0, 1.5, 0.15, flags=records.FLAG_STOP_EXIT),  # 1.5 x -4 = -6
        ]
    )
    (t,) = closed
    assert t.size == 2.0 and t.entry_px == pytest.approx(102.0)
    assert t.exit_px == pytest.approx(100.0)  # (0.5 x 106 + 1.5 x 98) / 2
    assert t.gross == pytest.approx(-4.0)
    assert t.fees == pytest.approx(0.40)
    assert t.net == pytest.approx(-4.40)
    assert t.exit_reason == "stop"  # the core's stop exit, at a loss


def test_a_fill_through_zero_closes_the_short_and_opens_a_long_with_the_rest() -> None:
    closed, opened = pair_trades(
        [
            Fill(0, "BTC/USDT", SELL, 50.0, 1.0, 0.05, flags=records.FLAG_MANUAL, stop_px=55.0),
            Fill(5 * S, "BTC/USDT", BUY, 45.0, 3.0, 0.30, stop_px=40.0),  # 1 closes the short, 2 open a long
        ]
    )
    (short,) = closed
    assert short.direction == -1 and short.manual and short.stop_px == 55.0
    assert short.gross == pytest.approx(5.0)  # 1 x (50 - 45)
    assert short.fees == pytest.approx(0.05 + 0.10)  # a third of the crossing fill's fee
    (long_,) = opened
    assert (long_.direction, long_.qty, long_.entry_px, long_.entry_ts_ns) == (1, 2.0, 45.0, 5 * S)
    assert long_.fees == pytest.approx(0.20) and not long_.manual and long_.stop_px == 40.0


def test_exit_reasons_and_open_trades_by_symbol() -> None:
    closed, opened = pair_trades(
        [
            Fill(0, "BTC/USDT", BUY, 100.0, 1.0),
            Fill(0, "ETH/USDT", SELL, 10.0, 4.0),
            Fill(1 * S, "BTC/USDT", SELL, 103.0, 1.0, flags=records.FLAG_STOP_EXIT),  # a gain: the target
            Fill(2 * S, "BTC/USDT", BUY, 100.0, 1.0),
            Fill(3 * S, "BTC/USDT", SELL, 99.0, 1.0, flags=records.FLAG_KILL | records.FLAG_STOP_EXIT),
            Fill(4 * S, "ETH/USDT", BUY, 9.0, 1.0, flags=records.FLAG_MANUAL),
        ]
    )
    assert [t.exit_reason for t in closed] == ["target", "kill switch"]
    (eth,) = opened
    assert eth.symbol == "ETH/USDT" and eth.qty == 3.0 and eth.realized == pytest.approx(1.0)


def test_performance_by_symbol_and_by_day() -> None:
    day = 1_723_161_600 * S  # 2024-08-09 00:00 UTC
    closed, _ = pair_trades(
        [
            Fill(day - 120 * S, "BTC/USDT", BUY, 100.0, 1.0, 0.1),
            Fill(day - 60 * S, "BTC/USDT", SELL, 90.0, 1.0, 0.1),  # -10.2, closes on the 8th
            Fill(day + 10 * S, "BTC/USDT", BUY, 100.0, 1.0, 0.1),
            Fill(day + 20 * S, "BTC/USDT", SELL, 120.0, 1.0, 0.1),  # +19.8
            Fill(day + 30 * S, "ETH/USDT", SELL, 10.0, 1.0, 0.0),
            Fill(day + 40 * S, "ETH/USDT", BUY, 9.0, 1.0, 0.0),  # +1
        ]
    )
    sym = {p.key: p for p in performance(closed, by_symbol)}
    assert sym["BTC/USDT"].trades == 2 and sym["BTC/USDT"].wins == 1 and sym["BTC/USDT"].losses == 1
    assert sym["BTC/USDT"].net == pytest.approx(9.6)
    assert sym["BTC/USDT"].best == pytest.approx(19.8) and sym["BTC/USDT"].worst == pytest.approx(-10.2)
    assert sym["ETH/USDT"].win_rate == 1.0
    days = performance(closed, by_day)
    assert [(p.key, p.trades) for p in days] == [("2024-08-08", 1), ("2024-08-09", 2)]
    assert days[1].net == pytest.approx(20.8) and days[1].fees == pytest.approx(0.2)


def journal_round_trip(path: Path) -> None:
    symbols = ("BTC/USDT", "ETH/USDT")
    j = Journal(path)
    orders = np.zeros(2, records.ORDER_DTYPE)
    orders["client_order_id"] = [11, 12]
    orders["action"] = records.ACTION_SUBMIT
    orders["side"] = [BUY, SELL]
    orders["flags"] = [records.FLAG_MANUAL, records.FLAG_STOP_EXIT]
    orders["stop_px"] = [95.0, np.nan]
    orders["size"] = 1.0
    j.append_orders(orders, symbols)
    reports = np.zeros(3, records.FILL_DTYPE)
    reports["client_order_id"] = [11, 11, 12]
    reports["kind"] = [records.EXEC_ACK, records.EXEC_FILL, records.EXEC_FILL]
    reports["side"] = [BUY, BUY, SELL]
    reports["price"] = [np.nan, 100.0, 94.0]
    reports["size"] = [0.0, 1.0, 1.0]
    reports["fee"] = [0.0, 0.1, 0.1]
    reports["ts_exch_ns"] = [1_000 * S, 1_000 * S, 1_090 * S]  # market time, far from today's wall clock
    j.append_reports(reports, symbols)
    j.close()


def test_trades_from_the_journal_carry_market_time_flags_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_round_trip(path)
    fills = journal_fills(path)
    assert [(f.coid, f.ts_ns) for f in fills] == [(11, 1_000 * S), (12, 1_090 * S)]
    (t,), opened = pair_trades(fills)
    assert opened == []
    assert t.manual and t.stop_px == 95.0 and t.exit_reason == "stop"
    assert t.duration_s == 90.0 and t.net == pytest.approx(-6.2)


def test_an_older_journal_gains_the_market_time_column(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE reports DROP COLUMN ts_exch_ns")  # as schema 1 wrote it
    db.close()
    journal_round_trip(path)  # reopened: the column is added, then written
    assert [f.ts_ns for f in journal_fills(path)] == [1_000 * S, 1_090 * S]
