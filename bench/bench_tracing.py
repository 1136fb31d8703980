"""Order tracing's cost to the running engine: tick -> order with tracing off, on at ratio 1.0 and on at 0.01.

The running paper default (as ``bench_runtime.paper_engine``: replay x10 in 100 ms batches, journal, execution loop,
loss-streak cool-down off so the strategy keeps ordering) is run through the composition root (``compose.serve``,
which builds the tracer the config asks for) with tracing off, at ``sample_ratio`` 1.0 and at 0.01, the three
interleaved in each round so that a neighbour's load falls on all of them alike. The collector is an OTLP/HTTP
endpoint in a process of its own that reads and acknowledges every request, as Jaeger would. Figures: tick -> order
p50 / p99 from the core's histogram, and the process CPU time the run took (what tracing costs off the hot path:
building spans on the asyncio thread, encoding and sending them on the export thread).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import Figure
from bot4 import compose
from bot4.runtime.config import load_config
from bot4.runtime.engine import Engine

COLLECTOR = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def engine_run(seconds: float, ratio: float | None, port: int) -> dict[str, float]:
    """One run of the paper default; ``ratio`` None: tracing off."""
    cfg = load_config(None, env={})
    tracing = replace(
        cfg.tracing, enabled=ratio is not None, sample_ratio=ratio or 0.0, endpoint=f"http://127.0.0.1:{port}"
    )
    cfg = replace(
        cfg,
        core=replace(cfg.core, risk=replace(cfg.core.risk, loss_streak_max=10**6)),
        runtime=replace(cfg.runtime, api_addr="", metrics_addr=""),
        tracing=tracing,
    )
    quiet = logging.getLogger("bot4").level
    logging.getLogger("bot4").setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryDirectory() as state_dir:
            engine = Engine(cfg, Path(state_dir))
            cpu0 = time.process_time()
            asyncio.run(compose.serve(engine, seconds))
            cpu = time.process_time() - cpu0
    finally:
        logging.getLogger("bot4").setLevel(quiet)
    t2o = engine.core.snapshot().stats.histogram("tick_to_order")
    sink = engine.tracer.sink if engine.tracer is not None else None
    return {
        "p50": t2o.percentile(50),
        "p99": t2o.percentile(99),
        "orders": float(t2o.count),
        "cpu_s": cpu,
        "spans": float(sink.exported) if sink is not None else 0.0,
        "dropped": float(sink.dropped_queue_full + sink.dropped_export_failed) if sink is not None else 0.0,
    }


def run(quick: bool) -> list[Figure]:
    rounds = 1 if quick else 3
    seconds = 10.0 if quick else 20.0
    collector = subprocess.Popen([sys.executable, "-c", COLLECTOR], stdout=subprocess.PIPE, text=True)
    try:
        assert collector.stdout is not None
        port = int(collector.stdout.readline())
        runs: dict[str, list[dict[str, float]]] = {"off": [], "1.0": [], "0.01": []}
        engine_run(2.0, 1.0, port)  # warm: compiled kernels loaded, OpenTelemetry imported
        for _ in range(rounds):
            runs["off"].append(engine_run(seconds, None, port))
            runs["1.0"].append(engine_run(seconds, 1.0, port))
            runs["0.01"].append(engine_run(seconds, 0.01, port))
    finally:
        collector.terminate()
        collector.wait()

    def med(key: str, what: str) -> float:
        return statistics.median(r[what] for r in runs[key])

    figures = []
    for key, name in (("off", "untraced"), ("1.0", "traced_1"), ("0.01", "traced_001")):
        base = "" if key == "off" else "paper_engine_untraced_tick_to_order"
        spans, dropped = med(key, "spans"), med(key, "dropped")
        note = f"{med(key, 'orders'):.0f} orders, {spans:.0f} spans exported, {dropped:.0f} dropped"
        figures += [
            Figure(
                f"paper_engine_{name}_tick_to_order_p50_ns",
                med(key, "p50"),
                "ns",
                baseline=f"{base}_p50_ns" if base else "",
                note=note,
            ),
            Figure(
                f"paper_engine_{name}_tick_to_order_p99_ns",
                med(key, "p99"),
                "ns",
                baseline=f"{base}_p99_ns" if base else "",
                best=min(r["p99"] for r in runs[key]),
            ),
            Figure(
                f"paper_engine_{name}_cpu_s",
                med(key, "cpu_s"),
                "s",
                baseline="paper_engine_untraced_cpu_s" if base else "",
                note=f"process CPU over {seconds:.0f} s",
            ),
        ]
    return figures


if __name__ == "__main__":
    done = run("--quick" in sys.argv)
    by_name = {f.name: f for f in done}
    for f in done:
        base = by_name.get(f.baseline)
        shown = f"{base.value / f.value:5.2f}x of off" if base is not None and f.value else ""
        print(f"{f.name:48} {f.value:12,.2f} {f.unit:3} {shown:14} {f.note}")
