"""The hftbacktest side of ``bench_hftbacktest.py``, run in whichever Python has hftbacktest 2.4.4 (its own venv: its
pins are not bot4's): ``python bench/hbt_side.py EVENTS.npy SPEC.json OUT.json``.

``EVENTS.npy`` is the capture as hftbacktest events (its ``event_dtype``; every row flagged EXCH_EVENT | LOCAL_EVENT,
exch_ts = local_ts = the capture's receive time), built by the bench from the same files and rows bot4 replays.
``SPEC.json`` lists the runs: {"rounds": 3, "tick": 0.01, "lot": 0.00001, "runs": [{"name", "strategy": "ema" |
"join", "exchange": "no_partial_fill" | "partial_fill", "latency_ns", "maker_fee", "taker_fee", ...}]}.

Each run builds a ``HashMapMarketDepthBacktest`` (one asset: linear, ``RiskAdverseQueueModel``, constant order
latency: ``latency_ns`` entry, 0 response, like bot4's paper venue whose reports reach the core at its next step,
``TradingValueFeeModel``) and drives it with an ``njit`` strategy loop (``wait_next_feed`` per market event, as the
hftbacktest examples do). Compiling the loop is done on a short slice before the clock; building the backtest (it
copies the events) is outside the clock; the clock covers the loop from the first event to the end of the data.

The two strategies are ``bench/hbt_strategies.py``'s rules written for hftbacktest:
- ``ema``: EMAs of the trade prices (``last_trades`` after each event), the side wanted = sign(fast - slow) from the
  ``slow``-th print on; after every event, with no order working, the position is moved toward side x qty with one
  market order (a change of side: the close first, the entry once flat), as bot4's ``target``.
- ``join``: after each book message (an event that brought no print), per side: a working order no longer at the
  best price is cancelled (once its request is done: hftbacktest refuses a cancel while the order's own request is
  in flight); a side with none working joins the best with a GTX (post-only) limit of floor(notional / price) lots,
  bot4's sizing under its notional cap.

Fills are counted from the orders themselves (each decrease of an order's ``leaves_qty``, at the order's own price
for a maker fill): hftbacktest 2.4.4's local processor applies a fill to its state values (``position``, ``fee``,
``num_trades``) only when the response says Filled, so with the partial-fill exchange the partial fills of an order
are missing there (its last fill's quantity is applied, the earlier ones never are). Both are reported.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
from numba import njit

TIMEOUT_NS = 3_600_000_000_000  # wait_next_feed's timeout: an hour of market time (the data never pauses that long)
FILLED, EXPIRED, CANCELED = 3, 2, 4  # hftbacktest.order status codes
GTC, GTX = 0, 1
LIMIT, MARKET = 0, 1
FILL_COLS = 5  # (ts: in fts), signed qty, price, liquidity (1 maker, 2 taker), order id


@njit(cache=False)
def _account(hbt, oid, last_leaves, fills, fts, nf):  # type: ignore[no-untyped-def]
    """Record the fill of order ``oid`` since its last seen ``leaves_qty``; (leaves now, fills, done)."""
    o = hbt.orders(0).get(oid)
    if o is None:
        return last_leaves, nf, True
    left = o.leaves_qty
    if last_leaves - left > 1e-12 and nf < fills.shape[0]:
        fts[nf] = o.exch_timestamp  # the exchange's time of its latest fill (int64: a float64 would round it)
        fills[nf, 1] = (last_leaves - left) * o.side
        fills[nf, 2] = o.exec_price
        fills[nf, 3] = 1.0 if o.arr[0].maker else 2.0
        fills[nf, 4] = oid
        nf += 1
    done = o.status == FILLED or o.status == EXPIRED or o.status == CANCELED
    return left, nf, done


@njit(cache=False)
def ema_loop(hbt, fast, slow, qty, step, fills, fts, subs, sts):  # type: ignore[no-untyped-def]
    """The EMA rule; (orders sent, fills recorded, flips, state-values fills, error code, its market time)."""
    err = 0
    err_ts = 0
    ema_f = 0.0
    ema_s = 0.0
    count = 0
    want = 0.0
    flips = 0
    working = 0
    next_id = 1
    sent = 0
    nf = 0
    last_leaves = 0.0
    while True:
        r = hbt.wait_next_feed(False, TIMEOUT_NS)
        if r == 1:
            break
        if r != 2:
            if r == 0:
                continue
            err = r  # an error: hftbacktest would return it again at every call (it does not advance past it)
            err_ts = hbt.current_timestamp
            break
        trades = hbt.last_trades(0)
        for i in range(len(trades)):
            px = trades[i].px
            count += 1
            if count == 1:
                ema_f = px
                ema_s = px
            else:
                ema_f += 2.0 / (fast + 1.0) * (px - ema_f)
                ema_s += 2.0 / (slow + 1.0) * (px - ema_s)
            if count >= slow:
                diff = ema_f - ema_s
                w = want
                if diff > 0.0:
                    w = qty
                elif diff < 0.0:
                    w = -qty
                if w != want:
                    flips += 1
                    want = w
        hbt.clear_last_trades(0)
        if working != 0:
            last_leaves, nf, done = _account(hbt, working, last_leaves, fills, fts, nf)
            if done:
                working = 0
        hbt.clear_inactive_orders(0)
        if working != 0 or want == 0.0:
            continue
        pos = hbt.position(0)
        if abs(want - pos) < 0.5 * step:
            continue
        if pos != 0.0 and pos * want < 0.0:  # a change of side: the close first
            size = abs(pos)
            side = -1 if pos > 0.0 else 1
        else:
            size = math.floor((abs(want) - abs(pos)) / step + 1e-9) * step
            side = 1 if want > 0.0 else -1
            if size <= 0.0:
                continue
        depth = hbt.depth(0)
        px = depth.best_ask if side > 0 else depth.best_bid
        if side > 0:
            hbt.submit_buy_order(0, next_id, px, size, GTC, MARKET, False)
        else:
            hbt.submit_sell_order(0, next_id, px, size, GTC, MARKET, False)
        if sent < subs.shape[0]:
            sts[sent] = hbt.current_timestamp
            subs[sent, 0], subs[sent, 1], subs[sent, 2], subs[sent, 3] = side, np.nan, size, next_id  # market
        working = next_id
        last_leaves = size
        next_id += 1
        sent += 1
    return sent, nf, flips, hbt.state_values(0).num_trades, err, err_ts


@njit(cache=False)
def join_loop(hbt, notional, step, tick, fills, fts, subs, sts):  # type: ignore[no-untyped-def]
    """The join-the-best rule; (orders sent, fills recorded, cancels sent, state-values fills, error code, its
    market time)."""
    err = 0
    err_ts = 0
    buy_id = 0
    sell_id = 0
    buy_tick = 0
    sell_tick = 0
    buy_left = 0.0
    sell_left = 0.0
    buy_cxl = False
    sell_cxl = False
    next_id = 1
    sent = 0
    cancels = 0
    nf = 0
    while True:
        r = hbt.wait_next_feed(False, TIMEOUT_NS)
        if r == 1:
            break
        if r != 2:
            if r == 0:
                continue
            err = r  # an error: hftbacktest would return it again at every call (it does not advance past it)
            err_ts = hbt.current_timestamp
            break
        printed = len(hbt.last_trades(0)) > 0
        hbt.clear_last_trades(0)
        if buy_id != 0:
            buy_left, nf, done = _account(hbt, buy_id, buy_left, fills, fts, nf)
            if done:
                buy_id = 0
        if sell_id != 0:
            sell_left, nf, done = _account(hbt, sell_id, sell_left, fills, fts, nf)
            if done:
                sell_id = 0
        hbt.clear_inactive_orders(0)
        if printed:
            continue  # decisions after book messages only, as bot4's on_book
        depth = hbt.depth(0)
        bb = depth.best_bid_tick
        ba = depth.best_ask_tick
        if not (bb < ba) or bb <= 0 or ba >= 2**62:
            continue
        if buy_id != 0:
            if buy_tick != bb and not buy_cxl:
                o = hbt.orders(0).get(buy_id)
                if o is not None and o.cancellable:
                    hbt.cancel(0, buy_id, False)
                    buy_cxl = True
                    cancels += 1
        else:
            px = bb * tick
            size = math.floor(notional / px / step + 1e-9) * step
            hbt.submit_buy_order(0, next_id, px, size, GTX, LIMIT, False)
            if sent < subs.shape[0]:
                sts[sent] = hbt.current_timestamp
                subs[sent, 0], subs[sent, 1], subs[sent, 2], subs[sent, 3] = 1.0, px, size, next_id
            buy_id, buy_tick, buy_left, buy_cxl = next_id, bb, size, False
            next_id += 1
            sent += 1
        if sell_id != 0:
            if sell_tick != ba and not sell_cxl:
                o = hbt.orders(0).get(sell_id)
                if o is not None and o.cancellable:
                    hbt.cancel(0, sell_id, False)
                    sell_cxl = True
                    cancels += 1
        else:
            px = ba * tick
            size = math.floor(notional / px / step + 1e-9) * step
            hbt.submit_sell_order(0, next_id, px, size, GTX, LIMIT, False)
            if sent < subs.shape[0]:
                sts[sent] = hbt.current_timestamp
                subs[sent, 0], subs[sent, 1], subs[sent, 2], subs[sent, 3] = -1.0, px, size, next_id
            sell_id, sell_tick, sell_left, sell_cxl = next_id, ba, size, False
            next_id += 1
            sent += 1
    return sent, nf, cancels, hbt.state_values(0).num_trades, err, err_ts


def build(events: np.ndarray, spec: dict, run: dict):  # type: ignore[no-untyped-def]
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(int(run["latency_ns"]), 0)
        .risk_adverse_queue_model()
        .trading_value_fee_model(run["maker_fee"], run["taker_fee"])
        .tick_size(spec["tick"])
        .lot_size(spec["lot"])
        .last_trades_capacity(10_000)
    )
    asset = asset.partial_fill_exchange() if run["exchange"] == "partial_fill" else asset.no_partial_fill_exchange()
    return HashMapMarketDepthBacktest([asset])


def once(events: np.ndarray, spec: dict, run: dict) -> dict:
    hbt = build(events, spec, run)
    fills = np.zeros((1_000_000, FILL_COLS))
    fts = np.zeros(1_000_000, np.int64)
    subs = np.zeros((1_000_000, 4))  # side, price, size, order id of each order sent
    sts = np.zeros(1_000_000, np.int64)
    start = time.perf_counter()
    if run["strategy"] == "ema":
        sent, nf, extra, sv_trades, err, err_ts = ema_loop(
            hbt, run["fast"], run["slow"], run["qty"], spec["lot"], fills, fts, subs, sts
        )
    else:
        sent, nf, extra, sv_trades, err, err_ts = join_loop(
            hbt, run["notional"], spec["lot"], spec["tick"], fills, fts, subs, sts
        )
    seconds = time.perf_counter() - start
    sv = hbt.state_values(0)
    out = {
        "seconds": seconds,
        "events": int(len(events)),
        "orders": int(sent),
        "extra": int(extra),  # ema: flips of the side wanted; join: cancels sent
        "fills": int(nf),
        "sv_position": float(sv.position),
        "sv_fee": float(sv.fee),
        "sv_num_trades": int(sv_trades),
        "sv_trading_value": float(sv.trading_value),
        "error": int(err),  # hftbacktest's code (14: InvalidOrderStatus), 0 when the run reached the end of the data
        "error_ts": int(err_ts),
    }
    hbt.close()
    rows = fills[:nf].tolist()
    for i, ts in enumerate(fts[:nf].tolist()):
        rows[i][0] = ts
    sent_rows = subs[: min(sent, len(subs))].tolist()
    for i, ts in enumerate(sts[: len(sent_rows)].tolist()):
        sent_rows[i].insert(0, ts)
    return out | {"fill_rows": rows, "order_rows": sent_rows}


def main() -> int:
    import resource

    # a guard for a shared machine: an hftbacktest error it does not advance past can make a careless loop grow a
    # Rust buffer until the OOM killer picks a process; with a cap, this process fails on its own instead
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    cap = 8 << 30 if hard == resource.RLIM_INFINITY else min(8 << 30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    import hftbacktest
    from hftbacktest.data.validation import validate_event_order

    events_path, spec_path, out_path = sys.argv[1:4]
    events = np.load(events_path)
    with open(spec_path) as fh:
        spec = json.load(fh)
    validate_event_order(events)  # raises on an exch_ts or local_ts going back among the flagged rows
    results = {}
    for run in spec["runs"]:
        once(events[:20_000].copy(), spec, run)  # compiles the loop (and warms hftbacktest's code) outside the clock
        rounds = [once(events, spec, run) for _ in range(spec["rounds"])]
        results[run["name"]] = rounds
    with open(out_path, "w") as fh:
        json.dump({"version": hftbacktest.__version__, "results": results}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
