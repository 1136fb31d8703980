"""Circuit breaker state machine under scripted outcome sequences."""

from __future__ import annotations

import numpy as np

from bot4.core import records
from bot4.core.breaker import breaker_allow_nb, breaker_check_stale_nb, breaker_record_nb
from bot4.core.config import BreakerConfig
from bot4.core.ring import Ring
from bot4.core.state import BREAKER_DTYPE, breaker_config_row

MS = 1_000_000


class Breaker:
    def __init__(self, **cfg: object) -> None:
        self.brk = np.zeros(1, BREAKER_DTYPE)
        self.cfg = np.array([breaker_config_row(BreakerConfig(**cfg))])  # type: ignore[arg-type]
        self.log = Ring(records.TRANSITION_DTYPE, 64)
        self.now = 1_000 * MS

    def allow(self) -> bool:
        return bool(breaker_allow_nb(self.brk, self.cfg, 0, self.now, self.log.buf, self.log.ctrl))

    def record(self, ok: bool, latency_ms: float = 1.0) -> int:
        return int(breaker_record_nb(self.brk, self.cfg, 0, self.now, ok, int(latency_ms * MS), self.log.buf, self.log.ctrl))

    def advance(self, ms: float) -> None:
        self.now += int(ms * MS)

    @property
    def state(self) -> int:
        return int(self.brk["state"][0])

    def transitions(self) -> list[tuple[int, int, int]]:
        out = np.zeros(64, records.TRANSITION_DTYPE)
        n = self.log.pop_many(out)
        return [(int(r["from_state"]), int(r["to_state"]), int(r["cause"])) for r in out[:n]]


def test_consecutive_failures_open_then_probe_back_to_closed() -> None:
    b = Breaker(consecutive_failures=3, open_timeout_s=5.0, probes=2, min_calls=100)
    for _ in range(2):
        b.record(False)
    assert b.state == records.BREAKER_CLOSED
    b.record(True)  # a success resets the run
    for _ in range(3):
        b.record(False)
    assert b.state == records.BREAKER_OPEN
    assert not b.allow()
    b.advance(4_999)
    assert not b.allow()
    b.advance(2)
    assert b.allow() and b.state == records.BREAKER_HALF_OPEN
    assert b.allow()  # second probe
    assert not b.allow()  # only two probes at once
    b.record(True)
    assert b.state == records.BREAKER_HALF_OPEN
    b.record(True)
    assert b.state == records.BREAKER_CLOSED
    assert b.transitions() == [
        (records.BREAKER_CLOSED, records.BREAKER_OPEN, records.CAUSE_CONSECUTIVE),
        (records.BREAKER_OPEN, records.BREAKER_HALF_OPEN, records.CAUSE_TIMEOUT_ELAPSED),
        (records.BREAKER_HALF_OPEN, records.BREAKER_CLOSED, records.CAUSE_PROBES_PASSED),
    ]


def test_half_open_probe_failure_reopens() -> None:
    b = Breaker(consecutive_failures=1, open_timeout_s=1.0, probes=3)
    b.record(False)
    b.advance(1_001)
    assert b.allow() and b.state == records.BREAKER_HALF_OPEN
    b.record(True)
    assert b.allow()
    b.record(False)
    assert b.state == records.BREAKER_OPEN
    assert not b.allow()
    assert b.transitions()[-1] == (records.BREAKER_HALF_OPEN, records.BREAKER_OPEN, records.CAUSE_PROBE_FAILED)
    assert b.brk["to_open"][0] == 2


def test_error_rate_over_the_window() -> None:
    b = Breaker(error_rate=0.5, min_calls=10, window=10, consecutive_failures=100)
    pattern = [True, False] * 4 + [True]  # 4 failures in 9 calls: not enough calls yet
    for ok in pattern:
        b.record(ok)
    assert b.state == records.BREAKER_CLOSED
    b.record(False)  # 5 of 10 = 50 %
    assert b.state == records.BREAKER_OPEN
    assert b.transitions() == [(records.BREAKER_CLOSED, records.BREAKER_OPEN, records.CAUSE_ERROR_RATE)]


def test_error_rate_forgets_old_calls() -> None:
    b = Breaker(error_rate=0.5, min_calls=4, window=4, consecutive_failures=100)
    for ok in [False, True, True, True, True, True, False]:  # old failure has left the window: 1 of 4
        b.record(ok)
    assert b.state == records.BREAKER_CLOSED
    b.record(False)  # 2 of 4
    assert b.state == records.BREAKER_OPEN


def test_slow_calls_count_as_failures() -> None:
    b = Breaker(slow_call_s=0.5, consecutive_failures=2)
    b.record(True, latency_ms=600)
    b.record(True, latency_ms=700)
    assert b.state == records.BREAKER_OPEN
    assert b.transitions() == [(records.BREAKER_CLOSED, records.BREAKER_OPEN, records.CAUSE_LATENCY)]


def test_staleness_opens_and_fresh_data_recovers() -> None:
    b = Breaker(stale_after_s=10.0, open_timeout_s=1.0, probes=1)
    b.record(True)
    b.advance(9_000)
    assert breaker_check_stale_nb(b.brk, b.cfg, 0, b.now, b.log.buf, b.log.ctrl) == records.BREAKER_CLOSED
    b.advance(2_000)
    assert breaker_check_stale_nb(b.brk, b.cfg, 0, b.now, b.log.buf, b.log.ctrl) == records.BREAKER_OPEN
    b.advance(1_001)
    assert b.allow()
    b.record(True)
    assert b.state == records.BREAKER_CLOSED
    causes = [c for _, _, c in b.transitions()]
    assert causes == [records.CAUSE_STALE, records.CAUSE_TIMEOUT_ELAPSED, records.CAUSE_PROBES_PASSED]
