from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from bot4.runtime.config import AppConfig, load_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app_config() -> AppConfig:
    cfg = load_config(None, env={})
    return replace(
        cfg,
        replay=replace(cfg.replay, speed=50.0),
        runtime=replace(cfg.runtime, api_addr=f"127.0.0.1:{free_port()}", metrics_addr=""),
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
