"""The paper exchange's matching engine, compiled: order intake, validation, triggers, fills against replayed data.

Rules (one per venue, per symbol, per order):
- Intake: an order is validated (symbol, size and price steps, minimum size, reduce-only, margin) and acknowledged,
  or rejected with a VENUE_* reason. It becomes matchable ``latency`` ns of market time after it arrived: at the
  venue's clock, or at the order's own market time (``ts_mkt_ns``, the core's clock when it decided) when the venue
  has not replayed that far yet.
- Market orders take the best opposite level (its size when known, else all of it at that price); with no book,
  the next trade's price. Immediate-or-cancel and fill-or-kill leave nothing resting: the rest expires.
- Limit orders that cross the book on arrival take liquidity (taker fee). Resting limits fill (maker fee) only when
  the market trades *through* them (a trade strictly better than the limit), up to the trade's size, or when the
  opposite best quote moves through them.
- Stop orders trigger on the last trade (or the opposite quote) reaching their stop price, then act as market
  (stop-market) or limit (stop-limit) orders.
- Reduce-only orders that would increase or flip the position are rejected. Balances use the same average-cost
  accounting as the core; the margin needed by an order that grows exposure is notional / leverage.
Every outcome is an execution report (FILL_DTYPE) pushed to the report ring.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bot4.core.atomics import monotonic_ns
from bot4.core.book import APPLY_DROPPED, APPLY_END, L2Book, best_nb, depth_apply_nb, level_qty_nb
from bot4.core.jit import helper, kernel, routine
from bot4.core.positions import apply_fill_nb, mark_symbol_nb
from bot4.core.prints import outlier_nb
from bot4.core.records import (
    ACTION_CANCEL,
    EXEC_ACK,
    EXEC_CANCELED,
    EXEC_EXPIRED,
    EXEC_FILL,
    EXEC_REJECTED,
    FLAG_REDUCE_ONLY,
    LIQUIDITY_MAKER,
    LIQUIDITY_TAKER,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP_LIMIT,
    ORDER_STOP_MARKET,
    STATUS_ACCEPTED,
    STATUS_CANCELED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TICK_BAR,
    TICK_BBO,
    TICK_DEPTH,
    TICK_TRADE,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
    VENUE_BAD_ORDER,
    VENUE_BAD_PRICE_STEP,
    VENUE_BAD_SIZE_STEP,
    VENUE_FOK_UNFILLED,
    VENUE_INSUFFICIENT_FUNDS,
    VENUE_IOC_REMAINDER,
    VENUE_MIN_SIZE,
    VENUE_OK,
    VENUE_REDUCE_ONLY,
    VENUE_TABLE_FULL,
    VENUE_UNKNOWN_SYMBOL,
)
from bot4.core.ring import (
    ring_advance_nb,
    ring_available_nb,
    ring_claim_nb,
    ring_publish_nb,
    ring_room_nb,
    ring_slot_nb,
)

PAPER_PARAMS_DTYPE = np.dtype(
    [
        ("maker_fee", np.float64),  # fraction of notional
        ("taker_fee", np.float64),
        ("latency_ns", np.int64),  # market-time ns between an order's arrival and its first chance to match
        ("leverage", np.float64),  # margin needed by an order that grows exposure = notional / leverage
        ("outlier_frac", np.float64),  # prints refused as outliers, by the core's rule (risk.outlier_*)
        ("outlier_confirm", np.int64),
    ],
    align=True,
)

INSTRUMENT_DTYPE = np.dtype(
    [
        ("size_step", np.float64),  # base units
        ("price_tick", np.float64),  # quote units
        ("min_size", np.float64),  # base units
    ],
    align=True,
)

BOOK_DTYPE = np.dtype(
    [
        ("bid", np.float64),  # best bid seen (NaN or 0 before any)
        ("bid_sz", np.float64),
        ("ask", np.float64),
        ("ask_sz", np.float64),
        ("last", np.float64),  # last trade price
        ("ref", np.float64),  # last accepted price (trade, mid or bar close): the outlier rule's reference
        ("outlier_anchor", np.float64),  # the outlier rule's state (bot4.core.prints), as the core keeps it
        ("outlier_misses", np.int64),
    ],
    align=True,
)

VENUE_DTYPE = np.dtype(
    [
        ("live", np.int64),  # open orders
        ("clock", np.int64),  # market clock, ns
        ("accepted", np.int64),
        ("rejected", np.int64),
        ("fills", np.int64),
        ("canceled", np.int64),
        ("expired", np.int64),
        ("reports", np.int64),
        ("blocked", np.int64),  # times a tick or order had to wait for room in the report ring
        ("cancel_misses", np.int64),  # cancels of orders not open here
    ],
    align=True,
)

ACT_TRIGGERED = 1  # a stop order has triggered
ACT_ACTIVATED = 2  # the order has had its first matching pass

TABLE_BITS = 14
TABLE_SIZE = 1 << TABLE_BITS
TABLE_MASK = TABLE_SIZE - 1
STEP_TOLERANCE = 1e-6  # fraction of a step that still counts as on the grid


class PaperState(NamedTuple):
    params: np.ndarray  # PAPER_PARAMS_DTYPE[1]
    inst: np.ndarray  # INSTRUMENT_DTYPE per symbol
    book: np.ndarray  # BOOK_DTYPE per symbol
    orders: np.ndarray  # ORDER_DTYPE[TABLE_SIZE], slot = client order id & TABLE_MASK
    active_at: np.ndarray  # int64[TABLE_SIZE]: market ns from which the order may match
    act: np.ndarray  # uint8[TABLE_SIZE]: ACT_* bits
    live: np.ndarray  # int64[TABLE_SIZE]: dense list of open slots
    live_pos: np.ndarray  # int64[TABLE_SIZE]: where each open slot sits in `live`
    venue: np.ndarray  # VENUE_DTYPE[1]: clock and counters
    sym: np.ndarray  # SYMBOL_DTYPE per symbol: positions, in the core's layout
    acct: np.ndarray  # ACCOUNT_DTYPE[1]: the account, in the core's layout
    reject_counts: np.ndarray  # int64 per VENUE_* reason
    l2: L2Book  # each symbol's L2 book, from depth ticks
    queue: np.ndarray  # float64[TABLE_SIZE]: size ahead of a resting limit order at its price (NaN: no L2 book)


@helper
def on_grid_nb(value: float, step: float) -> bool:
    q = value / step
    return abs(q - round(q)) <= STEP_TOLERANCE


@routine
def report_nb(
    ps: PaperState,
    rep_ctrl: np.ndarray,
    rep_buf: np.ndarray,
    slot: int,
    kind: int,
    liquidity: int,
    reason: int,
    price: float,
    size: float,
    fee: float,
    leaves: float,
) -> bool:
    """Push one execution report for the order in ``slot``; False when the report ring is full."""
    return report_for_nb(ps, rep_ctrl, rep_buf, ps.orders[slot], kind, liquidity, reason, price, size, fee, leaves)


@helper
def report_for_nb(
    ps: PaperState,
    rep_ctrl: np.ndarray,
    rep_buf: np.ndarray,
    o: np.ndarray,
    kind: int,
    liquidity: int,
    reason: int,
    price: float,
    size: float,
    fee: float,
    leaves: float,
) -> bool:
    """:func:`report_nb` for the order record ``o`` (one the venue's table may not hold)."""
    i = ring_claim_nb(rep_ctrl)
    if i < 0:
        ps.venue[0].blocked += 1
        return False
    r = rep_buf[i]
    r.client_order_id = o.client_order_id
    r.ts_exch_ns = ps.venue[0].clock
    r.ts_in_ns = monotonic_ns()
    r.symbol_id = o.symbol_id
    r.venue_id = o.venue_id
    r.kind = kind
    r.side = o.side
    r.liquidity = liquidity
    r.reason = reason
    r.price = price
    r.size = size
    r.fee = fee
    r.leaves = leaves
    ring_publish_nb(rep_ctrl, 1)
    ps.venue[0].reports += 1
    return True


@helper
def unlist_nb(ps: PaperState, slot: int) -> None:
    pos = ps.live_pos[slot]
    last = ps.venue[0].live - 1
    moved = ps.live[last]
    ps.live[pos] = moved
    ps.live_pos[moved] = pos
    ps.live_pos[slot] = -1
    ps.venue[0].live = last


@helper
def reference_price_nb(ps: PaperState, s: int, side: int, limit: float) -> float:
    if limit > 0.0:
        return limit
    px = ps.book[s].ask if side > 0 else ps.book[s].bid
    if px > 0.0:
        return px
    return ps.book[s].last


@kernel
def margin_available_nb(ps: PaperState) -> float:
    """Equity not tied up by positions and open orders (notional / leverage)."""
    used = 0.0
    lev = ps.params[0].leverage
    for s in range(ps.sym.shape[0]):
        px = ps.sym[s].last_px
        if px > 0.0:
            used += abs(ps.sym[s].qty) * px / lev
    for k in range(ps.venue[0].live):
        o = ps.orders[ps.live[k]]
        if (o.flags & FLAG_REDUCE_ONLY) == 0:
            px = reference_price_nb(ps, o.symbol_id, o.side, o.price)
            if px > 0.0:
                used += (o.size - o.filled) * px / lev
    return ps.acct[0].equity - used


@kernel
def validate_nb(ps: PaperState, o: np.ndarray, i: int) -> int:
    """The VENUE_* reason an incoming order is refused for, or VENUE_OK."""
    rec = o[i]
    s = rec.symbol_id
    if s < 0 or s >= ps.inst.shape[0]:
        return VENUE_UNKNOWN_SYMBOL
    otype = rec.order_type
    if otype < ORDER_MARKET or otype > ORDER_STOP_LIMIT or (rec.side != 1 and rec.side != -1):
        return VENUE_BAD_ORDER
    if rec.tif < TIF_GTC or rec.tif > TIF_FOK:
        return VENUE_BAD_ORDER
    size = rec.size
    if not (size > 0.0) or math.isinf(size):
        return VENUE_BAD_ORDER
    if size < ps.inst[s].min_size * (1.0 - STEP_TOLERANCE):
        return VENUE_MIN_SIZE
    if not on_grid_nb(size, ps.inst[s].size_step):
        return VENUE_BAD_SIZE_STEP
    if otype == ORDER_LIMIT or otype == ORDER_STOP_LIMIT:
        if not (rec.price > 0.0) or math.isinf(rec.price):
            return VENUE_BAD_ORDER
        if not on_grid_nb(rec.price, ps.inst[s].price_tick):
            return VENUE_BAD_PRICE_STEP
    if otype == ORDER_STOP_MARKET or otype == ORDER_STOP_LIMIT:
        if not (rec.stop_px > 0.0) or math.isinf(rec.stop_px):
            return VENUE_BAD_ORDER
    q = ps.sym[s].qty
    reduces = q * rec.side < 0.0 and size <= abs(q) * (1.0 + 1e-9)
    if (rec.flags & FLAG_REDUCE_ONLY) != 0 and not reduces:
        return VENUE_REDUCE_ONLY
    if not reduces:
        ref = reference_price_nb(ps, s, rec.side, rec.price if rec.price > 0.0 else 0.0)
        if ref > 0.0 and size * ref / ps.params[0].leverage > margin_available_nb(ps) * (1.0 + 1e-9):
            return VENUE_INSUFFICIENT_FUNDS
    return VENUE_OK


@routine
def fill_nb(ps: PaperState, rep_ctrl: np.ndarray, rep_buf: np.ndarray, slot: int, price: float, size: float, liq: int) -> None:
    """Fill ``size`` of the order in ``slot`` at ``price``. A reduce-only order fills only what reduces the position
    at that moment (the rest expires): checked when it fills, not only when it arrived."""
    o = ps.orders[slot]
    if (o.flags & FLAG_REDUCE_ONLY) != 0:
        q = ps.sym[o.symbol_id].qty
        room = abs(q) if q * o.side < 0.0 else 0.0
        if room <= 0.0:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_REDUCE_ONLY)
            return
        if size > room:
            size = room
    rate = ps.params[0].maker_fee if liq == LIQUIDITY_MAKER else ps.params[0].taker_fee
    fee = price * size * rate
    s = o.symbol_id
    apply_fill_nb(ps.sym, ps.acct, s, o.side, price, size, fee)
    if not (ps.sym[s].last_px > 0.0):
        ps.sym[s].last_px = price
    mark_symbol_nb(ps.sym, ps.acct, s)
    filled = o.filled + size
    o.avg_px = price if o.filled == 0.0 else (o.avg_px * o.filled + price * size) / filled
    o.filled = filled
    leaves = o.size - filled
    if leaves <= o.size * 1e-9:
        leaves = 0.0
    ps.venue[0].fills += 1
    report_nb(ps, rep_ctrl, rep_buf, slot, EXEC_FILL, liq, VENUE_OK, price, size, fee, leaves)
    if leaves == 0.0:
        o.status = STATUS_FILLED
        unlist_nb(ps, slot)
    else:
        o.status = STATUS_PARTIALLY_FILLED
        if (o.flags & FLAG_REDUCE_ONLY) != 0 and ps.sym[s].qty == 0.0:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_REDUCE_ONLY)  # nothing left to reduce


