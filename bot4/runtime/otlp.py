"""Spans out over OTLP/HTTP: the OpenTelemetry SDK's span type and its OTLP exporter, on a thread of their own.

:class:`OtlpSink` is what :class:`bot4.runtime.tracing.OrderTracer` hands traces to. ``offer`` never blocks: a
trace goes into a bounded queue whole, or is dropped and counted when the queue is full. The export thread takes
batches, turns them into the SDK's ``ReadableSpan`` and sends them with ``OTLPSpanExporter`` (bounded by
``export_timeout_s``, retries included); a batch the collector did not take is dropped and counted. A collector
that is down or never answers therefore costs the export thread its time and the queue its room, never the engine.
Encoding is Python work (about 1 ms per ten-span trace on the 2-core VM) done under the GIL, which the interpreter
hands back to the engine's threads at its switch interval; at a high ``sample_ratio`` that is the tracer's real cost.

The OpenTelemetry packages are the optional ``tracing`` extra: they are imported only when a sink is made, and
their absence is one clear error. The endpoint is the config's ``tracing.endpoint`` (a base URL; ``/v1/traces`` is
added), else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (a full URL), else ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL),
else ``http://localhost:4318``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from bot4.logs import RepeatedEvent
from bot4.runtime.config import TracingConfig
from bot4.runtime.tracing import SpanRecord

log = logging.getLogger("bot4.tracing")

TRACES_PATH = "/v1/traces"
DEFAULT_ENDPOINT = "http://localhost:4318"
BATCH_SPANS = 512  # spans per export request at most
IDLE_EXPORT_S = 0.5  # a partial batch waits this long for more


class TracingUnavailable(ValueError):
    """Tracing is enabled but the OpenTelemetry packages are not installed."""


def traces_endpoint(configured: str, env: Mapping[str, str]) -> str:
    """The OTLP/HTTP traces URL: the config's base URL, else the OTEL_* environment, else localhost."""
    if configured:
        base = configured.rstrip("/")
        return base if base.endswith(TRACES_PATH) else base + TRACES_PATH
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if full:
        return full
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT
    return base + TRACES_PATH


def _load_sdk() -> dict[str, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.export import SpanExportResult
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
    except ImportError as exc:
        raise TracingUnavailable(
            f"tracing.enabled = true needs the OpenTelemetry packages ({exc.name} is missing): "
            "pip install 'bot4[tracing]', or set tracing.enabled = false"
        ) from None
    return {
        "OTLPSpanExporter": OTLPSpanExporter,
        "Resource": Resource,
        "ReadableSpan": ReadableSpan,
        "SpanExportResult": SpanExportResult,
        "InstrumentationScope": InstrumentationScope,
        "SpanContext": SpanContext,
        "SpanKind": SpanKind,
        "Status": Status,
        "StatusCode": StatusCode,
        "TraceFlags": TraceFlags,
    }


class OtlpSink:
    """A bounded queue of spans and the thread that exports them over OTLP/HTTP."""

    def __init__(self, config: TracingConfig, env: Mapping[str, str] | None = None) -> None:
        self._sdk = sdk = _load_sdk()
        env = os.environ if env is None else env
        self.endpoint = traces_endpoint(config.endpoint, env)
        self.capacity = config.queue_spans
        self.timeout_s = config.export_timeout_s
        # the exporter logs every failed batch itself; ours is one line a minute with counts (JSON, redacted)
        quiet = logging.getLogger("opentelemetry.exporter")
        quiet.propagate = False
        if not quiet.handlers:
            quiet.addHandler(logging.NullHandler())
        self._exporter = sdk["OTLPSpanExporter"](endpoint=self.endpoint, timeout=config.export_timeout_s)
        self._resource = sdk["Resource"].create({"service.name": config.service_name})
        self._scope = sdk["InstrumentationScope"]("bot4.runtime.tracing")
        self._sampled = sdk["TraceFlags"](sdk["TraceFlags"].SAMPLED)
        self._queue: deque[SpanRecord] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self.exported = 0  # spans the collector took
        self.dropped_queue_full = 0  # spans refused because the queue was full
        self.dropped_export_failed = 0  # spans of batches the collector did not take
        self._fail_log = RepeatedEvent(log, "trace_export_failed", period_s=60.0)
        self._thread = threading.Thread(target=self._run, name="bot4-trace-export", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def offer(self, spans: list[SpanRecord]) -> bool:
        with self._cond:
            if self._stopping or len(self._queue) + len(spans) > self.capacity:
                self.dropped_queue_full += len(spans)
                return False
            self._queue.extend(spans)
            if len(self._queue) >= BATCH_SPANS:
                self._cond.notify()
        return True

    def close(self, flush_s: float | None = None) -> None:
        """Export what is queued for at most ``flush_s`` (the export timeout by default), then stop."""
        deadline = time.monotonic() + (self.timeout_s if flush_s is None else flush_s)
        with self._cond:
            self._cond.notify()
            while (self._queue or self._busy) and time.monotonic() < deadline:
                self._cond.wait(timeout=0.05)
            self._stopping = True
            self.dropped_export_failed += len(self._queue)  # not sent in time: lost with the process
            self._queue.clear()
            self._cond.notify()
        self._exporter.shutdown()  # aborts a retry in progress
        self._thread.join(timeout=self.timeout_s + 1.0)
        self._fail_log.flush(None)

    # --- the export thread -------------------------------------------------------------------------------------------
    def _take(self) -> list[SpanRecord] | None:
        with self._cond:
            if not self._queue and not self._stopping:
                self._cond.wait(timeout=IDLE_EXPORT_S)
            if self._stopping:
                return None
            n = min(BATCH_SPANS, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._busy = bool(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch:
                continue
            ok = False
            try:
                ok = self._exporter.export([self._readable(s) for s in batch]) == self._sdk["SpanExportResult"].SUCCESS
            except Exception as exc:  # an exporter must not end the thread: count the batch as lost
                self._fail_log.add(time.monotonic(), ("error",), endpoint=self.endpoint, error=type(exc).__name__)
            with self._cond:
                if ok:
                    self.exported += len(batch)
                else:
                    self.dropped_export_failed += len(batch)
                self._busy = False
                self._cond.notify_all()
            if not ok:
                self._fail_log.add(
                    time.monotonic(), ("failed",), endpoint=self.endpoint, dropped_total=self.dropped_export_failed
                )

    def _readable(self, s: SpanRecord) -> Any:
        sdk = self._sdk
        ctx = sdk["SpanContext"](s.trace_id, s.span_id, is_remote=False, trace_flags=self._sampled)
        parent = None
        if s.parent_id:
            parent = sdk["SpanContext"](s.trace_id, s.parent_id, is_remote=False, trace_flags=self._sampled)
        status = sdk["Status"](sdk["StatusCode"].ERROR, s.error) if s.error else sdk["Status"](sdk["StatusCode"].OK)
        return sdk["ReadableSpan"](
            s.name,
            context=ctx,
            parent=parent,
            resource=self._resource,
            attributes=s.attributes,
            kind=sdk["SpanKind"].INTERNAL,
            status=status,
            start_time=s.start_ns,
            end_time=s.end_ns,
            instrumentation_scope=self._scope,
        )
