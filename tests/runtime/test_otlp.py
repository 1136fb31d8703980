"""Order traces end to end: a headless paper run exports its orders' traces to a real OTLP/HTTP receiver.

The receiver is an HTTP server started here that decodes each request with the OpenTelemetry proto package
(``ExportTraceServiceRequest``), as a collector would. What it received is checked against the run's journal (every
order and fill, their prices and sizes, their commit times) and its log (refusals and their trace ids); a collector
that accepts connections and never answers leaves the run's figures exactly as a run without tracing. Also: where
the endpoint comes from, and the one line said when the tracing extra is missing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot4.compose import serve
from bot4.core import records
from bot4.localexchange.server import LocalExchange
from bot4.runtime.config import TracingConfig
from bot4.runtime.engine import Engine
from bot4.runtime.otlp import TracingUnavailable, traces_endpoint
from tests.runtime.test_live_engine import KEY, SECRET, live_app_config
from tests.runtime.test_live_engine import exchange as live_exchange  # noqa: F401 (the local exchange, a fixture)

trace_service_pb2 = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="the tracing extra is not installed"
)

ROOT = Path(__file__).resolve().parents[2]
ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: int
    end: int
    attrs: dict[str, Any]
    error: str | None  # the status message when the status is ERROR


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint: every span it was sent, decoded, and the service names they came with."""

    port: int
    spans: list[Span] = field(default_factory=list)
    services: set[str] = field(default_factory=set)
    requests: int = 0

    def traces(self) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = defaultdict(list)
        for s in self.spans:
            out[s.trace_id].append(s)
        return out


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _decode(body: bytes, into: Receiver) -> None:
    req = trace_service_pb2.ExportTraceServiceRequest()
    req.ParseFromString(body)
    for rs in req.resource_spans:
        for a in rs.resource.attributes:
            if a.key == "service.name":
                into.services.add(_value(a.value))
        for ss in rs.scope_spans:
            for s in ss.spans:
                into.spans.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        start=s.start_time_unix_nano,
                        end=s.end_time_unix_nano,
                        attrs={a.key: _value(a.value) for a in s.attributes},
                        error=s.status.message if s.status.code == ERROR else None,
                    )
                )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver(0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with lock:
                got.requests += 1
                _decode(body, got) if self.path == "/v1/traces" else None
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()


def replay(state_dir: Path, **env_extra: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``bot4-tui --headless --speed 0 --until-end`` on the shipped sample: its run summary and its log lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT4_", "OTEL_"))}
    env.update(PYTHONPATH=str(ROOT), **env_extra)
    cmd = [
        sys.executable,
        "-m",
        "bot4.cli",
        "--headless",
        "--state-dir",
        str(state_dir),
        "--speed",
        "0",
        "--until-end",
        "--metrics-addr",
        "",
        "--api-addr",
        "",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    summary = next(e for e in lines if e["event"] == "run_summary")
    return summary, lines


def figures(summary: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("ticks", "orders", "fills", "refused", "round_trips", "realized", "fees", "equity")
    return tuple(summary[k] for k in keys)


def journal(state_dir: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    db = sqlite3.connect(state_dir / "journal.sqlite")
    try:
        orders = db.execute(
            "SELECT coid, ts_ns, symbol, side, size, flags FROM orders WHERE action=? AND gated=0 ORDER BY id",
            (records.ACTION_SUBMIT,),
        ).fetchall()
        reports = db.execute("SELECT coid, ts_ns, kind, price, size, fee, leaves FROM reports ORDER BY id").fetchall()
    finally:
        db.close()
    return orders, reports


def test_a_paper_run_sends_each_orders_trace_and_the_journal_agrees(tmp_path: Path, receiver: Receiver) -> None:
    state = tmp_path / "traced"
    summary, lines = replay(
        state,
        BOT4_TRACING__ENABLED="true",
        BOT4_TRACING__SAMPLE_RATIO="1.0",
        BOT4_TRACING__SERVICE_NAME="bot4-under-test",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
    )
    off = [e for e in lines if e["event"] == "tracing_off"][0]
    assert off["dropped_queue_full"] == 0 and off["dropped_export_failed"] == 0
    assert off["exported"] == len(receiver.spans) > 0
    assert receiver.services == {"bot4-under-test"}
    traces = receiver.traces()
    roots: dict[int, Span] = {}
    for tid, spans in traces.items():
        top = [s for s in spans if not s.parent_id]
        assert len(top) == 1, f"trace {tid}: {len(top)} roots"
        root = top[0]
        assert root.name == "order"
        for s in spans:
            if s is not root:
                assert s.parent_id == root.span_id, f"{s.name} is not a child of the order span"
                assert root.start <= s.start <= s.end <= root.end, s.name
        if root.attrs["bot4.order.outcome"] != "refused":
            roots[root.attrs["bot4.order.coid"]] = root

    orders, reports = journal(state)
    assert summary["orders"] == len(orders) > 0
    by_coid: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in reports:
        by_coid[r[0]].append(r)
    assert set(roots) == {o[0] for o in orders}, "one trace per journaled order, at sample_ratio 1.0"
    fills_seen = 0
    for coid, ts_ns, symbol, side, size, _flags in orders:
        root = roots[coid]
        spans = traces[root.trace_id]
        assert root.attrs["bot4.symbol"] == symbol and root.attrs["bot4.order.size"] == size
        assert root.attrs["bot4.order.side"] == records.SIDE_NAMES[side]
        names = [s.name for s in sorted(spans, key=lambda s: (s.start, s.end))]
        for name in ("tick received", "decision", "risk check", "order sent", "venue ack", "journal commit"):
            assert name in names, (coid, names)
        one = {s.name: s for s in spans}
        tick, decision, risk, sent = one["tick received"], one["decision"], one["risk check"], one["order sent"]
        # the core's stamps in their order: tick in, decision, checks, order made, handed to the venue
        assert tick.start == tick.end == decision.start == root.start
        assert decision.end == risk.start <= risk.end == sent.start <= sent.end
        assert risk.attrs["bot4.risk.result"] == "pass" and risk.error is None
        # the journal's commit time of this order lies inside a commit span of the orders table
        commits = [s for s in spans if s.name == "journal commit" and s.attrs["bot4.journal.table"] == "orders"]
        assert any(c.start - 5_000_000 <= ts_ns <= c.end + 5_000_000 for c in commits), coid
        fills = sorted((s for s in spans if s.name == "fill"), key=lambda s: s.end)
        jfills = [r for r in by_coid[coid] if r[2] == records.EXEC_FILL]
        assert [(f.attrs["bot4.fill.price"], f.attrs["bot4.fill.size"], f.attrs["bot4.fill.fee"]) for f in fills] == [
            (r[3], r[4], r[5]) for r in jfills
        ]
        fills_seen += len(fills)
        if fills:
            assert one["venue ack"].end <= fills[0].start
            assert root.attrs["bot4.order.filled"] == pytest.approx(sum(r[4] for r in jfills))
        report_commits = [s for s in spans if s.name == "journal commit" and s.attrs["bot4.journal.table"] == "reports"]
        assert report_commits and all(c.start >= one["venue ack"].end for c in report_commits)
        ended = [r for r in by_coid[coid] if r[2] != records.EXEC_ACK and (r[2] != records.EXEC_FILL or r[6] <= 1e-12)]
        outcome = {
            records.EXEC_FILL: "filled",
            records.EXEC_CANCELED: "canceled",
            records.EXEC_EXPIRED: "expired",
            records.EXEC_REJECTED: "rejected",
        }
        assert root.attrs["bot4.order.outcome"] == (outcome[ended[0][2]] if ended else "open")
    assert fills_seen == summary["fills"] > 0
    refused = [r for r in (next(s for s in v if not s.parent_id) for v in traces.values()) if r.error]
    assert len(refused) == summary["refused"] > 0, "every refusal is traced"
    assert {r.attrs["bot4.trace.why"] for r in refused} == {"refused"}


def test_a_refused_orders_trace_carries_its_reason_and_its_log_line_the_trace_id(
    tmp_path: Path, receiver: Receiver
) -> None:
    # the sample's EMA cross loses three round trips in a row: the loss-streak cool-down refuses every entry after
    summary, lines = replay(
        tmp_path / "refusing",
        BOT4_TRACING__ENABLED="true",
        BOT4_TRACING__SAMPLE_RATIO="0.0",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
    )
    assert summary["orders"] > 0 and summary["refused"] > 0
    roots = {tid: next(s for s in spans if not s.parent_id) for tid, spans in receiver.traces().items()}
    refused = {tid for tid, root in roots.items() if root.attrs["bot4.trace.why"] == "refused"}
    assert len(refused) == summary["refused"], "every refusal is traced whatever the ratio"
    assert {r.attrs["bot4.trace.why"] for r in roots.values()} <= {"refused", "slow"}, "ratio 0: nothing sampled"
    for tid in refused:
        spans = receiver.traces()[tid]
        root = roots[tid]
        risk = next(s for s in spans if s.name == "risk check")
        assert root.error == root.attrs["bot4.refused.reason"] == "loss_streak_cooldown"
        assert risk.error == risk.attrs["bot4.risk.result"] == "loss_streak_cooldown"
        assert root.attrs["bot4.order.outcome"] == "refused" and "bot4.order.coid" not in root.attrs  # none given
        assert {s.name for s in spans} == {"order", "tick received", "decision", "risk check"}
    logged = [e for e in lines if e["event"] == "order_rejected"]
    assert logged and sum(e["count"] for e in logged) == summary["refused"]
    assert {e["trace_id"] for e in logged} <= refused


def test_a_collector_that_never_answers_changes_nothing_in_the_run(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections queue in the backlog; nobody ever accepts or answers them
    try:
        traced, lines = replay(
            tmp_path / "silent",
            BOT4_TRACING__ENABLED="true",
            BOT4_TRACING__SAMPLE_RATIO="1.0",
            BOT4_TRACING__QUEUE_SPANS="256",
            BOT4_TRACING__EXPORT_TIMEOUT_S="0.5",
            BOT4_TRACING__ENDPOINT=f"http://127.0.0.1:{silent.getsockname()[1]}",
        )
    finally:
        silent.close()
    plain, _ = replay(tmp_path / "plain")
    assert figures(traced) == figures(plain) and traced["orders"] > 0
    off = [e for e in lines if e["event"] == "tracing_off"][0]
    assert off["exported"] == 0 and off["dropped_queue_full"] > 0 and off["dropped_export_failed"] > 0
    assert any(e["event"] == "trace_export_failed" for e in lines)


def test_the_endpoint_comes_from_config_then_the_otel_environment() -> None:
    assert traces_endpoint("http://bot4-jaeger:4318", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}) == (
        "http://bot4-jaeger:4318/v1/traces"
    )
    assert traces_endpoint("", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}) == (
        "http://collector:4318/v1/traces"
    )
    assert traces_endpoint("", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/traces"}) == "http://c:9/traces"
    assert traces_endpoint("", {}) == "http://localhost:4318/v1/traces"


def test_enabled_without_the_extra_is_one_clear_line_from_the_command(tmp_path: Path) -> None:
    blocked = (
        "import sys; sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None; "
        "from bot4.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT4_", "OTEL_"))}
    env.update(PYTHONPATH=str(ROOT), BOT4_TRACING__ENABLED="true")
    cmd = [
        sys.executable,
        "-c",
        blocked,
        "--headless",
        "--state-dir",
        str(tmp_path),
        "--until-end",
        "--speed",
        "0",
        "--metrics-addr",
        "",
        "--api-addr",
        "",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 1
    said = [line for line in done.stderr.splitlines() if line.startswith("bot4: ")]
    assert said == [
        "bot4: tracing.enabled = true needs the OpenTelemetry packages (opentelemetry.exporter.otlp.proto.http"
        ".trace_exporter is missing): pip install 'bot4[tracing]', or set tracing.enabled = false"
    ]


def test_enabled_without_the_extra_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot4.runtime.otlp import OtlpSink

    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(TracingUnavailable, match=r"pip install 'bot4\[tracing\]'"):
        OtlpSink(TracingConfig(enabled=True))


async def test_a_live_orders_trace_goes_through_ccxt_and_its_journal_commit_precedes_the_hand_over(
    live_exchange: LocalExchange,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a live venue the core runs on its thread and execution hands each order to ccxt after its journal commit:
    the trace of a manual order shows that order (command, checks, commit inside ``order sent``, then the fill)."""
    monkeypatch.setenv("BOT4_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BOT4_BINANCE_SECRET", SECRET)
    cfg = live_app_config(live_exchange)
    cfg = replace(
        cfg, tracing=TracingConfig(enabled=True, sample_ratio=1.0, endpoint=f"http://127.0.0.1:{receiver.port}")
    )
    state = tmp_path / "state"
    engine = Engine(cfg, state)
    run = asyncio.create_task(serve(engine, run_for=60))
    for _ in range(600):
        if engine.core.snapshot().positions()[0].last_px > 0:
            break
        await asyncio.sleep(0.05)
    px = engine.core.snapshot().positions()[0].last_px
    assert px > 0
    engine.core.manual_order("BTC/USDT", records.SIDE_BUY, 0.01, stop_px=round(px * 0.99, 2))
    for _ in range(400):
        if engine.core.snapshot().stats.counter("fills") >= 1:
            break
        await asyncio.sleep(0.05)
    engine.request_stop()
    assert await asyncio.wait_for(run, timeout=60) == 0
    orders, reports = journal(state)
    manual = [o for o in orders if o[5] & records.FLAG_MANUAL]
    assert len(manual) == 1
    coid = manual[0][0]
    roots = {s.attrs["bot4.order.coid"]: s for s in receiver.spans if not s.parent_id and "bot4.order.coid" in s.attrs}
    root = roots[coid]
    spans = {s.name: s for s in receiver.traces()[root.trace_id]}
    assert root.attrs["bot4.order.flags"] == "manual" and "tick received" not in spans
    command, sent, fill = spans["command received"], spans["order sent"], spans["fill"]
    assert command.start == root.start and spans["risk check"].end == sent.start
    commit = next(
        s
        for s in receiver.traces()[root.trace_id]
        if s.name == "journal commit" and s.attrs["bot4.journal.table"] == "orders"
    )
    assert sent.start <= commit.start <= commit.end <= sent.end <= fill.end  # committed, then handed to ccxt
    jfill = next(r for r in reports if r[0] == coid and r[2] == records.EXEC_FILL)
    assert (fill.attrs["bot4.fill.price"], fill.attrs["bot4.fill.size"]) == (jfill[3], jfill[4])
