"""The order ticket's logic, apart from its widgets: reading what a person typed, the preview before sending, and
the outcome as the engine reports it.

Pure functions and one small tracker over the engine's recent activity (plain dicts, as the local engine and the
control API's stream both give them), so the ticket, the tests and an attached workstation read them alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot4.core.records import FLAG_MANUAL
from bot4.ui.refusals import refusal_text


class TicketError(ValueError):
    """What is wrong with a field, said so that the person can fix it."""


GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")


def parse_number(text: str, what: str, required: bool = True) -> float:
    """A positive number as people type it: ``1,000`` and ``61,250.5`` (thousands grouped), ``0,5`` (a decimal
    comma), `` 0.5 ``, ``1_000``; empty is NaN unless required."""
    cleaned = text.strip().replace("_", "").replace(" ", "")
    if GROUPED.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    elif cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not cleaned:
        if required:
            raise TicketError(f"{what}: required")
        return math.nan
    try:
        value = float(cleaned)
    except ValueError:
        raise TicketError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise TicketError(f"{what}: must be more than 0")
    return value


def parse_symbol(text: str, symbols: Sequence[str]) -> str:
    """The instrument a person meant: any case, with or without the slash (``btc/usdt``, ``BTCUSDT``), or the base
    alone when only one instrument has it (``eth``)."""
    key = text.strip().upper().replace("-", "/").replace("_", "/")
    for sym in symbols:
        if key in (sym.upper(), sym.upper().replace("/", "")):
            return sym
    bases = [sym for sym in symbols if sym.upper().split("/")[0] == key]
    if len(bases) == 1:
        return bases[0]
    raise TicketError(f"symbol: {text.strip()!r} is not one of {', '.join(symbols)}")


def parse_side(text: str) -> int:
    """+1 for buy / long / b, -1 for sell / short / s (any case)."""
    key = text.strip().lower()
    if key in ("buy", "b", "long", "+1", "1"):
        return 1
    if key in ("sell", "s", "short", "-1"):
        return -1
    raise TicketError(f"side: {text.strip()!r}: buy or sell")


@dataclass(frozen=True)
class Ticket:
    """An order as typed, checked for form (the core checks it for risk)."""

    symbol: str
    side: int  # +1 buy, -1 sell
    size: float  # base units
    stop_px: float  # quote units; NaN when left empty (the core refuses an entry without one)
    price: float | None  # limit price, None for market

    def as_order(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "size": self.size,
            "stop_px": self.stop_px,
            "price": self.price,
        }


def read_ticket(symbol: str, side: int, size: str, stop: str, price: str, symbols: Sequence[str]) -> Ticket:
    """The fields of the ticket as an order; TicketError names the first field that is wrong."""
    sym = parse_symbol(symbol, symbols)
    qty = parse_number(size, "size")
    stop_px = parse_number(stop, "stop", required=False)
    limit = parse_number(price, "limit price", required=False)
    return Ticket(sym, side, qty, stop_px, None if math.isnan(limit) else limit)


@dataclass(frozen=True)
class Preview:
    """What the order would do, at the current bid/ask, before it is sent."""

    ref_px: float  # the limit, or the ask for a market buy / the bid for a market sell
    notional: float  # quote units
    at_risk: float  # |ref - stop| x size, quote units (NaN without a stop)
    risk_frac: float  # at_risk / equity
    stop_wrong_side: bool

    def lines(self, ticket: Ticket, ccy: str, max_risk_frac: float) -> list[str]:
        side = "BUY" if ticket.side > 0 else "SELL"
        where = f"limit {ticket.price:,.2f}" if ticket.price is not None else f"market (~{self.ref_px:,.2f})"
        out = [f"{side} {ticket.size:,.8g} {ticket.symbol} at {where}", f"notional {self.notional:,.2f} {ccy}"]
        if math.isnan(self.at_risk):
            out.append("no stop: an entry will be refused (a stop is required)")
        elif self.stop_wrong_side:
            out.append(f"stop {ticket.stop_px:,.2f} is on the wrong side of {self.ref_px:,.2f}")
        else:
            limit = f"{max_risk_frac * 100:.2f} %"
            judged = (
                f"over the {limit} limit: it will be refused" if self.risk_frac > max_risk_frac else f"limit {limit}"
            )
            out.append(f"stop {ticket.stop_px:,.2f} · at risk {self.at_risk:,.2f} {ccy}")
            out.append(f"= {self.risk_frac * 100:.2f} % of equity ({judged})")
        return out


def preview(ticket: Ticket, bid: float, ask: float, equity: float) -> Preview:
    ref = ticket.price if ticket.price is not None else (ask if ticket.side > 0 else bid)
    at_risk = abs(ref - ticket.stop_px) * ticket.size if ticket.stop_px == ticket.stop_px else math.nan
    wrong = ticket.stop_px == ticket.stop_px and ticket.side * (ref - ticket.stop_px) <= 0
    return Preview(ref, ref * ticket.size, at_risk, at_risk / equity if equity > 0 else math.nan, wrong)


def _f(x: object) -> float:
    return math.nan if x is None else float(x)  # type: ignore[arg-type]


REJECT_WAITS = 20  # a refusal is told without its figures if its record has not come after this many answers


class OrderWatch:
    """Follows one manual order from the moment it is sent to what the engine made of it.

    Give it the coids it has seen before sending (``known``), then feed it the engine's recent activity and last
    command result: :meth:`outcome` is None while there is nothing final to say, else the sentence to show.
    """

    def __init__(self, ticket: Ticket, known: set[int], seq: int) -> None:
        self.ticket = ticket
        self.known = known
        self.seq = seq  # the command's sequence number (0: unknown, attached)
        self.coid = 0
        self.rested = False
        self.waits = 0  # answers asked for since the refusal was known, its record not yet seen

    def outcome(
        self, last_command: tuple[int, int, str], activity: Mapping[str, object], ccy: str = "USD"
    ) -> str | None:
        seq, _kind, result = last_command
        if self.seq and seq < self.seq:
            return None  # the core has not taken the command yet
        if result != "ok":
            rejects = [
                r
                for r in activity.get("rejects", [])  # type: ignore[attr-defined]
                if int(r.get("flags", FLAG_MANUAL)) & FLAG_MANUAL and r.get("symbol") == self.ticket.symbol
            ]
            if rejects and rejects[-1].get("reason") == result:
                return f"refused: {refusal_text(rejects[-1], ccy)}"
            self.waits += 1  # the reject record (with its figures) reaches the views a moment after the result
            if self.waits < REJECT_WAITS:
                return None
            return f"refused: {refusal_text({'reason': result}, ccy)}"
        orders = activity.get("orders", [])
        if not self.coid:
            mine = [
                o
                for o in orders  # type: ignore[attr-defined]
                if int(o.get("coid", 0)) not in self.known
                and o.get("action") == "submit"
                and o.get("symbol") == self.ticket.symbol
                and int(o.get("flags", FLAG_MANUAL)) & FLAG_MANUAL
            ]
            if not mine:
                return None
            self.coid = int(mine[-1]["coid"])
        fills = [f for f in activity.get("fills", []) if int(f.get("coid", 0)) == self.coid]  # type: ignore[attr-defined]
        filled = sum(_f(f.get("size")) for f in fills)
        working = any(int(o.get("coid", 0)) == self.coid for o in activity.get("open", []))  # type: ignore[attr-defined]
        size = self.ticket.size
        if working:
            if self.ticket.price is not None and not self.rested:
                self.rested = True
                return f"working: limit {self.ticket.price:,.2f}, filled {filled:,.8g} of {size:,.8g}"
            return None
        if filled <= 0:
            return f"not filled (0 of {size:,.8g}): it ended at the venue without a fill"
        avg = sum(_f(f["price"]) * _f(f["size"]) for f in fills) / filled
        if filled >= size * (1 - 1e-9):
            return f"filled {filled:,.8g} of {size:,.8g} at {avg:,.2f} {ccy}"
        rest = "rest expired" if self.ticket.price is None else "rest cancelled"
        return f"filled {filled:,.8g} of {size:,.8g} at {avg:,.2f} {ccy}, {rest}"
