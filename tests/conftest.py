"""Shared fixtures: the recorded market data beside the repository, and a small trading harness."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the recorded market data is expected at {SHARED_DATA} (the shared folder beside the clone)")
    return SHARED_DATA