@routine
def expire_nb(ps: PaperState, rep_ctrl: np.ndarray, rep_buf: np.ndarray, slot: int, reason: int) -> None:
    o = ps.orders[slot]
    o.status = STATUS_EXPIRED
    ps.venue[0].expired += 1
    ps.reject_counts[reason] += 1
    report_nb(ps, rep_ctrl, rep_buf, slot, EXEC_EXPIRED, 0, reason, np.nan, 0.0, 0.0, o.size - o.filled)
    unlist_nb(ps, slot)


@helper
def is_open_nb(o: np.ndarray) -> bool:
    return o.status == STATUS_ACCEPTED or o.status == STATUS_PARTIALLY_FILLED


@helper
def book_within_nb(ps: PaperState, s: int, side: int, limit: float) -> float:
    """Size the L2 book shows against an order on ``side`` at prices up to ``limit`` (NaN: any price)."""
    b = 1 if side > 0 else 0
    total = 0.0
    for j in range(ps.l2.n[s, b] - 1, -1, -1):
        k = ps.l2.key[s, b, j]
        px = -k if b == 1 else k
        if limit == limit and ((side > 0 and px > limit) or (side < 0 and px < limit)):
            break
        total += ps.l2.qty[s, b, j]
    return total


@helper
def take_book_nb(ps: PaperState, rep_ctrl: np.ndarray, rep_buf: np.ndarray, slot: int, s: int, limit: float) -> None:
    """Fill the order in ``slot`` level by level against the L2 book, best first, each level at its price and up to
    its size, as far as ``limit`` (NaN: any price) and while the report ring has room. The book is not changed by
    the fills (no market impact: the next diffs say what the market did)."""
    o = ps.orders[slot]
    side = o.side
    b = 1 if side > 0 else 0
    j = ps.l2.n[s, b] - 1
    while j >= 0 and is_open_nb(o) and ring_room_nb(rep_ctrl) > 3:
        k = ps.l2.key[s, b, j]
        px = -k if b == 1 else k
        if limit == limit and ((side > 0 and px > limit) or (side < 0 and px < limit)):
            return
        if ps.l2.qty[s, b, j] > 0.0:  # (a hole: a level that went)
            fill_nb(ps, rep_ctrl, rep_buf, slot, px, min(o.size - o.filled, ps.l2.qty[s, b, j]), LIQUIDITY_TAKER)
        j -= 1


