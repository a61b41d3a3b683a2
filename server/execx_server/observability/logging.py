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
from json.encoder import encode_basestring_ascii
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
_str = encode_basestring_ascii  # a str as _ENCODER writes it (ensure_ascii)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def _ts(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once a second, not per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self._ts(record.created, record.msecs),
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

    def line(self, created: float, level: str, logger: str, event: str, fields: dict[str, str]) -> str:
        """What ``format`` renders, byte for byte, for a record made at ``created`` (``time.time()``) of
        ``logger`` at ``level`` (``"info"``) with message ``event`` (no arguments) and the text ``fields`` as
        its extra (each value escaped as ``json`` does: half the cost of encoding a dict)."""
        ts = self._ts(created, (created - int(created)) * 1000)  # LogRecord's msecs
        parts = [f'{{"ts": "{ts}", "level": {_str(level)}, "logger": {_str(logger)}, "event": {_str(event)}']
        for key, value in fields.items():
            parts.append(f", {_str(key)}: {_str(value)}")
        parts.append("}")
        return scrub("".join(parts))


def _direct_handler(logger: logging.Logger, level: int) -> tuple[logging.StreamHandler[Any], JsonFormatter] | None:
    """The handler (and its formatter) that alone would write ``logger``'s record at ``level``, when logging's
    configuration is ``setup``'s (one ``JsonFormatter`` stream handler on the root, no filter anywhere on the
    way, the default record factory): then a line can be rendered and written without a ``LogRecord``. Else
    None."""
    if logger.disabled or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: tuple[logging.StreamHandler[Any], JsonFormatter] | None = None
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters:
            return None
        if node.handlers:
            if found is not None or len(node.handlers) != 1:
                return None
            handler, formatter = node.handlers[0], node.handlers[0].formatter
            if (
                type(handler) is not logging.StreamHandler
                or not isinstance(formatter, JsonFormatter)
                or type(formatter) is not JsonFormatter
                or handler.filters
                or level < handler.level
            ):
                return None
            found = handler, formatter
        if not node.propagate:
            break
        node = node.parent
    return found


def write_line(logger: logging.Logger, event: str, fields: dict[str, str]) -> None:
    """``logger.info(event, extra=fields)``, the same line, without a ``LogRecord`` and logging's dispatch
    when the configuration allows it (``_direct_handler``; the audit line of every order). The caller has
    checked ``logger.isEnabledFor(logging.INFO)``."""
    direct = _direct_handler(logger, logging.INFO)
    if direct is None:
        logger.info(event, extra=fields)
        return
    handler, formatter = direct
    text = formatter.line(time.time(), "info", logger.name, event, fields) + handler.terminator
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    except RecursionError:
        raise
    except Exception:
        handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, event, (), None, extra=fields))
    finally:
        handler.release()


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
