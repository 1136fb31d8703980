"""A journal that cannot be written (F11): entries stop, the engine goes HALTED with a clear event, nothing is
half-written or lost, and the shutdown does not crash. Once in-process (SQLite's own "database or disk is full"
through ``max_page_count``), once as an operator meets it (a headless engine on a small tmpfs that fills up)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot4.compose import serve
from bot4.core import records
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.runtime.journal import Journal
from tests.runtime.test_headless import ROOT, events, wait_for


def _fills(n: int, coid0: int = 1) -> np.ndarray:
    r = np.zeros(n, records.FILL_DTYPE)
    r["client_order_id"] = np.arange(coid0, coid0 + n)
    r["kind"] = records.EXEC_FILL
    r["side"] = 1
    r["price"] = 100.0
    r["size"] = 1.0
    return r


def test_a_full_journal_keeps_the_rows_in_order_and_writes_them_when_it_can(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    told: list[str] = []
    j.on_failure = told.append
    j.append_reports(_fills(5), ("BTC/USDT",))
    pages = j.db.execute("PRAGMA page_count").fetchone()[0]
    j.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    for k in range(20):
        j.append_reports(_fills(200, 1000 + 200 * k), ("BTC/USDT",))
    assert j.failed and "full" in j.failed and len(told) == 1, (j.failed, told)  # said once, not per write
    assert j.pending_rows > 0
    j.db.execute(f"PRAGMA max_page_count = {pages * 100}")  # space again
    j.append_reports(_fills(1, 99_999), ("BTC/USDT",))
    assert not j.failed and j.pending_rows == 0 and j.recoveries == 1
    coids = [c for (c,) in j.db.execute("SELECT coid FROM reports ORDER BY id")]
    assert coids == [1, 2, 3, 4, 5, *range(1000, 5000), 99_999]  # all of them, in order, none twice
    assert j.close() == []


async def test_the_engine_halts_when_its_journal_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(None, env={})
    app_config = replace(cfg, runtime=replace(cfg.runtime, api_addr="", metrics_addr=""), replay=replace(cfg.replay, speed=50.0))
    engine = Engine(app_config, tmp_path / "state")
    run = asyncio.create_task(serve(engine))
    try:
        for _ in range(600):
            if engine.core.snapshot().stats.counter("fills") >= 1:
                break
            await asyncio.sleep(0.05)
        assert engine.core.snapshot().trading_state == "ACTIVE"
        engine.journal.db.execute("PRAGMA query_only = 1")  # every write now fails (as on a read-only or immutable file)
        for _ in range(200):
            if engine.core.snapshot().trading_state == "HALTED":
                break
            await asyncio.sleep(0.05)
        assert engine.core.snapshot().trading_state == "HALTED" and not engine.gate_open
        orders_then = engine.core.snapshot().stats.counter("orders_out")
        await asyncio.sleep(1.0)
        sent = engine.venue.stats()  # nothing new reaches the venue while the journal cannot hold it
        assert engine.journal.failed
    finally:
        engine.request_stop()
        code = await asyncio.wait_for(run, 60)  # the shutdown does not crash
    assert code == 0
    names = [getattr(r, "event", "") for r in caplog.records]
    assert "journal_write_failed" in names and "journal_rows_unwritten" in names
    assert engine.core.snapshot().stats.counter("orders_out") >= orders_then and sent is not None


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _fill_up(path: Path) -> Path:
    filler = path / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def _headless_logging_to(log: Path, state_dir: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BOT4_API_TOKEN", None)
    cmd = [sys.executable, "-m", "bot4.cli", "--headless", "--state-dir", str(state_dir), "--speed", "50",
           "--metrics-addr", "", "--api-addr", ""]
    with open(log, "w") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env, cwd=ROOT)


def test_a_headless_engine_on_a_disk_that_fills_up(tmp_path: Path) -> None:
    """The disk fills while the engine trades: HALTED at once; once space is back every fill it made is journaled,
    and it stops cleanly."""
    mnt = tmp_path / "small"
    if os.geteuid() != 0 or not _mount_tmpfs(mnt, "8m"):
        pytest.skip("needs a tmpfs mount (root, or a machine that allows it) for a disk that really fills up")
    log = tmp_path / "stderr.log"  # on the big disk: what the engine said stays readable
    try:
        state = mnt / "state"
        p = _headless_logging_to(log, state)
        try:
            journal = state / "journal.sqlite"
            wait_for(lambda: _count(journal, "reports") >= 3, p, tmp_path, timeout=300, log=log)
            filler = _fill_up(mnt)
            wait_for(lambda: '"journal_write_failed"' in log.read_text(), p, tmp_path, timeout=60, log=log)
            time.sleep(1.0)
            filler.unlink()  # space again: the rows waiting in memory go in with the next write
            time.sleep(2.0)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        err = log.read_text()
        assert p.returncode == 0, err[-3000:]
        evs = events(err)
        failed = [e for e in evs if e["event"] == "journal_write_failed"]
        assert failed and str(failed[0]["level"]).upper() == "CRITICAL" and "full" in str(failed[0]["error"])
        stop = [e for e in evs if e["event"] == "engine_stop"][-1]
        assert stop["trading_state"] == "HALTED"
        fills = _count(journal, "reports", f"kind = {records.EXEC_FILL}")
        assert fills == stop["fills"] > 0, "a fill the engine made is missing from the journal"
        assert not [e for e in evs if e["event"] == "journal_rows_unwritten"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _count(journal: Path, table: str, where: str = "1") -> int:
    if not journal.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0