@kernel
def match_bar_nb(
    ps: PaperState, rep_ctrl: np.ndarray, rep_buf: np.ndarray, slot: int, first_pass: bool, open_px: float, lo: float,
    hi: float,
) -> None:
    """The order in ``slot`` against one bar (open, low, high), the bar model of minute data.

    Orders decided at a bar's close meet the next bar: market orders fill at its open; a stop triggers when the bar
    reaches it and fills at the stop, or at the open when the bar opened through it; a limit fills at the open when
    the bar opens through it, else at the limit when the bar trades through it (strictly). Bars carry no depth: the
    whole order fills.
    """
    o = ps.orders[slot]
    side = o.side
    otype = o.order_type
    if (otype == ORDER_STOP_MARKET or otype == ORDER_STOP_LIMIT) and (ps.act[slot] & ACT_TRIGGERED) == 0:
        if not ((side > 0 and hi >= o.stop_px) or (side < 0 and lo <= o.stop_px)):
            return
        ps.act[slot] |= ACT_TRIGGERED
        first_pass = True
        if otype == ORDER_STOP_MARKET:
            px = max(open_px, o.stop_px) if side > 0 else min(open_px, o.stop_px)
            fill_nb(ps, rep_ctrl, rep_buf, slot, px, o.size - o.filled, LIQUIDITY_TAKER)
            return
    remaining = o.size - o.filled
    if otype == ORDER_MARKET:
        fill_nb(ps, rep_ctrl, rep_buf, slot, open_px, remaining, LIQUIDITY_TAKER)
        return
    limit = o.price
    if (side > 0 and open_px <= limit) or (side < 0 and open_px >= limit):
        fill_nb(ps, rep_ctrl, rep_buf, slot, open_px, remaining, LIQUIDITY_TAKER if first_pass else LIQUIDITY_MAKER)
    elif o.tif == TIF_FOK and first_pass:
        expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
    elif (side > 0 and lo < limit) or (side < 0 and hi > limit):
        if o.tif != TIF_GTC and first_pass:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_IOC_REMAINDER)  # an immediate order meets the open only
        else:
            fill_nb(ps, rep_ctrl, rep_buf, slot, limit, remaining, LIQUIDITY_MAKER)
    elif o.tif != TIF_GTC and first_pass:
        expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_IOC_REMAINDER)


