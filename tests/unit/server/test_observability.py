"""Logs are JSON lines with fields and never carry a registered secret; metrics live under ``om_``."""

from __future__ import annotations

import io
import json
import logging

from execx_server.observability import logging as xlog
from execx_server.observability.metrics import Metrics
from prometheus_client import generate_latest


def test_json_lines_with_fields_and_no_secrets() -> None:
    secret = "s3cr3t-value-123456"
    xlog.redact(secret)
    fmt = xlog.JsonFormatter()
    record = logging.LogRecord("execx.engine", logging.WARNING, __file__, 1, "venue.error %s", (secret,), None)
    record.session = "alpha"
    record.detail = f"signature for {secret} invalid"
    line = fmt.format(record)
    assert secret not in line
    data = json.loads(line)
    assert data["event"] == "venue.error ***" and data["session"] == "alpha" and data["level"] == "warning"
    assert data["detail"] == "signature for *** invalid"


def test_metrics_are_in_the_om_namespace() -> None:
    m = Metrics()
    m.orders_sent.labels("binance-spot", "limit", "insert").inc()
    m.ack_latency.labels("binance-spot", "insert").observe(0.0004)
    text = generate_latest(m.registry).decode()
    assert 'om_orders_sent_total{exchange="binance-spot",order_type="limit",transaction_type="insert"} 1.0' in text
    assert "om_order_ack_latency_seconds_bucket" in text
    names = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE")]
    assert names and all(n.startswith("om_") for n in names)


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_line_written_directly_is_the_formatters_line_byte_for_byte() -> None:
    """``write_line`` (the audit line of every order) skips the LogRecord but writes what ``format`` would:
    same keys, order, escaping, timestamp form and redaction."""
    secret = "direct-secret-0987654321"
    xlog.redact(secret)
    fmt = xlog.JsonFormatter()
    fields = {"key": "trader", "peer": "ipv4:127.0.0.1:1", "session": 'a"b\\c', "note": f"é {secret}"}
    record = logging.LogRecord("execx.audit", logging.INFO, "", 0, "audit", (), None)
    record.__dict__.update(fields)
    record.created, record.msecs = 1765000000.25, 250.0
    assert fmt.line(1765000000.25, "info", "execx.audit", "audit", fields) == fmt.format(record)
    assert secret not in fmt.format(record)

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logger = logging.getLogger("execx.test.direct")
    seen: list[logging.LogRecord] = []
    try:
        xlog.write_line(logger, "audit", fields)
        logger.info("audit", extra=fields)
        direct, logged = (json.loads(line) for line in _lines(stream))
        assert direct.pop("ts")[:4] == logged.pop("ts")[:4] and direct == logged
        assert list(direct) == ["level", "logger", "event", *fields]
        assert not seen
        # a configuration it does not know (a filter, another handler): through logging, the filter sees it
        logger.addFilter(lambda r: seen.append(r) or True)
        xlog.write_line(logger, "audit", fields)
        assert len(seen) == 1 and len(_lines(stream)) == 3
    finally:
        logger.filters.clear()
        root.handlers[:], root.level = saved, level
