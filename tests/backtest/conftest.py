"""A small config and the real files under tests/data for backtests and sweeps that run in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

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

TRADES = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.first1000.csv"
BBO = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_bbo.first1000.csv"
BARS = "bybit_BTCUSDT_1m_20221213.norm.csv.gz"


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    path = tmp_path / "bt.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def tick_data(test_data: Path) -> list[str]:
    """--data entries: a real BTC/USDT trade and top-of-book capture (1,000 rows each)."""
    return [f"BTC/USDT={test_data / TRADES}", f"BTC/USDT={test_data / BBO}"]


@pytest.fixture
def bar_data(test_data: Path) -> list[str]:
    """--data entries: a real day of Bybit BTC/USDT minute bars."""
    return [f"BTC/USDT={test_data / BARS}"]
