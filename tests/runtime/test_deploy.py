"""The compose deployment validates, addresses services by name, and insists on an API token."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("docker-compose is not installed: .ci/run installs Debian's docker-compose package")


def run_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose(), "-f", str(CONFIGS / "compose.yaml"), "config"], capture_output=True, text=True, env=env, cwd=CONFIGS
    )


def test_compose_config_validates_with_a_token_and_refuses_without() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT4_")}
    ok = run_config({**env, "BOT4_API_TOKEN": "a-long-random-token"})
    assert ok.returncode == 0, ok.stderr
    doc = yaml.safe_load(ok.stdout)
    assert set(doc["services"]) >= {"bot4-trading", "bot4-metrics", "bot4-alertmanager", "bot4-grafana", "bot4-loki"}
    for svc in doc["services"].values():
        assert "bot4-network" in svc["networks"]
    refused = run_config(env)
    assert refused.returncode != 0 and "BOT4_API_TOKEN" in refused.stderr


def test_no_hard_coded_addresses_in_deployment_files() -> None:
    ip = re.compile(r"\b(?!0\.0\.0\.0)\d{1,3}(\.\d{1,3}){3}\b")
    for path in [CONFIGS / "compose.yaml", *CONFIGS.glob("prometheus/*.yml"), *CONFIGS.glob("loki/*.yml"), *CONFIGS.glob("grafana/**/*.yml")]:
        assert not ip.search(path.read_text()), f"{path} names an IP address"


def test_jaeger_takes_the_engines_traces_by_name_and_grafana_reads_it() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT4_", "OTEL_"))}
    ok = run_config({**env, "BOT4_API_TOKEN": "a-long-random-token"})
    assert ok.returncode == 0, ok.stderr
    services = yaml.safe_load(ok.stdout)["services"]
    jaeger = services["bot4-jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:") and "bot4-network" in jaeger["networks"]
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    trading = services["bot4-trading"]["environment"]
    assert trading["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://bot4-jaeger:4318"  # OTLP/HTTP, found by DNS name
    assert trading["BOT4_TRACING__ENABLED"] == "true"
    assert services["bot4-grafana"]["environment"]["JAEGER_URL"] == "http://bot4-jaeger:16686"
    sources = yaml.safe_load((CONFIGS / "grafana" / "provisioning" / "datasources" / "bot4.yml").read_text())
    by_uid = {d["uid"]: d for d in sources["datasources"]}
    assert by_uid["bot4-jaeger"]["type"] == "jaeger" and by_uid["bot4-jaeger"]["url"] == "${JAEGER_URL}"
    derived = by_uid["bot4-loki"]["jsonData"]["derivedFields"][0]
    line = '{"event":"order_slow","coid":16384,"trace_id":"' + "ab" * 16 + '"}'
    assert derived["datasourceUid"] == "bot4-jaeger" and re.search(derived["matcherRegex"], line)[1] == "ab" * 16
    board = json.loads((CONFIGS / "grafana" / "dashboards" / "bot4-order-pipeline.json").read_text())
    t2o = next(p for p in board["panels"] if p["title"].startswith("tick -> order"))
    assert any("bot4-jaeger" in link["url"] and "bot4.trace.why%3Dslow" in link["url"] for link in t2o["links"])
