"""The same-run limit for ``tick_path_ticks_per_s``: the minimal EMA -> signal -> risk -> ring loop as one kernel.

bot4's tick path (``bench_core.throughput_figures``) pushes real trades through the whole core: the md ring, the
step's dispatch, the strategy, sizing, every pre-trade check with its return sampling, correlation and VaR views,
the order pool, the out ring, the stats. This module writes out the least a tick path of that shape has to do, so
the ratio between the two says how far bot4 is from what numba allows on the same machine in the same run:

- per tick (the same ``TICK_DTYPE`` records, read in place): skip a non-positive price, remember the last price,
  update the fast and slow EMAs (seeded with the first price, alpha = 2 / (n + 1), as ``strategy.ema_cross_nb``);
- a signal when the sign of (fast - slow) changes once the slow EMA has seen ``slow`` prices;
- sizing as bot4's: ``risk_per_trade_frac`` of equity between entry and a stop ``stop_frac`` away, floored to the
  size step, capped by the order notional limit;
- a pre-trade check of the same shape as ``risk.risk_check_nb``'s arithmetic checks, on plain record arrays,
  returning an int reason: trading state, size and price sane, price band, stop on the right side, risk per trade,
  order notional, symbol exposure (position + pending), gross exposure, the token bucket;
- the order record pushed into a preallocated ring (``ORDER_DTYPE``; a full ring refuses, nothing allocates).

What it leaves out on purpose (bot4 does them): the md ring copy, return sampling and the correlation / VaR checks,
the order pool, the histograms and counters. The driver walks the ticks in chunks of 4,096 like ``bench_core.drive``
and drains the ring between chunks (the orders answered as canceled: pending back to zero), so both sides pay the
same per-chunk Python call.
"""

from __future__ import annotations

import math
import time

import numpy as np

from bot4.core.config import CoreConfig
from bot4.core.jit import kernel
from bot4.core.records import (  # the refusal codes are bot4's own, so a reason from either side reads the same
    REASON_BAD_PRICE,
    REASON_BAD_SIZE,
    REASON_GROSS_EXPOSURE,
    REASON_HALTED,
    REASON_MAX_NOTIONAL,
    REASON_OK,
    REASON_ORDER_RATE,
    REASON_PRICE_BAND,
    REASON_RISK_PER_TRADE,
    REASON_STOP_WRONG_SIDE,
    REASON_SYMBOL_EXPOSURE,
)

CHUNK = 4096  # ticks per kernel call, as bench_core.drive
RING_CAPACITY = 4096  # a power of two >= CHUNK: at most one order per tick, so a chunk never fills it


LIMIT_SYM_DTYPE = np.dtype(
    [
        ("ema_fast", np.float64),  # fast EMA of the trade price, quote units
        ("ema_slow", np.float64),  # slow EMA of the trade price, quote units
        ("count", np.int64),  # prices seen
        ("last_dir", np.int64),  # +1 / -1: the side of the last signal, 0 before the first
        ("last_px", np.float64),  # last trade price, quote units
        ("qty", np.float64),  # position, base units (signed)
        ("pending", np.float64),  # signed size of the orders sent and not answered, base units
        ("max_exposure", np.float64),  # |position + pending + order| * price limit, USD
        ("size_step", np.float64),  # order sizes are floored to a multiple, base units
    ],
    align=True,
)

LIMIT_PARAMS_DTYPE = np.dtype(
    [
        ("alpha_fast", np.float64),  # 2 / (fast + 1)
        ("alpha_slow", np.float64),  # 2 / (slow + 1)
        ("slow", np.int64),  # prices the slow EMA needs before a signal
        ("stop_frac", np.float64),  # stop distance, fraction of the entry price
        ("risk_frac", np.float64),  # sizing: equity fraction at risk between entry and stop
        ("max_risk_frac", np.float64),  # refusal: risk per trade above this fraction of equity
        ("max_notional", np.float64),  # USD per order
        ("max_gross", np.float64),  # USD over all symbols
        ("price_band", np.float64),  # |price - last| within this fraction of last
        ("burst", np.float64),  # token bucket depth
        ("refill_per_ns", np.float64),  # tokens per ns of market clock
    ],
    align=True,
)

LIMIT_ACCT_DTYPE = np.dtype(
    [
        ("equity", np.float64),  # USD
        ("gross", np.float64),  # sum of |qty| * last over symbols, USD
        ("tokens", np.float64),  # token bucket level
        ("ts_tokens_ns", np.int64),  # market time of the last refill
        ("trading_state", np.int64),  # 0 active, 2 halted (as records.STATE_*)
    ],
    align=True,
)

ORDER_DTYPE = np.dtype(
    [
        ("ts_ns", np.int64),  # the signal tick's venue time, epoch ns
        ("symbol_id", np.int32),  # instrument index
        ("side", np.int8),  # +1 buy, -1 sell
        ("price", np.float64),  # reference price, quote units
        ("size", np.float64),  # base units
        ("stop", np.float64),  # stop price, quote units
    ],
    align=True,
)


