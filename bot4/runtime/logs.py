"""Structured logs: one JSON object per line (orjson) with ts, level, event and fields; or text for people.

Every record carries the labels Loki indexes (``level``, ``event``, and ``venue``/``symbol`` when the call gives
them). Values that look like secrets never reach a line: any field whose name contains key, secret, token,
password or signature is replaced by "***".
"""

from __future__ import annotations

import logging
import sys
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


def setup_logging(fmt: str = "json", path: str = "", level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Route bot4's loggers to one handler in the chosen format; returns the handler."""
    handler: logging.Handler
    if path:
        handler = logging.FileHandler(path)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("bot4")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a named event with structured fields."""
    logger.log(level, name, extra={"event": name, "fields": fields})
