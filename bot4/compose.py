"""The composition root: the one place that builds the engine, the control API, the metrics exporter, the order
tracer and the app.

The engine knows nothing of what serves it; the UI renders what a source gives it. :func:`serve` runs an engine with
the services its config asks for (API, exporter) around it; :func:`run_local` puts the workstation on top; the CLI
and the tests call these, so what a test runs is what a user runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import platformdirs

from bot4.logs import event
from bot4.runtime.api import ControlApi, is_loopback, load_token
from bot4.runtime.config import AppConfig, parse_addr
from bot4.runtime.engine import Engine
from bot4.runtime.metrics import Exporter
from bot4.runtime.otlp import OtlpSink
from bot4.runtime.tracing import OrderTracer, TraceIdFilter
from bot4.ui.app import Bot4App, UiLogHandler
from bot4.ui.progress import compile_progress
from bot4.ui.source import LocalSource
from bot4.ui.starting import build_with_progress

log = logging.getLogger("bot4.compose")


def state_dir_of(cfg: AppConfig) -> Path:
    return Path(cfg.runtime.state_dir or platformdirs.user_data_dir("bot4"))


def make_engine(cfg: AppConfig, state_dir: Path | None = None) -> Engine:
    return Engine(cfg, state_dir if state_dir is not None else state_dir_of(cfg))


@contextlib.asynccontextmanager
async def services(engine: Engine) -> AsyncIterator[None]:
    """The control API, the Prometheus exporter and the order tracer the engine's config asks for, for as long as the
    block runs."""
    rt = engine.config.runtime
    api = exporter = sink = None
    trace_filter: TraceIdFilter | None = None
    try:
        if engine.config.tracing.enabled:
            sink = OtlpSink(engine.config.tracing)  # first: a missing extra stops the start before anything listens
            tracer = OrderTracer(engine.config.tracing, engine.symbols, sink)
            engine.attach_tracer(tracer)
            trace_filter = TraceIdFilter(tracer)
            for handler in logging.getLogger("bot4").handlers:
                handler.addFilter(trace_filter)
            event(logging.getLogger("bot4.tracing"), "tracing_on", endpoint=sink.endpoint,
                  sample_ratio=engine.config.tracing.sample_ratio, slow_order_us=engine.config.tracing.slow_order_us)
        if rt.api_addr:
            host, port = parse_addr(rt.api_addr, "runtime.api_addr")
            token, from_env = load_token(engine.state_dir)
            api = ControlApi(engine, host, port, token, from_env, rt.api_open_reads)
            await api.start()
        if rt.metrics_addr:
            mhost, mport = parse_addr(rt.metrics_addr, "runtime.metrics_addr")
            if not is_loopback(mhost):  # the metrics carry positions, equity and order flow: say so when exposed
                event(
                    log, "metrics_exposed", logging.WARNING, host=mhost, port=mport,
                    hint="anyone who reaches this address reads the engine's figures; bind 127.0.0.1 or firewall it",
                )
            exporter = Exporter(engine, mhost, mport)
        yield
    finally:
        if api is not None:
            await api.stop()
        if exporter is not None:
            exporter.close()
        if sink is not None:
            if engine.tracer is not None:
                engine.tracer.close()  # orders still open: traced as they stand
            await asyncio.to_thread(sink.close)  # bounded: a dead collector costs at most its export timeout
            event(logging.getLogger("bot4.tracing"), "tracing_off", exported=sink.exported,
                  dropped_queue_full=sink.dropped_queue_full, dropped_export_failed=sink.dropped_export_failed)
            for handler in logging.getLogger("bot4").handlers:
                if trace_filter is not None:
                    handler.removeFilter(trace_filter)


async def serve(engine: Engine, run_for: float | None = None) -> int:
    """Run ``engine`` with its services until it stops (or ``run_for`` seconds); the exit code."""
    try:
        async with services(engine):
            return await engine.run(run_for)
    except BaseException:
        engine.close()  # an engine that never started (a dead venue, a port taken) leaves nothing open
        raise


def _loop_error(_loop: asyncio.AbstractEventLoop, ctx: dict[str, object]) -> None:
    exc = ctx.get("exception")
    event(log, "loop_error", logging.ERROR, message=str(ctx.get("message", "")), error=repr(exc) if exc else "")


async def run_headless(cfg: AppConfig, run_for: float | None) -> int:
    engine = make_engine(cfg)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_error)  # asyncio's and aiohttp's own errors go through the JSON log too
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.request_stop)
    loop.add_signal_handler(signal.SIGUSR1, lambda: engine.kill("signal"))
    code = await serve(engine, run_for)
    if engine.feed.done.is_set():
        print(summary_line(engine.summary()), flush=True)  # a replay run to its end: what it did, on stdout
    return code


def summary_line(s: dict[str, object]) -> str:
    return (
        f"bot4: replay finished: {s['ticks']:,} ticks, {s['orders']:,} orders, {s['fills']:,} fills, "
        f"{s['refused']:,} refused; {s['round_trips']} round trips ({s['wins']} won, {s['losses']} lost); "
        f"realized {s['realized']:,.2f}, fees {s['fees']:,.2f}, equity {s['equity']:,.2f} "
        f"({s['return_pct']:+.4f} %), {s['trading_state']}"
    )


def make_app(engine: Engine, run_for: float | None = None) -> Bot4App:
    """The workstation on an in-process engine (the snapshot tests build it the same way)."""
    return Bot4App(LocalSource(engine), run_for=run_for)


async def run_local(cfg: AppConfig, state_dir: Path, run_for: float | None, headless: bool = False) -> int:
    """The default: engine and UI in this process; returns the exit code."""
    with compile_progress(line=False) as progress:  # a first start compiles the core here: what, N of M
        built = await build_with_progress(lambda: make_engine(cfg, state_dir), progress, headless=headless)
    if built is None:
        print("bot4: stopped during the first start's compile (nothing traded)")
        return 130
    engine = built
    app = make_app(engine, run_for)
    handler = UiLogHandler(app)
    logging.getLogger("bot4").addHandler(handler)
    logging.getLogger("bot4").setLevel(logging.INFO)
    runner = asyncio.create_task(serve(engine))

    def engine_ended(task: asyncio.Task[int]) -> None:
        # an engine that cannot start (a dead venue) or that failed: never leave a screen that looks live
        if app.is_running and (task.cancelled() or task.exception() is not None or task.result() != 0):
            app.exit(return_code=1)

    runner.add_done_callback(engine_ended)
    try:
        await app.run_async(headless=headless)
    finally:
        engine.request_stop()
        code = await runner  # re-raises what stopped the engine: the CLI says it
        logging.getLogger("bot4").removeHandler(handler)
    return code


async def run_remote(url: str, token: str, run_for: float | None, headless: bool = False) -> int:
    """Attach the workstation to a headless engine's control API."""
    from bot4.ui.remote import RemoteSource

    source = RemoteSource(url, token)
    await source.start()
    app = Bot4App(source, run_for=run_for)  # type: ignore[arg-type]
    try:
        await app.run_async(headless=headless)
    finally:
        await source.close()
    return 0


def run_tui(cfg: AppConfig, state_dir: Path, connect: str | None, token: str, run_for: float | None) -> int:
    if connect:
        if not token:
            raise ValueError("--connect needs the engine's API token: pass --token or set BOT4_API_TOKEN")
        return asyncio.run(run_remote(connect, token, run_for))
    return asyncio.run(run_local(cfg, state_dir, run_for))
