"""Shared fixtures: the recorded market data (shipped with the tests, or the larger set beside the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"  # small real files shipped with the tests (see tests/data/README.md)
SHARED_DATA = ROOT.parent / "shared" / "data"  # the developers' larger set; a plain clone does not have it


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The real market data shipped under tests/data (always there)."""
    assert TEST_DATA.is_dir(), f"{TEST_DATA} is part of the repository"
    return TEST_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared market data set beside the repository; the tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared market data set at {SHARED_DATA} (not part of a plain clone)")
    return SHARED_DATA
