"""A restart brings back the core's own state exactly: an operator's pause, the loss streak and its cool-down, the
re-arm cool-down left, and the equity peak (F9), after a crash as after a clean stop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bot4.core.records import ACTION_SUBMIT, EXEC_FILL, FILL_DTYPE, FLAG_MANUAL, ORDER_DTYPE
from bot4.runtime.config import AppConfig
from bot4.runtime.engine import Engine
from bot4.runtime.journal import Journal

COOL_S = 600.0


def _set_up_state(engine: Engine) -> int:
    """Pause, a loss streak in its cool-down, a peak, then a kill: what the core would hold after a bad hour."""
    c, acct = engine.core.state.core[0], engine.core.state.acct[0]
    clock = int(engine.ticks["ts_exch_ns"][0])
    c["clock_ns"] = clock
    c["loss_streak"] = 3
    c["entry_cooldown_until"] = clock + int(COOL_S * 1e9)
    acct["peak"] = 100_123.456789
    engine.core.pause()
    engine.core.kill()
    engine.core.step()
    snap = engine.core.snapshot()
    assert snap.trading_state == "HALTED" and snap.paused and snap.loss_streak == 3
    return clock


@pytest.mark.parametrize("stop", ["crash", "clean"])
async def test_restart_restores_pause_streak_cooldowns_and_peak(
    app_config: AppConfig, state_dir: Path, stop: str
) -> None:
    first = Engine(app_config, state_dir)
    _set_up_state(first)
    rearm_left = first.core.snapshot().rearm_wait_s
    assert rearm_left > 290
    first.watchers.once()  # the watcher's pass journals the marks (as it does ten times a second)
    if stop == "clean":
        await first._shutdown([])  # the shutdown's own pause must not be what comes back
    else:
        first.close()  # kill -9: nothing after the last pass (the kernel drops the state dir's lock)
    time.sleep(1.0)  # time passes while the engine is down: the re-arm cool-down runs on the wall clock

    second = Engine(app_config, state_dir)
    snap = second.core.snapshot()
    c = second.core.state.core[0]
    try:
        assert snap.trading_state == "HALTED" and not second.gate_open
        assert snap.paused, "the operator's pause is lost"
        assert snap.loss_streak == 3, "the loss streak was reset"
        left_ns = int(c["entry_cooldown_until"]) - int(second.ticks["ts_exch_ns"][0])
        assert left_ns == pytest.approx(COOL_S * 1e9, abs=1e6), "the loss-streak cool-down was cleared"
        assert rearm_left - 30.0 < snap.rearm_wait_s < rearm_left - 0.9, "the re-arm cool-down restarted"
        assert snap.peak_equity == 100_123.456789
    finally:
        second.close()


async def test_a_rearm_resets_the_peak_and_the_restart_keeps_the_reset(app_config: AppConfig, state_dir: Path) -> None:
    """The peak after a re-arm is the equity then, not the highest peak the journal ever saw."""
    first = Engine(app_config, state_dir)
    first.core.state.acct[0]["peak"] = 150_000.0
    first.watchers.once()
    first.core.state.acct[0]["peak"] = 100_000.0  # what a re-arm does
    first.watchers.flush_marks()
    first.close()
    second = Engine(app_config, state_dir)
    try:
        assert second.core.snapshot().peak_equity == 100_000.0
    finally:
        second.close()


def test_a_second_engine_on_the_same_state_dir_is_refused(app_config: AppConfig, state_dir: Path) -> None:
    """F7: two engines on one journal would hand out the same client order ids."""
    import os

    from bot4.runtime.statelock import StateDirBusy

    first = Engine(app_config, state_dir)
    try:
        with pytest.raises(StateDirBusy, match=f"in use by another bot4 engine \\(pid {os.getpid()}\\)"):
            Engine(app_config, state_dir)
    finally:
        first.close()
    Engine(app_config, state_dir).close()  # free again once the first is gone


def test_a_persons_position_is_still_theirs_after_a_restart(app_config: AppConfig, state_dir: Path) -> None:
    """The journal says who opened each position: a person's stays out of the strategy's hands after a restart."""
    syms = tuple(i.symbol for i in app_config.core.instruments)
    state_dir.mkdir(parents=True, exist_ok=True)
    j = Journal(state_dir / "journal.sqlite")
    for coid, sym, flags in (((1 << 14) | 1, 0, FLAG_MANUAL), ((2 << 14) | 2, 1, 0)):
        o = np.zeros(1, ORDER_DTYPE)
        o["client_order_id"], o["symbol_id"], o["side"], o["size"], o["action"] = coid, sym, 1, 0.01, ACTION_SUBMIT
        o["flags"], o["price"], o["stop_px"] = flags, np.nan, 1.0
        j.append_orders(o, syms)
        r = np.zeros(1, FILL_DTYPE)
        r["client_order_id"], r["symbol_id"], r["side"], r["kind"] = coid, sym, 1, EXEC_FILL
        r["price"], r["size"] = 100.0, 0.01
        j.append_reports(r, syms)
    j.close()
    engine = Engine(app_config, state_dir)
    try:
        assert [float(q) for q in engine.core.state.sym["qty"][:2]] == [0.01, 0.01]
        assert [int(m) for m in engine.core.state.sym["manual_pos"][:2]] == [1, 0]
    finally:
        engine.close()
