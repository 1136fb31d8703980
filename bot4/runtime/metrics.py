"""Prometheus exporter: a custom collector that reads the engine's published snapshot at scrape time.

Nothing is counted per event in Python: every figure comes from the core's stats block (counters, HDR
histograms), its published state, or the venue's counters, read once per scrape. Names follow Prometheus
conventions (base units, ``_total`` for counters, ``_seconds`` for durations).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot4.core.records import BREAKER_STATE_NAMES, REASON_NAMES, STATE_NAMES
from bot4.logs import event

if TYPE_CHECKING:
    from bot4.runtime.engine import Engine

log = logging.getLogger("bot4.metrics")

# histogram buckets: resolve 100 ns .. 100 us finely, then coarser up to seconds (in seconds)
LATENCY_BUCKETS_NS = (
    50, 100, 150, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000,
    50_000, 75_000, 100_000, 250_000, 500_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
)
STAGES = ("decision", "risk_check", "tick_to_order", "order_to_ack")
COUNTERS = {
    "ticks_in": ("bot4_ticks_total", "Market-data records consumed by the core"),
    "signals": ("bot4_signals_total", "Strategy signals"),
    "signals_deferred": ("bot4_signals_deferred_total", "Signals held until an entry the other way stopped working"),
    "entries": ("bot4_entry_orders_total", "Orders that open or grow a position"),
    "exits": ("bot4_exit_orders_total", "Orders that shrink or close a position"),
    "cancels_out": ("bot4_cancels_total", "Cancel requests sent to execution"),
    "fills": ("bot4_fills_total", "Fills applied"),
    "stop_exits": ("bot4_stop_exits_total", "Exits triggered by a crossed stop or take profit"),
    "bad_ticks": ("bot4_bad_ticks_total", "Ticks refused by the core's sanity checks"),
    "out_of_order_ticks": ("bot4_out_of_order_ticks_total", "Ticks older than their symbol's last one"),
    "unknown_exec": ("bot4_unknown_exec_reports_total", "Execution reports for unknown orders"),
    "kills": ("bot4_kills_total", "Kill switch activations applied by the core"),
    "state_changes": ("bot4_trading_state_changes_total", "Trading-state transitions"),
    "trades_closed": ("bot4_round_trips_total", "Round trips closed"),
    "commands": ("bot4_commands_total", "Commands handled by the core"),
    "outlier_ticks": ("bot4_outlier_ticks_total", "Prints refused as outliers against the last accepted price"),
    "unprotected_fills": ("bot4_unprotected_fills_total", "Fills that left a position without a stop (closed at once)"),
}

METRIC_FAMILIES = (
    "bot4_latency_seconds",
    "bot4_risk_rejections_total",
    "bot4_orders_total",
    "bot4_venue_orders_total",
    *(name for name, _ in COUNTERS.values()),
    "bot4_trading_state",
    "bot4_kill_switch_engaged",
    "bot4_breaker_state",
    "bot4_breaker_transitions_total",
    "bot4_breaker_error_ratio",
    "bot4_pool_in_use",
    "bot4_pool_capacity",
    "bot4_pool_pressure_ratio",
    "bot4_pool_overflows_total",
    "bot4_ring_depth",
    "bot4_ring_capacity",
    "bot4_ring_refused_total",
    "bot4_equity_usd",
    "bot4_peak_equity_usd",
    "bot4_drawdown_ratio",
    "bot4_var_usd",
    "bot4_gross_exposure_usd",
    "bot4_exposure_usd",
    "bot4_exposure_limit_usd",
    "bot4_position_base",
    "bot4_open_orders",
    "bot4_feed_staleness_seconds",
    "bot4_core_publish_age_seconds",
    "bot4_traces_total",
    "bot4_trace_spans_exported_total",
    "bot4_trace_spans_dropped_total",
    "bot4_trace_queue_spans",
)
TRACE_WHY = ("refused", "kill", "slow", "sampled", "unsampled")


class EngineCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        snap = e.core.snapshot()
        stats = snap.stats
        bounds = np.array(LATENCY_BUCKETS_NS, dtype=np.int64)
        lat = HistogramMetricFamily(
            "bot4_latency_seconds", "In-core latency by pipeline stage (HDR histogram)", labels=["stage"]
        )
        for stage in STAGES:
            h = stats.histogram(stage)
            cum = h.cumulative_at(bounds)
            buckets = [(f"{b / 1e9:.9g}", float(c)) for b, c in zip(LATENCY_BUCKETS_NS, cum, strict=True)]
            buckets.append(("+Inf", float(h.count)))
            lat.add_metric([stage], buckets, sum_value=h.total_ns / 1e9)
        yield lat

        rej = CounterMetricFamily("bot4_risk_rejections_total", "Orders refused by pre-trade risk, by reason", labels=["reason"])
        for code, name in enumerate(REASON_NAMES):
            if code:
                rej.add_metric([name], float(stats.counter(f"reject_{name}")))
        yield rej

        venue = e.config.core.venues[0] if e.config.core.venues else "paper"
        orders = CounterMetricFamily("bot4_orders_total", "Orders sent by the core, by venue and status", labels=["venue", "status"])
        vstats = e.venue.stats()
        orders.add_metric([venue, "sent"], float(stats.counter("orders_out")))
        orders.add_metric([venue, "filled"], float(vstats["fills"]))
        orders.add_metric([venue, "rejected"], float(vstats["rejected"]))
        orders.add_metric([venue, "canceled"], float(vstats["canceled"]))
        orders.add_metric([venue, "expired"], float(vstats["expired"]))
        yield orders
        vorders = CounterMetricFamily("bot4_venue_orders_total", "Orders accepted by the venue", labels=["venue"])
        vorders.add_metric([venue], float(vstats["accepted"]))
        yield vorders

        for key, (name, doc) in COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=float(stats.counter(key)))

        state = GaugeMetricFamily("bot4_trading_state", "Trading state: 1 for the current one", labels=["state"])
        for name in STATE_NAMES:
            state.add_metric([name], 1.0 if snap.trading_state == name else 0.0)
        yield state
        yield GaugeMetricFamily("bot4_kill_switch_engaged", "1 while the execution gate is closed", value=0.0 if e.gate_open else 1.0)

        bstate = GaugeMetricFamily("bot4_breaker_state", "Breaker state: 1 for the current one", labels=["breaker", "state"])
        btrans = CounterMetricFamily("bot4_breaker_transitions_total", "Breaker transitions by target state", labels=["breaker", "to"])
        berr = GaugeMetricFamily("bot4_breaker_error_ratio", "Failed fraction of the breaker's window", labels=["breaker"])
        brk = snap.brk
        for b, view in enumerate(snap.breakers()):
            for s_name in BREAKER_STATE_NAMES:
                bstate.add_metric([view.name, s_name], 1.0 if view.state == s_name else 0.0)
            btrans.add_metric([view.name, "CLOSED"], float(brk["to_closed"][b]))
            btrans.add_metric([view.name, "OPEN"], float(brk["to_open"][b]))
            btrans.add_metric([view.name, "HALF_OPEN"], float(brk["to_half_open"][b]))
            berr.add_metric([view.name], view.error_rate)
        yield bstate
        yield btrans
        yield berr

        used, _high, cap, over = snap.pool_usage
        yield _labeled_gauge("bot4_pool_in_use", "Order records in use", "pool", {"orders": used})
        yield _labeled_gauge("bot4_pool_capacity", "Order pool capacity", "pool", {"orders": cap})
        yield _labeled_gauge("bot4_pool_pressure_ratio", "Order pool usage over capacity", "pool", {"orders": used / cap})
        poc = CounterMetricFamily("bot4_pool_overflows_total", "Acquires refused by an exhausted pool", labels=["pool"])
        poc.add_metric(["orders"], float(over))
        yield poc

        rings = snap.rings_view()
        yield _labeled_gauge("bot4_ring_depth", "Records waiting in a ring", "ring", {r.name: r.depth for r in rings})
        yield _labeled_gauge("bot4_ring_capacity", "Ring capacity", "ring", {r.name: r.capacity for r in rings})
        rref = CounterMetricFamily("bot4_ring_refused_total", "Records refused by a full ring (back-pressure)", labels=["ring"])
        for r in rings:
            rref.add_metric([r.name], float(r.refused))
        yield rref

        yield GaugeMetricFamily("bot4_equity_usd", "Account equity", value=_num(snap.equity))
        yield GaugeMetricFamily("bot4_peak_equity_usd", "Peak equity since start or re-arm", value=_num(snap.peak_equity))
        yield GaugeMetricFamily("bot4_drawdown_ratio", "Drawdown from peak, 0..1", value=_num(snap.drawdown))
        yield GaugeMetricFamily("bot4_var_usd", "Historical 99 % VaR of open positions", value=_num(snap.var))
        yield GaugeMetricFamily("bot4_gross_exposure_usd", "Sum of |position| x price", value=_num(snap.gross_exposure))
        positions = snap.positions()
        yield _labeled_gauge("bot4_exposure_usd", "|position| x price per symbol", "symbol", {p.symbol: p.exposure_usd for p in positions})
        yield _labeled_gauge("bot4_exposure_limit_usd", "Exposure limit per symbol", "symbol", {p.symbol: p.max_exposure_usd for p in positions})
        yield _labeled_gauge("bot4_position_base", "Signed position in base units", "symbol", {p.symbol: p.qty for p in positions})
        yield GaugeMetricFamily("bot4_open_orders", "Orders open at the venue", value=float(snap.open_orders))
        stale = _labeled_gauge(
            "bot4_feed_staleness_seconds",
            "Seconds since the feed last delivered data",
            "feed",
            {"replay": max(0.0, time.monotonic() - e.feed.last_tick_s)},
        )
        yield stale
        yield GaugeMetricFamily(
            "bot4_core_publish_age_seconds",
            "Age of the core's published snapshot",
            value=max(0.0, (snap.taken_ns - snap.stats.published_ns) / 1e9),
        )
        yield from _tracing_metrics(e)


def _tracing_metrics(e: Engine) -> Iterator[Metric]:
    """The order tracer's counts (zeros while tracing is off): a dead collector shows here as drops."""
    tracer = e.tracer
    traces = CounterMetricFamily("bot4_traces_total", "Orders whose trace was built, by why it was kept", labels=["why"])
    for why in TRACE_WHY:
        traces.add_metric([why], float(tracer.traces[why]) if tracer is not None else 0.0)
    yield traces
    sink = tracer.sink if tracer is not None else None
    yield CounterMetricFamily(
        "bot4_trace_spans_exported_total", "Spans the OTLP collector took", value=float(sink.exported if sink else 0)
    )
    dropped = CounterMetricFamily(
        "bot4_trace_spans_dropped_total", "Spans dropped: export queue full, or the collector did not take them",
        labels=["reason"],
    )
    dropped.add_metric(["queue_full"], float(sink.dropped_queue_full if sink else 0))
    dropped.add_metric(["export_failed"], float(sink.dropped_export_failed if sink else 0))
    yield dropped
    queued = float(sink.queued if sink else 0)
    yield GaugeMetricFamily("bot4_trace_queue_spans", "Spans waiting for export", value=queued)


def _num(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _labeled_gauge(name: str, doc: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        g.add_metric([key], _num(float(value)))
    return g


class Exporter:
    """The HTTP endpoint Prometheus scrapes; ``close()`` stops it."""

    def __init__(self, engine: Engine, host: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(EngineCollector(engine))
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        event(log, "metrics_listening", host=host, port=port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
