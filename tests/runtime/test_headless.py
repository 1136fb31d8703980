"""bot4-tui --headless as an operator runs it: end to end, kill switch by signal and file, crash and restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine
from bot4.runtime.journal import Journal
from tests.runtime.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def headless(state_dir: Path, *extra: str, speed: float = 50.0) -> subprocess.Popen[str]:
    """``bot4-tui --headless`` in its own process; its log (standard error) goes to ``<state_dir>/stderr.log``.

    A file, not a pipe: nobody reads a pipe while the test waits, and a full one would stall the engine's writes.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BOT4_API_TOKEN", None)
    api = [] if "--api-addr" in extra else ["--api-addr", f"127.0.0.1:{free_port()}"]
    cmd = [
        sys.executable, "-m", "bot4.cli", "--headless", "--state-dir", str(state_dir), "--speed", str(speed),
        "--metrics-addr", "", *api, *extra,
    ]
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "stderr.log", "w") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env, cwd=ROOT)


def finish(p: subprocess.Popen[str], state_dir: Path, timeout: float) -> str:
    """Wait for the engine to exit (killed after ``timeout``); what it logged."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return (state_dir / "stderr.log").read_text()


def events(stderr: str) -> list[dict[str, object]]:
    out = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def wait_for(predicate, p: subprocess.Popen[str], state_dir: Path, timeout: float = 60.0, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` while the engine ``p`` runs; on a timeout or an early exit, fail with what it logged
    (``<state_dir>/stderr.log``, or ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if p.poll() is not None:
            break
        time.sleep(0.1)
    running = p.poll() is None
    if running:
        p.send_signal(signal.SIGTERM)
    err = finish(p, state_dir, 30) if log is None else (p.wait(30), log.read_text())[1]
    state = f"still running after {timeout:.0f} s" if running else f"exited with {p.returncode}"
    raise AssertionError(f"condition not reached; the engine {state}; its last log lines:\n{err[-4000:]}")


def fills_in(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM reports WHERE kind = 2").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def test_until_end_replays_the_data_once_then_exits_zero_with_a_summary(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BOT4_API_TOKEN", None)
    cmd = [
        sys.executable, "-m", "bot4.cli", "--headless", "--state-dir", str(tmp_path), "--speed", "0", "--until-end",
        "--metrics-addr", "", "--api-addr", "",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("bot4: replay finished: 166,351 ticks"), line
    summary = [e for e in events(done.stderr) if e["event"] == "run_summary"]
    assert len(summary) == 1 and summary[0]["data_ended"] is True and summary[0]["ticks"] == 166_351
    assert summary[0]["fills"] > 0 and f"{summary[0]['fills']:,} fills" in line


def test_default_run_trades_journals_and_exits_zero(tmp_path: Path) -> None:
    p = headless(tmp_path, "--run-for", "5")
    err = finish(p, tmp_path, 180)
    assert p.returncode == 0, err[-3000:]
    evs = events(err)
    names = [e["event"] for e in evs]
    assert names[0] in ("journal_fresh", "api_listening") and "engine_start" in names and names[-1] == "engine_stop"
    stop = evs[-1]
    assert stop["ticks"] > 1000 and stop["orders"] > 0 and stop["fills"] > 0
    counts = Journal(tmp_path / "journal.sqlite").counts()
    assert counts["orders"] > 0 and counts["reports"] > 0 and counts["equity"] >= 3
    assert all(set(e) >= {"ts", "level", "event"} for e in evs)


@pytest.mark.parametrize("way", ["signal", "file"])
def test_kill_switch_by_signal_and_by_file(tmp_path: Path, way: str) -> None:
    p = headless(tmp_path)
    journal = tmp_path / "journal.sqlite"
    try:
        wait_for(lambda: fills_in(journal) > 0, p, tmp_path, timeout=300)  # a cold compile cache: the first start compiles
        if way == "signal":
            p.send_signal(signal.SIGUSR1)
        else:
            (tmp_path / "KILL").write_text("now")
        killed_at = time.time_ns()
        time.sleep(3.0)
        p.send_signal(signal.SIGTERM)
        err = finish(p, tmp_path, 60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-3000:]
    evs = events(err)
    kills = [e for e in evs if e["event"] == "kill_switch"]
    assert len(kills) == 1 and kills[0]["source"] == way and kills[0]["gate_closed_us"] < 1000
    assert any(e["event"] == "trading_state" and e["to"] == "HALTED" for e in evs)
    assert evs[-1]["event"] == "engine_stop" and evs[-1]["trading_state"] == "HALTED"
    db = sqlite3.connect(journal)
    late = db.execute(
        "SELECT COUNT(*) FROM orders WHERE action = 1 AND gated = 0 AND ts_ns > ?", (killed_at + 200_000_000,)
    ).fetchone()[0]
    assert late == 0, "an order left after the kill switch"
    assert not (tmp_path / "KILL").exists()


def test_crash_and_restart_rebuild_the_journal_state(tmp_path: Path) -> None:
    p = headless(tmp_path)
    journal = tmp_path / "journal.sqlite"
    try:
        wait_for(lambda: fills_in(journal) >= 6, p, tmp_path, timeout=300)  # a cold compile cache: the first start compiles
        p.send_signal(signal.SIGUSR1)  # come back HALTED
        time.sleep(1.5)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    held = Journal(journal).restore()
    assert held.fills >= 6 and held.trading_state == 2
    cfg = load_config(None, env={})
    engine = Engine(cfg, tmp_path)  # restores in its constructor, as a restart does
    snap = engine.core.snapshot()
    for pos in snap.positions():
        qty, avg = held.positions.get(pos.symbol, (0.0, float("nan")))
        assert pos.qty == pytest.approx(qty, abs=1e-12)
        if qty:
            assert pos.avg_px == pytest.approx(avg)
        assert engine.venue.position(pos.symbol)[0] == pytest.approx(qty, abs=1e-12)
    assert snap.trading_state == "HALTED" and not engine.gate_open
    assert snap.peak_equity >= held.peak_equity
    assert snap.fees == pytest.approx(sum(held.fees.values()))
    assert int(engine.core.state.core["order_seq"][0]) == held.order_seq  # new ids never repeat old ones
    engine.journal.close()
    # restarting did not send anything: no order rows were added by the restore
    db = sqlite3.connect(journal)
    assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == Journal(journal).counts()["orders"]