@routine
def match_nb(
    ps: PaperState, rep_ctrl: np.ndarray, rep_buf: np.ndarray, slot: int, tick_kind: int, trade_px: float,
    trade_sz: float, trade_side: int, lo: float, hi: float,
) -> None:
    """Give the open order in ``slot`` its chance against the latest market event of its symbol (a bar: ``trade_px``
    its open, ``lo``/``hi`` its range).

    With an L2 book, a limit order that rests joins the queue at its price behind the size displayed there
    (``ps.queue``); prints at its price against its side use up the size ahead, and fill it once that is gone; a
    level that shrinks below the size ahead takes the queue down with it (cancels ahead of it, the risk-averse
    model: a shrink counts as cancels behind it otherwise). Prints through its price fill it whatever the queue."""
    o = ps.orders[slot]
    if ps.venue[0].clock < ps.active_at[slot]:
        return
    if tick_kind == TICK_BAR:
        first = (ps.act[slot] & ACT_ACTIVATED) == 0
        ps.act[slot] |= ACT_ACTIVATED
        match_bar_nb(ps, rep_ctrl, rep_buf, slot, first, trade_px, lo, hi)
        return
    s = o.symbol_id
    side = o.side
    bid = ps.book[s].bid
    ask = ps.book[s].ask
    opp_px = ask if side > 0 else bid
    opp_sz = ps.book[s].ask_sz if side > 0 else ps.book[s].bid_sz
    otype = o.order_type
    first_pass = (ps.act[slot] & ACT_ACTIVATED) == 0
    ps.act[slot] |= ACT_ACTIVATED
    if (otype == ORDER_STOP_MARKET or otype == ORDER_STOP_LIMIT) and (ps.act[slot] & ACT_TRIGGERED) == 0:
        px = trade_px if tick_kind == TICK_TRADE else opp_px
        if not (px > 0.0):
            return
        if (side > 0 and px >= o.stop_px) or (side < 0 and px <= o.stop_px):
            ps.act[slot] |= ACT_TRIGGERED
            first_pass = True  # a triggered stop behaves like a new order arriving now
        else:
            return
    remaining = o.size - o.filled
    is_market = otype == ORDER_MARKET or otype == ORDER_STOP_MARKET
    depth = ps.l2.n[s, 1 if side > 0 else 0] > 0  # an L2 book: orders that take liquidity walk its levels
    if is_market and depth:
        if o.tif == TIF_FOK and book_within_nb(ps, s, side, np.nan) < remaining:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
            return
        take_book_nb(ps, rep_ctrl, rep_buf, slot, s, np.nan)
        if is_open_nb(o) and o.tif != TIF_GTC:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_IOC_REMAINDER)
        return
    if is_market:
        if opp_px > 0.0:
            px = opp_px
            qty = remaining if not (opp_sz > 0.0) or opp_sz >= remaining else opp_sz
        elif tick_kind == TICK_TRADE and trade_px > 0.0:
            px = trade_px
            qty = remaining
        else:
            return  # no price to execute at yet
        if o.tif == TIF_FOK and qty < remaining:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
            return
        fill_nb(ps, rep_ctrl, rep_buf, slot, px, qty, LIQUIDITY_TAKER)
        if is_open_nb(o) and o.tif != TIF_GTC:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_IOC_REMAINDER)
        return
    limit = o.price
    marketable = opp_px > 0.0 and ((side > 0 and opp_px <= limit) or (side < 0 and opp_px >= limit))
    if first_pass:
        if marketable and depth:
            if o.tif == TIF_FOK and book_within_nb(ps, s, side, limit) < remaining:
                expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
                return
            take_book_nb(ps, rep_ctrl, rep_buf, slot, s, limit)
        elif marketable:
            qty = remaining if not (opp_sz > 0.0) or opp_sz >= remaining else opp_sz
            if o.tif == TIF_FOK and qty < remaining:
                expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
                return
            fill_nb(ps, rep_ctrl, rep_buf, slot, opp_px, qty, LIQUIDITY_TAKER)
        elif o.tif == TIF_FOK:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_FOK_UNFILLED)
            return
        if is_open_nb(o) and o.tif == TIF_IOC:
            expire_nb(ps, rep_ctrl, rep_buf, slot, VENUE_IOC_REMAINDER)
        elif is_open_nb(o) and o.tif == TIF_GTC:
            b = 0 if side > 0 else 1
            if ps.l2.n[s, b] > 0:  # it rests: behind what the book shows at its price
                ps.queue[slot] = level_qty_nb(ps.l2, s, b, limit)
        return
    # resting: filled by trades through the price, or by the opposite quote moving through it. In the queue (an L2
    # book): by price priority a print through its price, or the opposite best at it, means its level was taken
    # whole, so it fills in full; without depth a print fills at most its own size
    queued = ps.queue[slot] >= 0.0
    if tick_kind == TICK_TRADE:
        through = (side > 0 and trade_px < limit) or (side < 0 and trade_px > limit)
        if through:
            qty = remaining if queued or not (trade_sz > 0.0) or trade_sz >= remaining else trade_sz
            fill_nb(ps, rep_ctrl, rep_buf, slot, limit, qty, LIQUIDITY_MAKER)
        elif trade_px == limit and trade_side == -side and ps.queue[slot] >= 0.0 and trade_sz > 0.0:
            left = ps.queue[slot] - trade_sz  # a print at its price, against its side: the queue moves up
            if left < 0.0:
                ps.queue[slot] = 0.0
                fill_nb(ps, rep_ctrl, rep_buf, slot, limit, min(remaining, -left), LIQUIDITY_MAKER)
            else:
                ps.queue[slot] = left
    elif tick_kind == TICK_BBO and opp_px > 0.0:
        if queued:
            if (side > 0 and opp_px <= limit) or (side < 0 and opp_px >= limit):
                ps.queue[slot] = 0.0
                fill_nb(ps, rep_ctrl, rep_buf, slot, limit, remaining, LIQUIDITY_MAKER)
            return
        through = (side > 0 and opp_px < limit) or (side < 0 and opp_px > limit)
        if through:
            qty = remaining if not (opp_sz > 0.0) or opp_sz >= remaining else opp_sz
            fill_nb(ps, rep_ctrl, rep_buf, slot, limit, qty, LIQUIDITY_MAKER)


