"""A reports directory as ``bot4 backtest`` leaves it, for the Report screen's tests: one report a real backtest wrote
on the shipped tick files, and a newer one that is damaged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot4.commands import main
from tests.backtest.conftest import BBO, CONFIG, TRADES

REPORT_NAME = "20240809-000000"  # fixed: the screen shows the directory's name
BROKEN_NAME = "20240809-010000"


@pytest.fixture(scope="session")
def reports_dir(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Path:
    """``backtests/`` with the real report (from ``bot4 backtest``: the same core, paper venue and report writer
    a user runs) and, written after it, a report directory whose summary is not JSON."""
    root = tmp_path_factory.mktemp("ui-reports")
    (root / "bt.toml").write_text(CONFIG)
    reports = root / "backtests"
    argv = ["backtest", "--config", "bt.toml", "--out", str(reports / REPORT_NAME), "--quiet"]
    argv += ["--data", f"BTC/USDT={test_data / TRADES}", "--data", f"BTC/USDT={test_data / BBO}"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # the config by a relative path: the report names it the same on every machine
        assert main(argv) == 0
    broken = reports / BROKEN_NAME
    broken.mkdir()
    (broken / "summary.json").write_text('{"metrics": ')
    written = (reports / REPORT_NAME / "summary.json").stat().st_mtime
    os.utime(broken / "summary.json", (written + 60, written + 60))  # the newer one: listed first
    return reports
