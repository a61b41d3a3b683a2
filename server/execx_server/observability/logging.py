"""JSON-lines logging with stable event names and structured fields, and secret redaction.

Every exchange secret a session receives is registered with ``redact``; the handler's filter
replaces any occurrence in the rendered line, so a secret can never reach a log even through an
exception message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_secrets: set[str] = set()


def redact(secret: str) -> None:
    """Register a secret value that must never appear in a log line (values under 8 chars are ignored)."""
    if len(secret) >= 8:
        _secrets.add(secret)


def scrub(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


# one encoder for every line (``json.dumps(data, default=str)`` builds a new one per call), same output
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def _ts(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self._ts(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return scrub(_ENCODER.encode(data))


LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # no caller look-up per record (the logging HOWTO's "Optimization"): a line holds no file, function or
    # line number (``_STANDARD``), and the look-up walked the stack on every line (the audit line of every order)
    logging._srcfile = None
    set_level(level)


def set_level(level: str) -> None:
    """SetLogLevel: debug, info, warn, error."""
    logging.getLogger().setLevel(LEVELS[level])