@helper
def depth_row_nb(ps: PaperState, t: np.ndarray, s: int) -> bool:
    """One L2 row into the venue's book of symbol ``s`` (resting orders at that level keep no more size ahead of
    them than it now shows); True when the row ended a message."""
    px = t.price
    qty = t.size
    if not (px > 0.0) or math.isinf(px) or not (qty >= 0.0) or math.isinf(qty):
        return False
    r = depth_apply_nb(ps.l2, s, t.side, px, qty, t.bid_px, t.ask_px, np.int64(t.bid_sz))
    if r == APPLY_DROPPED:
        return False
    for k in range(ps.venue[0].live):
        slot = ps.live[k]
        o = ps.orders[slot]
        if o.symbol_id == s and o.side == t.side and o.price == px and ps.queue[slot] > qty:
            ps.queue[slot] = qty
    return r == APPLY_END


@helper
def paper_on_tick_nb(ps: PaperState, ticks: np.ndarray, i: int, rep_ctrl: np.ndarray, rep_buf: np.ndarray) -> bool:
    """Apply one market event; False (nothing done) when the report ring lacks room for its worst case."""
    if ring_room_nb(rep_ctrl) < 2 * ps.venue[0].live + 2:
        ps.venue[0].blocked += 1
        return False
    t = ticks[i]
    s = t.symbol_id
    if s < 0 or s >= ps.book.shape[0]:
        return True
    if t.ts_exch_ns > ps.venue[0].clock:
        ps.venue[0].clock = t.ts_exch_ns
    kind = t.kind
    book = ps.book[s]
    px = t.price
    lo = px
    hi = px
    if kind == TICK_DEPTH:
        if not depth_row_nb(ps, t, s):
            return True  # within a book message (or a row dropped): orders meet the book when it is whole
        bid, bid_sz = best_nb(ps.l2, s, 0)
        ask, ask_sz = best_nb(ps.l2, s, 1)
        if not (bid > 0.0 and ask > bid):
            return True
        mid = 0.5 * (bid + ask)
        if outlier_nb(book, book.ref, mid, ps.params[0].outlier_frac, ps.params[0].outlier_confirm):
            return True
        book.ref = mid
        book.bid = bid
        book.bid_sz = bid_sz
        book.ask = ask
        book.ask_sz = ask_sz
        ps.sym[s].last_px = mid if not (book.last > 0.0) else book.last
        kind = TICK_BBO  # orders meet the book's new top as they meet a quote
    elif kind == TICK_BBO:
        if not (t.bid_px > 0.0 and t.ask_px >= t.bid_px) or math.isinf(t.ask_px):
            return True
        mid = 0.5 * (t.bid_px + t.ask_px)
        if outlier_nb(book, book.ref, mid, ps.params[0].outlier_frac, ps.params[0].outlier_confirm):
            return True  # the core refuses it by the same rule
        book.ref = mid
        book.bid = t.bid_px
        book.bid_sz = t.bid_sz
        book.ask = t.ask_px
        book.ask_sz = t.ask_sz
        ps.sym[s].last_px = mid if not (book.last > 0.0) else book.last
    else:
        if not (px > 0.0) or math.isinf(px):
            return True
        if outlier_nb(book, book.ref, px, ps.params[0].outlier_frac, ps.params[0].outlier_confirm):
            return True
        book.ref = px
        book.last = px
        ps.sym[s].last_px = px
        if kind == TICK_BAR:
            # a bar: its open (carried in bid_sz) is where orders decided at the previous close trade
            px = t.bid_sz if t.bid_sz > 0.0 else t.price
            lo = t.bid_px if 0.0 < t.bid_px <= px else px
            hi = t.ask_px if t.ask_px >= px else px
    mark_symbol_nb(ps.sym, ps.acct, s)
    k = 0
    while k < ps.venue[0].live:
        slot = ps.live[k]
        before = ps.venue[0].live
        if ps.orders[slot].symbol_id == s:
            match_nb(ps, rep_ctrl, rep_buf, slot, kind, px, t.size, t.side, lo, hi)
        if ps.venue[0].live == before:
            k += 1  # the order is still listed at k; otherwise another order moved into position k
    return True


