"""Order traces: every order's path as one trace, built after the fact from the stamps the core already writes.

The core stamps each order record in-core (``ts_in_ns`` when the tick or command entered bot4, ``ts_risk_ns`` when
its pre-trade checks began, ``ts_created_ns`` when they passed and the order was made) and each execution report
(``ts_in_ns`` when it entered bot4). The execution side hands what it journals here, with the times of its journal
commits and of the hand-over to the venue; :class:`OrderTracer` keeps each order's stamps until the order ends, then
decides whether to keep its trace and turns it into spans, all on the asyncio thread, after the fact. The hot path
does nothing for it, and nothing here runs unless tracing is enabled.

One trace per order (its client order id). Spans, all children of the root ``order`` span:

- ``tick received`` (``command received`` for a manual order): the instant the event that caused it entered bot4;
- ``decision``: from then to the start of its pre-trade checks (ring wait, strategy, sizing);
- ``risk check``: the checks, with ``bot4.risk.result`` (the reason when refused: that span and the root are errors);
- ``order sent``: from the order's creation to its hand-over to the venue (journal commit included). On recorded
  data the paper venue takes the order inside the core's own step: the venue's first answer marks the hand-over;
- ``venue ack``, one ``fill`` per fill (price, size, fee, liquidity, leaves), ``venue canceled`` / ``venue rejected``
  (reason) / ``venue expired``, ``cancel sent``: from the venue's previous answer (or the hand-over) to this one;
- ``journal commit``: each SQLite commit that wrote one of its rows (``bot4.journal.table``).

Which traces are kept: every refused order (pre-trade risk, the venue, the closed gate), every order of a kill
(open at the kill or made by it), every order slower than ``slow_order_us`` from tick to order (also logged as
``order_slow``), and ``sample_ratio`` of the rest, decided on the trace id the way OpenTelemetry's
``TraceIdRatioBased`` sampler does. Trace ids are derived from the client order id and a per-process salt, so a log
line about an order can carry its trace id before the order ends (:class:`TraceIdFilter` adds it to every line with
a ``coid``). Spans go to a :class:`SpanSink` (``bot4.runtime.otlp``), which must never block.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bot4.core import records
from bot4.logs import event
from bot4.runtime.config import TracingConfig

log = logging.getLogger("bot4.tracing")

PENDING_MAX = 10_000  # orders awaiting their end at most (a venue that never answers must not grow this)
LOW64 = (1 << 64) - 1
Attr = str | int | float | bool
Row = dict[str, int | float]


def rows(records_: np.ndarray) -> list[Row]:
    """A batch of records as plain dicts: one conversion per batch (a numpy record's field costs ~0.5 us a read)."""
    names = records_.dtype.names
    assert names is not None
    return [dict(zip(names, values, strict=True)) for values in records_.tolist()]


@dataclass(slots=True)
class SpanRecord:
    """One finished span, in plain values (the sink turns it into the exporter's type on its own thread)."""

    trace_id: int  # 128-bit
    span_id: int  # 64-bit, nonzero
    parent_id: int  # 0 for the root
    name: str
    start_ns: int  # epoch ns
    end_ns: int  # epoch ns
    attributes: dict[str, Attr]
    error: str = ""  # non-empty: the span failed, with this description


class SpanSink(Protocol):
    """Where kept traces go (``bot4.runtime.otlp.OtlpSink``); its counts are exported as metrics."""

    exported: int  # spans the collector took
    dropped_queue_full: int  # spans refused by a full queue
    dropped_export_failed: int  # spans of batches the collector did not take

    @property
    def queued(self) -> int: ...

    def offer(self, spans: list[SpanRecord]) -> bool:
        """Queue one trace's spans for export, whole or not at all, without blocking; False when dropped."""
        ...


@dataclass(slots=True)
class _Step:
    name: str
    start: int  # monotonic ns
    end: int
    attributes: dict[str, Attr]
    error: str = ""


@dataclass(slots=True)
class OrderTrace:
    """What is known about one order until it ends (monotonic ns throughout)."""

    coid: int
    trace_id: int
    root_attrs: dict[str, Attr]
    ts_in: int
    ts_risk: int
    ts_created: int
    manual: bool
    sent: int = 0
    last_answer: int = 0
    kill: bool = False
    refused: str = ""  # the reason, when refused (by risk, the venue or the gate)
    outcome: str = "open"
    filled: float = 0.0
    notional: float = 0.0
    steps: list[_Step] = field(default_factory=list)


def _flag_names(flags: int) -> str:
    names = [
        (records.FLAG_REDUCE_ONLY, "reduce_only"),
        (records.FLAG_MANUAL, "manual"),
        (records.FLAG_STOP_EXIT, "stop_exit"),
        (records.FLAG_KILL, "kill"),
    ]
    return ",".join(n for bit, n in names if flags & bit)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


class OrderTracer:
    """Builds each order's trace from the journaled records and hands the kept ones to ``sink`` (asyncio thread)."""

    def __init__(self, config: TracingConfig, symbols: tuple[str, ...], sink: SpanSink) -> None:
        self.config = config
        self.symbols = symbols
        self.sink = sink
        self._salt = secrets.token_bytes(16)
        self._offset = time.time_ns() - time.monotonic_ns()  # the core stamps CLOCK_MONOTONIC; spans carry epoch ns
        self._ratio_bound = round(config.sample_ratio * (1 << 64))
        self._slow_ns = int(config.slow_order_us * 1000)
        self._rng = random.Random(secrets.randbits(64))
        self._refusals = 0
        self.pending: dict[int, OrderTrace] = {}
        self.traces: Counter[str] = Counter()  # traces by why they were kept ("unsampled": not kept)
        self.evicted = 0  # orders that never ended within PENDING_MAX newer ones (exported as open, if kept)

    # --- ids ------------------------------------------------------------------------------------------------------
    def trace_id(self, coid: int) -> int:
        """The trace id of order ``coid`` (stable for this process)."""
        digest = hashlib.blake2b(coid.to_bytes(9, "little", signed=True), digest_size=16, key=self._salt).digest()
        return int.from_bytes(digest, "big") or 1

    def trace_id_hex(self, coid: int) -> str:
        return f"{self.trace_id(coid):032x}"

    def _span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def sampled(self, trace_id: int) -> bool:
        return (trace_id & LOW64) < self._ratio_bound

    # --- what execution hands over ------------------------------------------------------------------------------------
    def orders_journaled(self, orders: np.ndarray, commit: tuple[int, int], sent_ns: int = 0) -> None:
        """Orders the core made, just committed to the journal (``commit``: its start and end); ``sent_ns`` when they
        were handed to the venue (0: the venue took them inside the core's step, on recorded data)."""
        for o in rows(orders):
            coid = int(o["client_order_id"])
            if int(o["action"]) == records.ACTION_CANCEL:
                t = self.pending.get(coid)
                if t is not None:
                    made = int(o["ts_created_ns"])
                    t.steps.append(_Step("cancel sent", made, max(made, sent_ns), {"bot4.cancel.kill": t.kill}))
                    t.steps.append(self._commit("orders", commit, len(orders)))
                continue
            t = self._open(o)
            if sent_ns:
                t.sent = sent_ns
            t.steps.append(self._commit("orders", commit, len(orders)))
            if t.ts_in > 0 and t.ts_created - t.ts_in > self._slow_ns:
                event(
                    log,
                    "order_slow",
                    logging.WARNING,
                    coid=coid,
                    symbol=t.root_attrs["bot4.symbol"],
                    tick_to_order_us=round((t.ts_created - t.ts_in) / 1000, 3),
                )

    def reports_journaled(self, reports: np.ndarray, commit: tuple[int, int]) -> None:
        """Execution reports just committed to the journal (before the core sees them)."""
        committed: set[int] = set()
        ended: list[OrderTrace] = []
        for r in rows(reports):
            coid = int(r["client_order_id"])
            t = self.pending.get(coid)
            if t is None:
                continue  # an order from before this process (restored) or one already evicted
            at = int(r["ts_in_ns"])
            kind = int(r["kind"])
            never_sent = kind == records.EXEC_REJECTED and int(r["reason"]) == records.VENUE_GATE_CLOSED
            if not t.sent and not never_sent:
                t.sent = at  # recorded data: the paper venue answered in the step that took the order
            start = t.last_answer or t.sent or t.ts_created
            attrs: dict[str, Attr] = {"bot4.venue.time_ns": int(r["ts_exch_ns"])}
            error = ""
            if kind == records.EXEC_ACK:
                name = "venue ack"
            elif kind == records.EXEC_FILL:
                name = "fill"
                size, price = float(r["size"]), float(r["price"])
                t.filled += size
                t.notional += size * price
                attrs |= {
                    "bot4.fill.price": price,
                    "bot4.fill.size": size,
                    "bot4.fill.fee": float(r["fee"]),
                    "bot4.fill.leaves": float(r["leaves"]),
                    "bot4.fill.liquidity": "maker" if int(r["liquidity"]) == records.LIQUIDITY_MAKER else "taker",
                }
                if float(r["leaves"]) <= 1e-12:
                    t.outcome = "filled"
            else:
                reason = int(r["reason"])
                why = records.VENUE_REASON_NAMES[reason] if 0 <= reason < len(records.VENUE_REASON_NAMES) else "?"
                name = {records.EXEC_CANCELED: "venue canceled", records.EXEC_REJECTED: "venue rejected"}.get(
                    kind, "venue expired"
                )
                t.outcome = {records.EXEC_CANCELED: "canceled", records.EXEC_REJECTED: "rejected"}.get(kind, "expired")
                if kind == records.EXEC_REJECTED:
                    attrs["bot4.venue.reason"] = why
                    error = t.refused = why
                elif kind == records.EXEC_EXPIRED:
                    attrs["bot4.venue.reason"] = why
            t.steps.append(_Step(name, start, max(start, at), attrs, error))
            t.last_answer = max(start, at)
            if coid not in committed:
                committed.add(coid)
                t.steps.append(self._commit("reports", commit, len(reports)))
            if t.outcome != "open":
                ended.append(t)
        for t in ended:
            if self.pending.pop(t.coid, None) is not None:
                self._finish(t)

    def refusals(self, refused: np.ndarray) -> list[str]:
        """Refused orders from the core's rejects ring; their trace ids (hex). A risk refusal is traced here at once;
        a venue's refusal (it has a client order id) is traced with its order's reports."""
        return [self._refusal(o) for o in rows(refused)]

    def _refusal(self, o: Row) -> str:
        reason = int(o["reject_reason"])
        coid = int(o["client_order_id"])
        if reason == records.REASON_VENUE and coid:
            return self.trace_id_hex(coid)
        self._refusals += 1
        t = self._open(o, key=-self._refusals)
        name = records.REASON_NAMES[reason] if 0 <= reason < len(records.REASON_NAMES) else "?"
        t.refused = name
        t.outcome = "refused"
        self._finish(t)
        return f"{t.trace_id:032x}"

    def note_kill(self) -> None:
        """The kill switch tripped: every order still open belongs to the kill (always traced)."""
        for t in self.pending.values():
            t.kill = True

    def close(self) -> None:
        """The engine stopped: what never ended is traced as it stands (outcome ``open``), if kept."""
        pending, self.pending = self.pending, {}
        for t in pending.values():
            self._finish(t)

    # --- building -----------------------------------------------------------------------------------------------------
    def _open(self, o: Row, key: int | None = None) -> OrderTrace:
        coid = int(o["client_order_id"])
        s = int(o["symbol_id"])
        flags = int(o["flags"])
        mkt = int(o["ts_mkt_ns"])
        attrs: dict[str, Attr] = {
            "bot4.symbol": self.symbols[s] if 0 <= s < len(self.symbols) else "?",
            "bot4.order.side": records.SIDE_NAMES.get(int(o["side"]), "?"),
            "bot4.order.type": records.ORDER_TYPE_NAMES.get(int(o["order_type"]), "?"),
            "bot4.order.size": float(o["size"]),
            "bot4.order.flags": _flag_names(flags),
        }
        for key_name, value in (
            ("bot4.order.price", _num(float(o["price"]))),
            ("bot4.order.stop_px", _num(float(o["stop_px"]))),
        ):
            if value is not None:
                attrs[key_name] = value
        if coid:  # a risk refusal never got a client order id
            attrs["bot4.order.coid"] = coid
        if mkt > 0:
            attrs["bot4.market.time_ns"] = mkt
        t = OrderTrace(
            coid=coid,
            trace_id=self.trace_id(coid if key is None else key),
            root_attrs=attrs,
            ts_in=int(o["ts_in_ns"]),
            ts_risk=int(o["ts_risk_ns"]),
            ts_created=int(o["ts_created_ns"]),
            manual=bool(flags & records.FLAG_MANUAL),
            kill=bool(flags & records.FLAG_KILL),
        )
        if key is None:
            self.pending[coid] = t
            while len(self.pending) > PENDING_MAX:
                self.evicted += 1
                self._finish(self.pending.pop(next(iter(self.pending))))
        return t

    def _commit(self, table: str, commit: tuple[int, int], rows: int) -> _Step:
        return _Step("journal commit", commit[0], commit[1], {"bot4.journal.table": table, "bot4.journal.rows": rows})

    def _why(self, t: OrderTrace) -> str:
        if t.refused:
            return "refused"
        if t.kill:
            return "kill"
        if t.ts_in > 0 and t.ts_created - t.ts_in > self._slow_ns:
            return "slow"
        return "sampled" if self.sampled(t.trace_id) else ""

    def _finish(self, t: OrderTrace) -> None:
        why = self._why(t)
        self.traces[why or "unsampled"] += 1
        if why:
            self.sink.offer(self.spans(t, why))

    def spans(self, t: OrderTrace, why: str) -> list[SpanRecord]:
        """The spans of order trace ``t`` (epoch ns), root first."""
        begin = t.ts_in if t.ts_in > 0 else (t.ts_risk or t.ts_created)
        steps = [_Step("command received" if t.manual else "tick received", begin, begin, {})]
        risk_refused = t.outcome == "refused"
        if t.ts_risk > 0:
            steps.append(_Step("decision", begin, max(begin, t.ts_risk), {}))
            steps.append(
                _Step(
                    "risk check",
                    t.ts_risk,
                    max(t.ts_risk, t.ts_created),
                    {"bot4.risk.result": t.refused if risk_refused else "pass"},
                    t.refused if risk_refused else "",
                )
            )
        else:  # refused before any check (sizing rounded it to nothing)
            steps.append(
                _Step("decision", begin, max(begin, t.ts_created), {"bot4.decision.result": t.refused}, t.refused)
            )
        if t.sent:
            steps.append(_Step("order sent", t.ts_created, max(t.ts_created, t.sent), {}))
        steps += t.steps
        end = max(s.end for s in steps)
        attrs = dict(t.root_attrs)
        attrs |= {"bot4.order.outcome": t.outcome, "bot4.trace.why": why, "bot4.order.filled": t.filled}
        if t.filled > 0:
            attrs["bot4.order.avg_px"] = t.notional / t.filled
        if t.ts_in > 0:
            attrs["bot4.tick_to_order_us"] = (t.ts_created - t.ts_in) / 1000
        if t.refused:
            attrs["bot4.refused.reason"] = t.refused
        off = self._offset
        root = SpanRecord(t.trace_id, self._span_id(), 0, "order", begin + off, end + off, attrs, t.refused)
        out = [root]
        for s in steps:
            out.append(
                SpanRecord(
                    t.trace_id, self._span_id(), root.span_id, s.name, s.start + off, s.end + off, s.attributes, s.error
                )
            )
        return out


class TraceIdFilter(logging.Filter):
    """Adds ``trace_id`` to every log line about an order (a ``coid`` field), so Loki lines lead to Jaeger."""

    def __init__(self, tracer: OrderTracer) -> None:
        super().__init__()
        self.tracer = tracer

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields and "coid" in fields and "trace_id" not in fields:
            with contextlib.suppress(TypeError, ValueError):
                trace_id = self.tracer.trace_id_hex(int(fields["coid"]))
                record.fields = {**fields, "trace_id": trace_id}  # type: ignore[attr-defined]
        return True


def now_ns() -> int:
    """The clock the core stamps with (``CLOCK_MONOTONIC``), for the execution side's own stamps."""
    return time.monotonic_ns()
