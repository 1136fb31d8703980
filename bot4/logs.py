"""Structured logs: one JSON object per line (orjson) with ts, level, event and fields; or text for people.

Every record carries the labels Loki indexes (``level``, ``event``, and ``venue``/``symbol`` when the call gives
them). Values that look like secrets never reach a line: any field whose name contains key, secret, token,
password or signature is replaced by "***".

Lines are written by a thread of their own (:class:`BackgroundHandler`): the engine's event loop, which carries
orders to the venue, never waits on a full pipe or a slow disk. If the writer falls that far behind, records past
the queue's capacity are dropped and counted, and the next line written says how many.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any, TextIO

import orjson

SECRET_MARKERS = ("key", "secret", "token", "password", "signature", "authorization")


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(m in k.lower() for m in SECRET_MARKERS) else v) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = redact(getattr(record, "fields", {}))
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
            "logger": record.name,
        }
        if getattr(record, "event", None) is not None and record.getMessage() != doc["event"]:
            doc["msg"] = record.getMessage()
        doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = redact(getattr(record, "fields", {}))
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        event = getattr(record, "event", record.getMessage())
        line = f"{stamp} {record.levelname:<7} {event} {extra}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class BackgroundHandler(logging.Handler):
    """Queues records for a writer thread that formats and writes them through ``target``.

    ``emit`` never blocks: when ``capacity`` records wait already, the record is dropped and counted
    (``dropped``), and the writer logs a ``log_dropped`` event with the count before its next line. ``close``
    writes what is queued, then closes the target.
    """

    def __init__(self, target: logging.Handler, capacity: int = 10_000) -> None:
        super().__init__()
        self.target = target
        self.dropped = 0
        self._reported = 0
        self._queue: queue.Queue[logging.LogRecord | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._write, name="bot4-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            dropped = self.dropped
            if dropped != self._reported:
                note = logging.LogRecord(record.name, logging.WARNING, __file__, 0, "log_dropped", None, None)
                note.event = "log_dropped"  # type: ignore[attr-defined]
                note.fields = {"dropped": dropped - self._reported, "dropped_total": dropped}  # type: ignore[attr-defined]
                self.target.handle(note)
                self._reported = dropped
            self.target.handle(record)

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)  # after every record already queued
            self._thread.join(timeout=10.0)
        self.target.close()
        super().close()


def setup_logging(fmt: str = "json", path: str = "", level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Route bot4's loggers, through a writer thread, to a file or a stream in the chosen format; returns the handler.

    Closing it writes every record still queued; ``logging.shutdown``, which runs at exit, closes it.
    """
    target: logging.Handler
    if path:
        target = logging.FileHandler(path)
    else:
        target = logging.StreamHandler(stream or sys.stderr)
    target.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler = BackgroundHandler(target)
    root = logging.getLogger("bot4")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a named event with structured fields."""
    logger.log(level, name, extra={"event": name, "fields": fields})


class RepeatedEvent:
    """An event that may come in bursts, logged at most once a period per key; each line counts what it stands for.

    The first occurrence of a key is logged at once (``count`` 1); further ones within ``period_s`` are counted and
    logged as one line (``count`` N) by :meth:`flush` once the period has passed, or at the end (``flush(None)``).
    The sum of the ``count`` fields equals the occurrences: a burst of refusals costs a line a second, and nothing
    goes unreported.
    """

    def __init__(self, logger: logging.Logger, name: str, period_s: float = 1.0) -> None:
        self.logger = logger
        self.name = name
        self.period_s = period_s
        self._last: dict[tuple[Any, ...], float] = {}
        self._held: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}

    def add(self, now: float, key: tuple[Any, ...], **fields: Any) -> None:
        last = self._last.get(key)
        if last is None or now - last >= self.period_s:
            held, _ = self._held.pop(key, (0, fields))
            self._last[key] = now
            event(self.logger, self.name, **fields, count=held + 1)
            return
        held, _ = self._held.get(key, (0, fields))
        self._held[key] = (held + 1, fields)

    def flush(self, now: float | None) -> None:
        """Log the counts held for keys whose period has passed (every key when ``now`` is None)."""
        for key in [k for k in self._held if now is None or now - self._last[k] >= self.period_s]:
            held, fields = self._held.pop(key)
            self._last[key] = now if now is not None else self._last[key]
            event(self.logger, self.name, **fields, count=held)