@kernel
def paper_submit_nb(ps: PaperState, src: np.ndarray, i: int, rep_ctrl: np.ndarray, rep_buf: np.ndarray) -> int:
    """Take one order record (submit or cancel); the VENUE_* outcome."""
    rec = src[i]
    slot = rec.client_order_id & TABLE_MASK
    if rec.action == ACTION_CANCEL:
        o = ps.orders[slot]
        is_open = o.status == STATUS_ACCEPTED or o.status == STATUS_PARTIALLY_FILLED
        if o.client_order_id != rec.client_order_id or not is_open or ps.live_pos[slot] < 0:
            ps.venue[0].cancel_misses += 1
            return VENUE_OK
        o.status = STATUS_CANCELED
        ps.venue[0].canceled += 1
        unlist_nb(ps, slot)
        report_nb(ps, rep_ctrl, rep_buf, slot, EXEC_CANCELED, 0, VENUE_OK, np.nan, 0.0, 0.0, o.size - o.filled)
        return VENUE_OK
    current = ps.orders[slot]
    if (current.status == STATUS_ACCEPTED or current.status == STATUS_PARTIALLY_FILLED) and ps.live_pos[slot] >= 0:
        # the slot holds a working order: refuse the newcomer and leave that order as it is (overwriting it lost a
        # live order and left its slot listed under a refused one, to be listed twice by the next order there)
        ps.venue[0].rejected += 1
        ps.reject_counts[VENUE_TABLE_FULL] += 1
        report_for_nb(ps, rep_ctrl, rep_buf, rec, EXEC_REJECTED, 0, VENUE_TABLE_FULL, np.nan, 0.0, 0.0, 0.0)
        return VENUE_TABLE_FULL
    reason = validate_nb(ps, src, i)
    ps.orders[slot] = rec
    o = ps.orders[slot]
    o.filled = 0.0
    o.avg_px = np.nan
    if reason != VENUE_OK:
        o.status = STATUS_REJECTED
        o.reject_reason = reason
        ps.venue[0].rejected += 1
        ps.reject_counts[reason] += 1
        report_nb(ps, rep_ctrl, rep_buf, slot, EXEC_REJECTED, 0, reason, np.nan, 0.0, 0.0, 0.0)
        return reason
    o.status = STATUS_ACCEPTED
    ps.queue[slot] = np.nan
    # it arrives at the market time it was decided at (the core's clock when it made the order) when the venue has
    # not seen that far yet: the engine applies each replay batch here after the core has decided on it
    arrival = max(ps.venue[0].clock, rec.ts_mkt_ns)
    ps.active_at[slot] = arrival + ps.params[0].latency_ns
    ps.act[slot] = 0
    n = ps.venue[0].live
    ps.live[n] = slot
    ps.live_pos[slot] = n
    ps.venue[0].live = n + 1
    ps.venue[0].accepted += 1
    report_nb(ps, rep_ctrl, rep_buf, slot, EXEC_ACK, 0, VENUE_OK, np.nan, 0.0, 0.0, o.size)
    if ps.params[0].latency_ns <= 0 and arrival == ps.venue[0].clock:
        s = o.symbol_id
        match_nb(ps, rep_ctrl, rep_buf, slot, TICK_BBO if ps.book[s].ask > 0.0 else 0, np.nan, 0.0, 0, np.nan, np.nan)
    return VENUE_OK


@helper
def paper_pump_nb(
    ps: PaperState, out_ctrl: np.ndarray, out_buf: np.ndarray, rep_ctrl: np.ndarray, rep_buf: np.ndarray
) -> int:
    """Take every order waiting in the core's order ring (while the report ring has room); how many were taken."""
    n = ring_available_nb(out_ctrl)
    done = 0
    for k in range(n):
        if ring_room_nb(rep_ctrl) < 4:
            ps.venue[0].blocked += 1
            break
        paper_submit_nb(ps, out_buf, ring_slot_nb(out_ctrl, k), rep_ctrl, rep_buf)
        done += 1
    if done > 0:
        ring_advance_nb(out_ctrl, done)
    return done


@kernel
def paper_on_ticks_nb(
    ps: PaperState, ticks: np.ndarray, start: int, n: int, rep_ctrl: np.ndarray, rep_buf: np.ndarray
) -> int:
    """Apply ``ticks[start:start+n]`` in order; how many were applied (fewer when the report ring filled up)."""
    for k in range(n):
        if not paper_on_tick_nb(ps, ticks, start + k, rep_ctrl, rep_buf):
            return k
    return n

