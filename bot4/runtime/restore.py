"""A restart: the journal's positions, fees, equity peak, order sequence and trading state back into core and venue.

A halted engine comes back HALTED, with the execution gate closed and the re-arm cool-down running. Orders the
journal left open are closed in the journal: the paper venue starts empty, and a live venue reconciles at
``start`` (it cancels what it still holds of them; the core that placed them is gone).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from bot4.core.records import (
    EXEC_CANCELED,
    FILL_DTYPE,
    STATE_CAUSE_POSITION_MISMATCH,
    STATE_CAUSE_RESTORE,
    STATE_HALTED,
    STATE_NAMES,
    STATE_REDUCING,
)
from bot4.core.runner import Core
from bot4.logs import event
from bot4.runtime.journal import Journal, Restored
from bot4.runtime.trades import journal_fills, pair_trades
from bot4.venues.base import Venue

log = logging.getLogger("bot4.restore")


def restore(journal: Journal, core: Core, venue: Venue, initial_equity: float, clock_start_ns: int = 0) -> Restored:
    """Apply what the journal holds; what it held (``Restored.empty`` for a fresh journal).

    ``clock_start_ns``: the market clock the run starts at (the first tick of recorded data; wall time live), from
    which a loss-streak cool-down left at the stop runs on."""
    r = journal.restore()
    if r.empty:
        event(log, "journal_fresh", path=str(journal.path))
        return r
    st = core.state
    _apply_positions(journal, r, core, venue)
    acct, c = st.acct[0], st.core[0]
    if not math.isnan(r.peak_equity):
        acct["peak"] = max(acct["peak"], r.peak_equity)
    c["var_dirty"] = 1  # positions set from outside the fill path: the risk views are rebuilt on first use
    c["order_seq"] = r.order_seq
    c["halt_seq"] = r.halt_seq
    if r.trading_state != c["trading_state"]:
        c["trading_state"] = r.trading_state
        c["state_since_ns"] = time.monotonic_ns()
        if r.trading_state == STATE_HALTED:
            c["rearm_after_ns"] = time.monotonic_ns() + int(st.params[0]["rearm_cooldown_ns"])
        equity = r.last_equity if not math.isnan(r.last_equity) else initial_equity
        journal.append_state(r.trading_state, r.trading_state, STATE_CAUSE_RESTORE, r.halt_seq, equity, 0.0)
    m = r.marks
    if m is not None:  # the last mark is the newest word on these (the equity table's peak lags up to a second)
        acct["peak"] = m.peak
        c["paused"] = int(m.paused)
        c["loss_streak"] = m.loss_streak
        if m.cooldown_left_ns > 0:
            c["entry_cooldown_until"] = clock_start_ns + m.cooldown_left_ns
        if c["trading_state"] == STATE_HALTED:
            c["rearm_after_ns"] = time.monotonic_ns() + max(0, m.rearm_at_wall_ns - time.time_ns())
    if r.open_orders and not venue.recovers_orders:
        _close_left_open(journal, core.symbols, r.open_orders)
    core.publish()
    event(
        log,
        "journal_restored",
        positions={k: v[0] for k, v in r.positions.items()},
        fills=r.fills,
        trading_state=STATE_NAMES[r.trading_state],
        peak_equity=float(acct["peak"]),
        order_seq=r.order_seq,
        paused=bool(c["paused"]),
        loss_streak=int(c["loss_streak"]),
        cooldown_left_s=(m.cooldown_left_ns / 1e9) if m is not None else 0.0,
        rearm_wait_s=max(0.0, (int(c["rearm_after_ns"]) - time.monotonic_ns()) / 1e9) if r.trading_state == STATE_HALTED else 0.0,
    )
    return r


def _apply_positions(journal: Journal, r: Restored, core: Core, venue: Venue) -> None:
    """The journal's positions, realized PnL and fees into the core's tables and the venue; a position a person
    opened is marked as such again, so the strategy still leaves it alone after a restart."""
    st = core.state
    manual: set[str] = set()
    if any(q != 0.0 for q, _avg in r.positions.values()):
        _closed, opened = pair_trades(journal_fills(journal.path))
        manual = {t.symbol for t in opened if t.manual}
    positions: dict[int, tuple[float, float, float, float]] = {}
    for s, sym in enumerate(core.symbols):
        qty, avg = r.positions.get(sym, (0.0, math.nan))
        positions[s] = (qty, avg, r.realized.get(sym, 0.0), r.fees.get(sym, 0.0))
        row = st.sym[s]
        row["qty"], row["avg_px"], row["realized"], row["fees"] = positions[s]
        row["manual_pos"] = int(sym in manual and qty != 0.0)
    realized, fees = sum(r.realized.values()), sum(r.fees.values())
    st.acct["realized"] = realized
    st.acct["fees"] = fees
    venue.restore(positions, realized, fees)


def resync_positions(journal: Journal, core: Core, venue: Venue) -> None:
    """Positions, realized PnL and fees from the journal again (after the venue's recovery added fills to it), before
    the core has seen a tick."""
    r = journal.restore()
    _apply_positions(journal, r, core, venue)
    core.state.core["var_dirty"] = 1
    core.publish()
    event(log, "journal_resynced", positions={k: v[0] for k, v in r.positions.items()}, fills=r.fills)


async def check_holdings(journal: Journal, core: Core, venue: Venue, policy: str) -> list[dict[str, object]]:
    """The venue's holdings against the journal's positions (each base asset counted from what it held when this
    journal first traded there); a mismatch puts the engine in REDUCING or HALTED (``policy``), journaled and logged,
    never traded through. The mismatches found."""
    held = await venue.holdings()
    if held is None:
        return []
    st = core.state
    out: list[dict[str, object]] = []
    for s, sym in enumerate(core.symbols):
        key = f"baseline:{venue.name}:{sym}"
        qty = float(st.sym[s]["qty"])
        base = journal.meta(key)
        if base is None:  # the first start on this venue: what the account holds now is where this engine starts
            journal.set_meta(key, repr(held[sym] - qty))
            continue
        expected = float(base) + qty
        tol = float(st.sym[s]["size_step"]) / 2
        if abs(held[sym] - expected) > tol:
            out.append({"symbol": sym, "journal": qty, "venue": held[sym] - float(base), "held": held[sym]})
    if out:
        to = STATE_HALTED if policy == "halt" else STATE_REDUCING
        c = st.core[0]
        frm = int(c["trading_state"])
        if frm != STATE_HALTED and frm != to:
            c["trading_state"] = to
            c["state_since_ns"] = time.monotonic_ns()
            if to == STATE_HALTED:
                c["halt_seq"] += 1
                c["rearm_after_ns"] = time.monotonic_ns() + int(st.params[0]["rearm_cooldown_ns"])
            equity = float(st.acct[0]["equity"])
            journal.append_state(frm, to, STATE_CAUSE_POSITION_MISMATCH, int(c["halt_seq"]), equity, 0.0)
            core.publish()
        else:
            to = frm
        for m in out:
            event(log, "position_mismatch", logging.ERROR, state=STATE_NAMES[to], **m)
    return out


def _close_left_open(journal: Journal, symbols: tuple[str, ...], left_open: list[dict[str, object]]) -> None:
    gone = np.zeros(len(left_open), FILL_DTYPE)
    for i, o in enumerate(left_open):
        gone[i]["client_order_id"] = o["coid"]
        gone[i]["kind"] = EXEC_CANCELED
        gone[i]["symbol_id"] = symbols.index(str(o["symbol"]))
        gone[i]["side"] = o["side"]
        gone[i]["leaves"] = float(o["size"]) - float(o["filled"])  # type: ignore[arg-type]
        event(log, "reconcile_order_gone", logging.WARNING, coid=o["coid"], symbol=o["symbol"], leaves=gone[i]["leaves"])
    journal.append_reports(gone, symbols)
