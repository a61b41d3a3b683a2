"""Logs are JSON lines with fields and never carry a registered secret; metrics live under ``om_``."""

from __future__ import annotations

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