@kernel
def limit_risk_check_nb(
    sym: np.ndarray,
    acct: np.ndarray,
    params: np.ndarray,
    s: int,
    side: int,
    price: float,
    size: float,
    stop: float,
    ts_ns: int,
) -> int:
    """The arithmetic pre-trade checks of ``risk.risk_check_nb`` in its order; the first failing reason or OK."""
    if acct[0].trading_state == 2:
        return REASON_HALTED
    if not (size > 0.0) or math.isinf(size):
        return REASON_BAD_SIZE
    last = sym[s].last_px
    if not (price > 0.0) or not (last > 0.0):
        return REASON_BAD_PRICE
    if abs(price - last) > params[0].price_band * last:
        return REASON_PRICE_BAND
    if side * (price - stop) <= 0.0:
        return REASON_STOP_WRONG_SIDE
    equity = acct[0].equity
    if abs(price - stop) * size > params[0].max_risk_frac * equity:
        return REASON_RISK_PER_TRADE
    if price * size > params[0].max_notional:
        return REASON_MAX_NOTIONAL
    new_exposure = abs(sym[s].qty + sym[s].pending + side * size) * price
    if new_exposure > sym[s].max_exposure:
        return REASON_SYMBOL_EXPOSURE
    if acct[0].gross - abs(sym[s].qty) * last + new_exposure > params[0].max_gross:
        return REASON_GROSS_EXPOSURE
    tokens = acct[0].tokens + (ts_ns - acct[0].ts_tokens_ns) * params[0].refill_per_ns
    acct[0].tokens = min(params[0].burst, tokens)
    acct[0].ts_tokens_ns = ts_ns
    if acct[0].tokens < 1.0:
        return REASON_ORDER_RATE
    acct[0].tokens -= 1.0
    return REASON_OK


@kernel
def limit_tick_path_nb(
    ticks: np.ndarray,
    start: int,
    end: int,
    sym: np.ndarray,
    params: np.ndarray,
    acct: np.ndarray,
    ring: np.ndarray,
    ring_ctrl: np.ndarray,
) -> int:
    """Ticks ``start:end`` through EMA -> signal -> sizing -> risk -> ring push; the orders pushed.

    ``ring_ctrl[0]`` is the write count, ``ring_ctrl[1]`` the read count (the consumer's).
    """
    p = params[0]
    mask = ring.shape[0] - 1
    pushed = 0
    for i in range(start, end):
        price = ticks[i].price
        if not (price > 0.0):
            continue
        s = ticks[i].symbol_id
        sym[s].last_px = price
        count = sym[s].count + 1
        sym[s].count = count
        if count == 1:
            sym[s].ema_fast = price
            sym[s].ema_slow = price
        else:
            sym[s].ema_fast += p.alpha_fast * (price - sym[s].ema_fast)
            sym[s].ema_slow += p.alpha_slow * (price - sym[s].ema_slow)
        if count < p.slow:
            continue
        diff = sym[s].ema_fast - sym[s].ema_slow
        if diff == 0.0:
            continue
        side = 1 if diff > 0.0 else -1
        if side == sym[s].last_dir:
            continue
        sym[s].last_dir = side
        stop = price * (1.0 - side * p.stop_frac)
        step = sym[s].size_step
        size = math.floor(p.risk_frac * acct[0].equity / abs(price - stop) / step + 1e-9) * step
        size = min(size, p.max_notional / price)
        ts = ticks[i].ts_exch_ns
        if limit_risk_check_nb(sym, acct, params, s, side, price, size, stop, ts) != REASON_OK:
            continue
        head = ring_ctrl[0]
        if head - ring_ctrl[1] > mask:
            continue  # REASON_RING_FULL: the consumer is a whole ring behind
        o = ring[head & mask]
        o.ts_ns = ts
        o.symbol_id = s
        o.side = side
        o.price = price
        o.size = size
        o.stop = stop
        ring_ctrl[0] = head + 1
        sym[s].pending += side * size
        pushed += 1
    return pushed


class LimitPath:
    """Owns the arrays of one limit run: per-symbol state, limits, the account and the order ring."""

    def __init__(self, cfg: CoreConfig, fast: int, slow: int, stop_frac: float) -> None:
        risk = cfg.risk
        self.sym = np.zeros(len(cfg.instruments), LIMIT_SYM_DTYPE)
        self.sym["max_exposure"] = [i.max_exposure_usd or risk.max_symbol_exposure_usd for i in cfg.instruments]
        self.sym["size_step"] = [i.size_step for i in cfg.instruments]
        self.params = np.zeros(1, LIMIT_PARAMS_DTYPE)
        p = self.params[0]
        p["alpha_fast"], p["alpha_slow"], p["slow"] = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0), slow
        p["stop_frac"] = stop_frac
        p["risk_frac"], p["max_risk_frac"] = risk.risk_per_trade_frac, risk.max_risk_per_trade_frac
        p["max_notional"], p["max_gross"] = risk.max_order_notional_usd, risk.max_gross_exposure_usd
        p["price_band"], p["burst"] = risk.price_band_frac, float(risk.order_burst)
        p["refill_per_ns"] = risk.max_orders_per_s / 1e9
        self.acct = np.zeros(1, LIMIT_ACCT_DTYPE)
        self.acct[0]["equity"] = risk.initial_equity_usd
        self.acct[0]["tokens"] = float(risk.order_burst)
        self.ring = np.zeros(RING_CAPACITY, ORDER_DTYPE)
        self.ring_ctrl = np.zeros(2, np.int64)

    def run(self, ticks: np.ndarray) -> tuple[float, int]:
        """Every tick through the kernel, the ring drained between chunks; (wall seconds, orders pushed)."""
        sym, params, acct, ring, ctrl = self.sym, self.params, self.acct, self.ring, self.ring_ctrl
        pushed = 0
        total = len(ticks)
        start = time.perf_counter()
        for pos in range(0, total, CHUNK):
            pushed += limit_tick_path_nb(ticks, pos, min(pos + CHUNK, total), sym, params, acct, ring, ctrl)
            ctrl[1] = ctrl[0]  # the consumer took them all: answered as canceled
            sym["pending"] = 0.0
        return time.perf_counter() - start, pushed
