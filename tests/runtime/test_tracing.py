"""The order tracer on its own: the ``[tracing]`` config, which traces are kept (kills, refusals, slow orders, the
ratio sampler), the spans of a killed order, and the trace id a log line about an order carries."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot4.core import records
from bot4.core.config import ConfigError
from bot4.runtime.config import TracingConfig, load_config
from bot4.runtime.tracing import OrderTracer, TraceIdFilter

pytest.importorskip("opentelemetry.sdk.trace.sampling", reason="the tracing extra is not installed")


def test_tracing_config_is_checked_and_off_by_default(tmp_path: Path) -> None:
    assert load_config(None, env={}).tracing.enabled is False
    on = load_config(None, env={"BOT4_TRACING__ENABLED": "true", "BOT4_TRACING__SAMPLE_RATIO": "0.01"})
    assert on.tracing.enabled and on.tracing.sample_ratio == 0.01
    with pytest.raises(ConfigError, match=r"^config key tracing.sample_ratio = 1.5: must be between 0 and 1"):
        load_config(None, env={"BOT4_TRACING__SAMPLE_RATIO": "1.5"})
    bad = tmp_path / "bot4.toml"
    bad.write_text('[tracing]\nendpoint = "bot4-jaeger:4318"\n')
    with pytest.raises(ConfigError, match="tracing.endpoint = 'bot4-jaeger:4318': must be an http"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="tracing.sampling: unknown key"):
        load_config(None, env={"BOT4_TRACING__SAMPLING": "1"})


class ListSink:
    """A sink that keeps every trace offered (the counts the metrics read stay zero)."""

    exported = dropped_queue_full = dropped_export_failed = queued = 0

    def __init__(self) -> None:
        self.traces: list[list[Any]] = []

    def offer(self, spans: list[Any]) -> bool:
        self.traces.append(spans)
        return True


def order_rec(coid: int, t2o: int = 900, flags: int = 0, action: int = records.ACTION_SUBMIT) -> Any:
    ts_in = 1_000
    o = np.zeros(1, records.ORDER_DTYPE)
    o["client_order_id"], o["action"], o["flags"], o["side"], o["size"] = coid, action, flags, records.SIDE_BUY, 0.5
    o["order_type"], o["price"], o["stop_px"] = records.ORDER_MARKET, np.nan, 90.0
    o["ts_in_ns"], o["ts_risk_ns"], o["ts_created_ns"] = ts_in, ts_in + t2o // 2, ts_in + t2o
    return o


def report_rec(coid: int, kind: int, ts_in: int, size: float = 0.0, leaves: float = 0.0, reason: int = 0) -> Any:
    r = np.zeros(1, records.FILL_DTYPE)
    r["client_order_id"], r["kind"], r["ts_in_ns"], r["size"], r["leaves"] = coid, kind, ts_in, size, leaves
    r["price"] = 100.0 if kind == records.EXEC_FILL else np.nan
    r["reason"] = reason
    return r


def tracer(ratio: float, slow_us: float = 100.0) -> tuple[OrderTracer, ListSink]:
    sink = ListSink()
    return OrderTracer(
        TracingConfig(enabled=True, sample_ratio=ratio, slow_order_us=slow_us), ("BTC/USDT",), sink
    ), sink


def test_at_ratio_zero_only_kills_refusals_and_slow_orders_are_kept() -> None:
    t, sink = tracer(0.0)
    t.orders_journaled(order_rec(1), (5_000, 6_000), 7_000)
    t.reports_journaled(report_rec(1, records.EXEC_FILL, 9_000, 0.5, 0.0), (10_000, 11_000))
    assert sink.traces == [] and t.traces["unsampled"] == 1  # an ordinary order that filled
    t.orders_journaled(order_rec(2), (5_000, 6_000), 7_000)
    t.note_kill()
    t.orders_journaled(order_rec(2, action=records.ACTION_CANCEL), (12_000, 13_000), 14_000)
    t.reports_journaled(report_rec(2, records.EXEC_CANCELED, 15_000), (16_000, 17_000))
    t.orders_journaled(order_rec(3, flags=records.FLAG_KILL), (5_000, 6_000))  # the kill's flatten
    t.reports_journaled(report_rec(3, records.EXEC_REJECTED, 8_000, reason=records.VENUE_GATE_CLOSED), (9_000, 9_500))
    t.orders_journaled(order_rec(4, t2o=500_000), (5_000, 6_000), 7_000)  # 500 us from tick to order
    t.close()  # never answered: traced as it stands
    whys = {s[0].attributes["bot4.order.coid"]: s[0].attributes["bot4.trace.why"] for s in sink.traces}
    assert whys == {2: "kill", 3: "refused", 4: "slow"}
    killed = next(s for s in sink.traces if s[0].attributes["bot4.order.coid"] == 2)
    assert [s.name for s in killed] == [
        "order",
        "tick received",
        "decision",
        "risk check",
        "order sent",
        "journal commit",
        "cancel sent",
        "journal commit",
        "venue canceled",
        "journal commit",
    ]
    assert killed[0].attributes["bot4.order.outcome"] == "canceled" and killed[0].error == ""
    assert {s.parent_id for s in killed[1:]} == {killed[0].span_id}
    refused = next(s for s in sink.traces if s[0].attributes["bot4.order.coid"] == 3)
    assert "order sent" not in [s.name for s in refused], "the closed gate refused it: never sent"
    assert refused[0].error == "execution_gate_closed"
    assert next(s for s in refused if s.name == "venue rejected").error == refused[0].error
    slow = next(s for s in sink.traces if s[0].attributes["bot4.order.coid"] == 4)
    assert slow[0].attributes["bot4.order.outcome"] == "open" and slow[0].attributes["bot4.tick_to_order_us"] == 500.0


def test_the_ratio_sampler_decides_as_opentelemetrys_trace_id_ratio_sampler() -> None:
    from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

    t, sink = tracer(0.25)
    reference = TraceIdRatioBased(0.25)
    expected = set()
    for coid in range(1, 2001):
        t.orders_journaled(order_rec(coid), (5_000, 6_000), 7_000)
        t.reports_journaled(report_rec(coid, records.EXEC_FILL, 9_000, 0.5, 0.0), (10_000, 11_000))
        kept = reference.should_sample(None, t.trace_id(coid), "order").decision == Decision.RECORD_AND_SAMPLE
        if kept:
            expected.add(coid)
    assert {s[0].attributes["bot4.order.coid"] for s in sink.traces} == expected
    assert 300 < len(expected) < 700  # a quarter of 2,000, give or take (9 standard deviations)


def test_a_log_line_about_an_order_carries_its_trace_id() -> None:
    t, sink = tracer(0.0, slow_us=1.0)
    handler = logging.Handler()
    seen: list[logging.LogRecord] = []
    handler.emit = seen.append  # type: ignore[method-assign]
    handler.addFilter(TraceIdFilter(t))
    logger = logging.getLogger("bot4.tracing")
    logger.addHandler(handler)
    try:
        t.orders_journaled(order_rec(7), (5_000, 6_000), 7_000)  # 0.9 us from tick to order: not slow at 1 us
        t.orders_journaled(order_rec(8, t2o=10_000), (5_000, 6_000), 7_000)  # 10 us: slow
        t.reports_journaled(report_rec(8, records.EXEC_FILL, 9_000, 0.5, 0.0), (10_000, 11_000))
    finally:
        logger.removeHandler(handler)
    lines = [r for r in seen if getattr(r, "event", "") == "order_slow"]
    assert [r.fields["coid"] for r in lines] == [8]  # type: ignore[attr-defined]
    assert lines[0].fields["trace_id"] == f"{sink.traces[0][0].trace_id:032x}"  # type: ignore[attr-defined]
