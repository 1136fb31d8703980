"""What a user strategy may ask for: intents, written by its handlers and acted on by the core after each handler.

A handler never sends an order itself. It writes intents into ``out`` (an :class:`Intents` handle, up to
``INTENT_CAPACITY`` per event; more are dropped and counted in ``out.n[1]``); when it returns, the core turns each
into orders through the same flip handling, sizing and pre-trade risk checks as the built-in strategies
(``bot4/core/sdkstep.py``). Every entry needs a stop: an absolute ``stop`` price or a ``stop_frac`` distance from the
entry price; an entry with neither is refused (``stop_missing``) and the strategy's ``on_reject`` is told.

These functions are compiled into the strategy (numba) and also run as plain Python in debug mode, so they touch
records only by ``rec["field"]``, which both understand.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bot4.core.jit import helper
from bot4.core.records import TIF_FOK, TIF_GTC, TIF_IOC

INTENT_ENTER = 1  # a market entry on `side` (a flip when positioned the other way: exit, then the entry)
INTENT_ENTER_LIMIT = 2  # a limit entry on `side` at `price` (post-only and time in force as asked)
INTENT_EXIT = 3  # close the position (reduce-only market, resent until flat); working entries stay
INTENT_FLATTEN = 4  # cancel the symbol's working entries and close the position
INTENT_TARGET = 5  # move the position toward `qty` (base units, signed)
INTENT_CANCEL = 6  # cancel the symbol's working entries on `side` (0 = both sides)

INTENT_CAPACITY = 8  # intents one handler call may leave

INTENT_DTYPE = np.dtype(
    [
        ("kind", np.int64),  # INTENT_*
        ("side", np.int64),  # +1 buy, -1 sell (0: both, for a cancel)
        ("tif", np.int64),  # TIF_* of a limit entry
        ("post_only", np.int64),  # 1: a limit entry that would trade at once is refused instead
        ("price", np.float64),  # limit price, quote units (NaN for market)
        ("qty", np.float64),  # target position, base units, signed
        ("stop", np.float64),  # absolute stop-loss price (NaN: use stop_frac)
        ("stop_frac", np.float64),  # stop distance from the entry price, fraction (NaN: use stop)
        ("tp", np.float64),  # absolute take-profit price (NaN: use tp_frac, or none)
        ("tp_frac", np.float64),  # take-profit distance from the entry price, fraction (NaN or 0: none)
    ],
    align=True,
)

BUY = 1
SELL = -1
GTC = TIF_GTC
IOC = TIF_IOC
FOK = TIF_FOK


class Intents(NamedTuple):
    """The handle a handler writes to: ``buf`` the intents, ``n[0]`` how many, ``n[1]`` how many were dropped."""

    buf: np.ndarray  # INTENT_DTYPE[INTENT_CAPACITY]
    n: np.ndarray  # int64[2]


def new_intents() -> Intents:
    return Intents(np.zeros(INTENT_CAPACITY, INTENT_DTYPE), np.zeros(2, np.int64))


@helper
def push_intent_nb(
    out: Intents,
    kind: int,
    side: int,
    price: float,
    qty: float,
    stop: float,
    stop_frac: float,
    tp: float,
    tp_frac: float,
    post_only: int,
    tif: int,
) -> bool:
    """Append one intent; False (counted in ``out.n[1]``) when the handler already left INTENT_CAPACITY."""
    i = out.n[0]
    if i >= out.buf.shape[0]:
        out.n[1] += 1
        return False
    rec = out.buf[i]
    rec["kind"] = kind
    rec["side"] = side
    rec["price"] = price
    rec["qty"] = qty
    rec["stop"] = stop
    rec["stop_frac"] = stop_frac
    rec["tp"] = tp
    rec["tp_frac"] = tp_frac
    rec["post_only"] = post_only
    rec["tif"] = tif
    out.n[0] = i + 1
    return True


@helper
def enter(
    out: Intents,
    side: int,
    stop: float = np.nan,
    stop_frac: float = np.nan,
    take_profit: float = np.nan,
    take_profit_frac: float = np.nan,
) -> bool:
    """A market entry on ``side`` (BUY / SELL), sized by the core from the stop; a flip when positioned the other
    way. Already positioned (or entering) on that side: nothing happens."""
    return push_intent_nb(out, INTENT_ENTER, side, np.nan, 0.0, stop, stop_frac, take_profit, take_profit_frac, 0, 0)


@helper
def enter_limit(
    out: Intents,
    side: int,
    price: float,
    stop: float = np.nan,
    stop_frac: float = np.nan,
    take_profit: float = np.nan,
    take_profit_frac: float = np.nan,
    post_only: bool = False,
    tif: int = TIF_GTC,
) -> bool:
    """A limit entry on ``side`` at ``price``, sized by the core from the stop (``stop_frac`` is measured from
    ``price``). ``post_only``: refused (``post_only_would_cross``) if it would trade at once against the latest best
    bid / ask (the last trade when no book is known). ``tif``: GTC, IOC or FOK."""
    return push_intent_nb(
        out,
        INTENT_ENTER_LIMIT,
        side,
        price,
        0.0,
        stop,
        stop_frac,
        take_profit,
        take_profit_frac,
        1 if post_only else 0,
        tif,
    )


@helper
def exit_position(out: Intents) -> bool:
    """Close the whole position at market (reduce-only, sent again until flat). Working entries stay."""
    return push_intent_nb(out, INTENT_EXIT, 0, np.nan, 0.0, np.nan, np.nan, np.nan, np.nan, 0, 0)


@helper
def flatten(out: Intents) -> bool:
    """Cancel the symbol's working entries and close the position."""
    return push_intent_nb(out, INTENT_FLATTEN, 0, np.nan, 0.0, np.nan, np.nan, np.nan, np.nan, 0, 0)


@helper
def target(
    out: Intents,
    qty: float,
    stop: float = np.nan,
    stop_frac: float = np.nan,
    take_profit: float = np.nan,
    take_profit_frac: float = np.nan,
) -> bool:
    """Move the position toward ``qty`` (base units, signed) at market: a smaller position is reduced, a larger one
    added to (the addition needs a stop; the core's risk checks judge its size), and a change of side is an exit
    first; call again once flat to open the other side. Nothing happens while an order on the symbol is working."""
    return push_intent_nb(out, INTENT_TARGET, 0, np.nan, qty, stop, stop_frac, take_profit, take_profit_frac, 0, 0)


@helper
def cancel(out: Intents, side: int = 0) -> bool:
    """Cancel the symbol's working entries on ``side`` (0 = both); exits are never cancelled."""
    return push_intent_nb(out, INTENT_CANCEL, side, np.nan, 0.0, np.nan, np.nan, np.nan, np.nan, 0, 0)
