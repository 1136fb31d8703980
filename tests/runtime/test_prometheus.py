"""The exporter against a real Prometheus server, promtool, and a stable metric set."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.compose import serve
from bot4.runtime.config import AppConfig
from bot4.runtime.engine import Engine
from bot4.runtime.metrics import METRIC_FAMILIES
from tests.runtime.conftest import free_port

EXPECTED_FAMILIES = {
    "bot4_latency_seconds", "bot4_risk_rejections_total", "bot4_orders_total", "bot4_venue_orders_total",
    "bot4_ticks_total", "bot4_signals_total", "bot4_signals_deferred_total", "bot4_entry_orders_total",
    "bot4_exit_orders_total",
    "bot4_cancels_total", "bot4_fills_total", "bot4_stop_exits_total", "bot4_bad_ticks_total",
    "bot4_out_of_order_ticks_total", "bot4_unknown_exec_reports_total", "bot4_kills_total",
    "bot4_trading_state_changes_total", "bot4_round_trips_total", "bot4_commands_total", "bot4_trading_state",
    "bot4_outlier_ticks_total", "bot4_unprotected_fills_total",
    "bot4_kill_switch_engaged", "bot4_breaker_state", "bot4_breaker_transitions_total", "bot4_breaker_error_ratio",
    "bot4_pool_in_use", "bot4_pool_capacity", "bot4_pool_pressure_ratio", "bot4_pool_overflows_total",
    "bot4_ring_depth", "bot4_ring_capacity", "bot4_ring_refused_total", "bot4_equity_usd", "bot4_peak_equity_usd",
    "bot4_drawdown_ratio", "bot4_var_usd", "bot4_gross_exposure_usd", "bot4_exposure_usd", "bot4_exposure_limit_usd",
    "bot4_position_base", "bot4_open_orders", "bot4_feed_staleness_seconds", "bot4_core_publish_age_seconds",
    "bot4_traces_total", "bot4_trace_spans_exported_total", "bot4_trace_spans_dropped_total", "bot4_trace_queue_spans",
}


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in sorted((CONFIGS / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [t["expr"] for t in panel["targets"]]
    return exprs


def alert_exprs() -> list[str]:
    """Every alert's expression without its threshold: the series it compares must exist."""
    import yaml

    doc = yaml.safe_load((CONFIGS / "prometheus" / "bot4.rules.yml").read_text())
    out = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            out.append(re.sub(r"\s*(>=|<=|==|>|<)\s*[0-9.e+-]+\s*$", "", rule["expr"].strip()))
    return out


def test_shipped_prometheus_files_pass_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    for args in (
        ["check", "config", str(CONFIGS / "prometheus" / "prometheus.yml")],
        ["check", "rules", str(CONFIGS / "prometheus" / "bot4.rules.yml")],
        ["test", "rules", str(CONFIGS / "prometheus" / "bot4.rules.test.yml")],
    ):
        result = subprocess.run([promtool, *args], capture_output=True, text=True)
        assert result.returncode == 0, " ".join(args) + "\n" + result.stdout + result.stderr


def test_dashboards_use_the_datasource_by_uid_and_no_address() -> None:
    for path in sorted((CONFIGS / "grafana" / "dashboards").glob("*.json")):
        text = path.read_text()
        doc = json.loads(text)
        assert doc["panels"], path
        for panel in doc["panels"]:
            assert panel["datasource"]["uid"] == "bot4-prometheus"
        assert "http://" not in text and not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text)
    assert {p.stem for p in (CONFIGS / "grafana" / "dashboards").glob("*.json")} == {
        "bot4-circuit-breakers", "bot4-risk-engine", "bot4-order-pipeline"
    }


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: .ci/run installs Debian's prometheus package")
    return path


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback only
        return r.read().decode()


def family_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


async def _run(app_config: AppConfig, state_dir: Path, body) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    cfg = replace(app_config, runtime=replace(app_config.runtime, metrics_addr=f"127.0.0.1:{port}", api_addr=""))
    engine = Engine(cfg, state_dir)
    task = asyncio.create_task(serve(engine))
    try:
        for _ in range(100):
            try:
                get(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                await asyncio.sleep(0.05)
        await body(engine, port)
    finally:
        engine.request_stop()
        await task


async def test_metric_set_is_stable_and_promtool_accepts_a_real_scrape(app_config: AppConfig, state_dir: Path) -> None:
    async def body(engine, port):  # type: ignore[no-untyped-def]
        await asyncio.sleep(2.0)
        text = get(f"http://127.0.0.1:{port}/metrics")
        names = family_names(text)
        # prometheus_client reports counters by their family name without _total
        normalized = {n if not (n + "_total") in EXPECTED_FAMILIES else n + "_total" for n in names}
        assert normalized == EXPECTED_FAMILIES
        assert set(METRIC_FAMILIES) == EXPECTED_FAMILIES
        assert 'bot4_latency_seconds_bucket{le="1e-07",stage="decision"}' in text
        result = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    await _run(app_config, state_dir, body)


async def test_a_real_prometheus_scrapes_it_every_second(app_config: AppConfig, state_dir: Path, tmp_path: Path) -> None:
    prom = tool("prometheus")

    async def body(engine, port):  # type: ignore[no-untyped-def]
        prom_port = free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
            f"scrape_configs:\n  - job_name: bot4\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        )
        proc = subprocess.Popen(
            [prom, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            api = f"http://127.0.0.1:{prom_port}/api/v1/query?query="

            def query(expr: str) -> list[dict[str, object]]:
                doc = json.loads(get(api + urllib.parse.quote(expr)))
                assert doc["status"] == "success", doc
                return doc["data"]["result"]

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if query("up") and query("bot4_ticks_total"):
                        break
                except (OSError, AssertionError):
                    pass
                await asyncio.sleep(0.5)
            await asyncio.sleep(5.0)  # a few scrapes for rate()
            assert query("up")[0]["value"][1] == "1"
            exprs = dashboard_exprs() + alert_exprs()
            assert len(exprs) > 30
            empty = [expr for expr in exprs if not query(expr)]
            assert empty == [], f"no series for {empty}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    await _run(app_config, state_dir, body)
