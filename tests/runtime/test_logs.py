"""Structured logs: the JSON line, redaction, and a writer that never holds up the engine."""

from __future__ import annotations

import io
import logging
import os
import threading

import orjson

from bot4.logs import BackgroundHandler, JsonFormatter, RepeatedEvent, event, setup_logging


def test_json_lines_carry_the_event_its_fields_and_never_a_secret() -> None:
    root = logging.getLogger("bot4")
    saved = (list(root.handlers), root.level, root.propagate)
    out = io.StringIO()
    handler = setup_logging("json", stream=out)
    try:
        event(logging.getLogger("bot4.test"), "venue_connected", venue="binance", api_key="abc", secret_env="X")
    finally:
        handler.close()
        root.removeHandler(handler)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        root.propagate = saved[2]
    doc = orjson.loads(out.getvalue().splitlines()[0])
    assert doc["event"] == "venue_connected" and doc["level"] == "info" and doc["venue"] == "binance"
    assert doc["api_key"] == "***" and doc["secret_env"] == "***" and "abc" not in out.getvalue()


def test_a_stalled_reader_does_not_block_the_logger_and_what_is_dropped_is_counted() -> None:
    r, w = os.pipe()
    writer = os.fdopen(w, "w", buffering=1)
    target = logging.StreamHandler(writer)
    target.setFormatter(JsonFormatter())
    handler = BackgroundHandler(target, capacity=100)
    logger = logging.getLogger("bot4.test.stalled")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    total = 2_000  # ~200 KB of lines: three times what the pipe holds while nobody reads it

    def emit_all() -> None:
        for i in range(total):
            event(logger, "order_rejected", symbol="BTC/USDT", reason="loss_streak_cooldown", n=i, pad="x" * 40)

    t = threading.Thread(target=emit_all)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "logging blocked on the full pipe"
    assert handler.dropped > 0  # the pipe and the queue are full: the rest was dropped, and counted
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 65536), b"")))
    reader.start()
    logger.removeHandler(handler)
    handler.close()
    writer.close()
    reader.join(timeout=60)
    docs = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
    written = [d for d in docs if d["event"] == "order_rejected"]
    notes = [d for d in docs if d["event"] == "log_dropped"]
    assert notes and notes[0]["level"] == "warning"
    assert len(written) + sum(n["dropped"] for n in notes) == total  # every record written or counted
    assert [d["n"] for d in written] == sorted(d["n"] for d in written)  # in order


def test_close_writes_every_queued_record() -> None:
    out = io.StringIO()
    target = logging.StreamHandler(out)
    target.setFormatter(JsonFormatter())
    handler = BackgroundHandler(target)
    logger = logging.getLogger("bot4.test.close")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for i in range(500):
        event(logger, "tick", n=i)
    logger.removeHandler(handler)
    handler.close()
    assert [orjson.loads(line)["n"] for line in out.getvalue().splitlines()] == list(range(500))


def test_a_burst_of_one_event_is_one_line_a_period_and_the_counts_add_up() -> None:
    out = io.StringIO()
    target = logging.StreamHandler(out)
    target.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot4.test.repeat")
    logger.addHandler(target)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    rejects = RepeatedEvent(logger, "order_rejected", period_s=1.0)
    cool = ("BTC/USDT", "buy", "loss_streak_cooldown")
    for i in range(30):  # 30 refusals over 1.45 s, and one of another reason among them
        rejects.add(100.0 + i * 0.05, cool, symbol="BTC/USDT", side="buy", reason="loss_streak_cooldown")
        rejects.flush(100.0 + i * 0.05)
        if i == 3:
            rejects.add(100.15, ("BTC/USDT", "buy", "var"), symbol="BTC/USDT", side="buy", reason="var")
    rejects.flush(None)
    logger.removeHandler(target)
    docs = [orjson.loads(line) for line in out.getvalue().splitlines()]
    lines = [d for d in docs if d["reason"] == "loss_streak_cooldown"]
    assert [d["count"] for d in lines] == [1, 20, 9]  # at once, the next a second later (19 held + it), at the end
    assert [d["count"] for d in docs if d["reason"] == "var"] == [1]
    assert all(d["event"] == "order_rejected" and d["symbol"] == "BTC/USDT" for d in docs)
