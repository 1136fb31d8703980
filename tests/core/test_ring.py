"""SPSC ring against a bounded deque model: wrap-around, full-ring refusal, batch push/pop."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bot4.core.jit import kernel
from bot4.core.records import CMD_KILL, CMD_MANUAL_ORDER, COMMAND_DTYPE, TICK_DTYPE
from bot4.core.ring import (
    CommandRing,
    Ring,
    ring_advance_nb,
    ring_available_nb,
    ring_claim_nb,
    ring_publish_nb,
    ring_slot_nb,
)


def _ticks(seqs: list[int]) -> np.ndarray:
    arr = np.zeros(len(seqs), dtype=TICK_DTYPE)
    arr["seq"] = seqs
    arr["price"] = np.asarray(seqs, dtype=np.float64) * 0.5
    return arr


class RingMachine(RuleBasedStateMachine):
    CAPACITY = 8

    def __init__(self) -> None:
        super().__init__()
        self.ring = Ring(TICK_DTYPE, self.CAPACITY)
        self.model: deque[int] = deque()
        self.next_seq = 0
        self.refused = 0

    @rule()
    def push(self) -> None:
        rec = _ticks([self.next_seq])
        ok = self.ring.push(rec)
        assert ok == (len(self.model) < self.CAPACITY)
        if ok:
            self.model.append(self.next_seq)
        else:
            self.refused += 1
        self.next_seq += 1

    @rule(n=st.integers(0, 12))
    def push_many(self, n: int) -> None:
        seqs = list(range(self.next_seq, self.next_seq + n))
        pushed = self.ring.push_many(_ticks(seqs))
        room = self.CAPACITY - len(self.model)
        assert pushed == min(n, room)
        self.model.extend(seqs[:pushed])
        self.refused += n - pushed
        self.next_seq += n

    @rule()
    def pop(self) -> None:
        rec = self.ring.pop()
        if self.model:
            expected = self.model.popleft()
            assert rec is not None and rec["seq"] == expected and rec["price"] == expected * 0.5
        else:
            assert rec is None

    @rule(n=st.integers(1, 12))
    def pop_many(self, n: int) -> None:
        out = np.zeros(n, dtype=TICK_DTYPE)
        got = self.ring.pop_many(out)
        expected = [self.model.popleft() for _ in range(min(n, len(self.model)))]
        assert got == len(expected)
        assert out["seq"][:got].tolist() == expected

    @invariant()
    def depth_and_counts(self) -> None:
        assert self.ring.depth == len(self.model)
        assert self.ring.full_count == self.refused
        assert self.ring.high_water <= self.CAPACITY


TestRingMachine = RingMachine.TestCase
TestRingMachine.settings = settings(max_examples=200, stateful_step_count=80, deadline=None)


def test_capacity_must_be_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Ring(TICK_DTYPE, 1000)


def test_indices_on_separate_cache_lines() -> None:
    from bot4.core.ring import RING_CAPACITY, RING_HEAD, RING_TAIL

    ring = Ring(TICK_DTYPE, 64)
    assert ring.ctrl.ctypes.data % 64 == 0
    assert ring.buf.ctypes.data % 64 == 0
    lines = {RING_HEAD * 8 // 64, RING_TAIL * 8 // 64, RING_CAPACITY * 8 // 64}
    assert len(lines) == 3


def test_full_ring_never_overwrites() -> None:
    ring = Ring(TICK_DTYPE, 4)
    assert ring.push_many(_ticks([0, 1, 2, 3, 4, 5])) == 4
    assert ring.full_count == 2
    assert not ring.push(_ticks([6]))
    out = np.zeros(8, dtype=TICK_DTYPE)
    assert ring.pop_many(out) == 4
    assert out["seq"][:4].tolist() == [0, 1, 2, 3]


@kernel
def _claim_fill_publish(ctrl, buf, n):  # type: ignore[no-untyped-def]
    done = 0
    for i in range(n):
        slot = ring_claim_nb(ctrl)
        if slot < 0:
            break
        buf[slot]["seq"] = i
        ring_publish_nb(ctrl, 1)
        done += 1
    return done


@kernel
def _consume_in_place(ctrl, buf):  # type: ignore[no-untyped-def]
    n = ring_available_nb(ctrl)
    total = 0
    for k in range(n):
        total += buf[ring_slot_nb(ctrl, k)]["seq"]
    ring_advance_nb(ctrl, n)
    return n, total


def test_zero_copy_claim_and_in_place_consume() -> None:
    ring = Ring(TICK_DTYPE, 16)
    assert _claim_fill_publish(ring.ctrl, ring.buf, 20) == 16
    assert ring.full_count == 1
    n, total = _consume_in_place(ring.ctrl, ring.buf)
    assert (n, total) == (16, sum(range(16)))
    assert ring.depth == 0


def test_command_ring_assigns_sequence_and_keeps_fields() -> None:
    ring = CommandRing(capacity=4)
    assert ring.send(CMD_KILL) == 1
    assert ring.send(CMD_MANUAL_ORDER, symbol_id=1, side=1, size=0.5, price=100.0, stop_px=95.0) == 2
    assert ring.send(CMD_KILL) == 3
    assert ring.send(CMD_KILL) == 4
    assert ring.send(CMD_KILL) == -1
    assert ring.full_count == 1
    out = np.zeros(4, dtype=COMMAND_DTYPE)
    assert ring.pop_many(out) == 4
    assert out["seq"].tolist() == [1, 2, 3, 4]
    assert out[1]["size"] == 0.5 and out[1]["stop_px"] == 95.0
    assert np.isnan(out[0]["price"])
    assert ring.send(CMD_KILL) == 5
    with pytest.raises(ValueError):
        ring.send(CMD_KILL, no_such_field=1)
