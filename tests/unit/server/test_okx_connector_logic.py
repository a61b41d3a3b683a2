"""OKX connector logic without a venue: signing against the derived vectors (``test-vectors.md`` C3,
C4), host selection (production, AWS by configuration, demo with --testnet, overrides), the
ready-made pull bodies, parsing of recorded OKX messages and the outcome classification."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.okx import errors, parse
from execx_server.connectors.okx.pull import PullBook
from execx_server.connectors.okx.schemas import InstrumentRow, OrderRow
from execx_server.connectors.okx.signing import Signer, iso_ms, okx_sign
from execx_server.connectors.okx.urls import AWS, DEMO, PRODUCTION, resolve_hosts
from execx_server.domain.enums import Liquidity, OrderStatus, Side
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import OutcomeUnknown, Rejected, Retryable

D = Decimal
SECRET = Secret("22582BD0CFF14C41EDBF1AB98506286D")  # the docs' sample secret, used as a fake one


def test_rest_signature_vectors() -> None:
    ts = "2020-12-08T09:08:57.715Z"
    assert okx_sign(SECRET, ts + "GET/api/v5/account/balance?ccy=BTC") == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
    body = '{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}'
    assert okx_sign(SECRET, ts + "POST/api/v5/trade/order" + body) == "dI6rrL9rXW/HdaPKJ/6LC1OgvH4/PYju6R3CqixMTNQ="


def test_signer_headers_and_ws_login() -> None:
    ms = 1607418537715  # 2020-12-08T09:08:57.715Z
    assert iso_ms(ms) == "2020-12-08T09:08:57.715Z"
    signer = Signer("key", SECRET, Secret("phrase"), demo=True, clock_ms=lambda: ms)
    h = signer.rest_headers("GET", "/api/v5/account/balance?ccy=BTC", "")
    assert h["OK-ACCESS-SIGN"] == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
    assert (h["OK-ACCESS-KEY"], h["OK-ACCESS-TIMESTAMP"], h["OK-ACCESS-PASSPHRASE"]) == ("key", iso_ms(ms), "phrase")
    assert h["x-simulated-trading"] == "1"
    login = Signer("key", SECRET, Secret("phrase"), demo=False, clock_ms=lambda: 1538054050_000).login_args()
    assert login == {
        "apiKey": "key",
        "passphrase": "phrase",
        "timestamp": "1538054050",
        "sign": "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=",
    }
    assert "x-simulated-trading" not in Signer("k", SECRET, Secret("p"), demo=False).rest_headers("GET", "/x", "")


def test_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXECX_OKX_HOSTS", raising=False)
    assert resolve_hosts(False) == PRODUCTION
    assert resolve_hosts(False, hosts="aws") == AWS
    assert AWS.rest == "https://aws.okx.com" and AWS.private == "wss://wsaws.okx.com:8443/ws/v5/private"
    monkeypatch.setenv("EXECX_OKX_HOSTS", "aws")
    assert resolve_hosts(False) == AWS
    demo = resolve_hosts(True)
    assert demo == DEMO and demo.demo and demo.public == "wss://wspap.okx.com:8443/ws/v5/public"
    # the seed's AWS endpoints as restUrl / wsUrl (host only: the paths are appended)
    h = resolve_hosts(False, "https://aws.okx.com", "wss://wsaws.okx.com:8443", hosts="default")
    assert h == AWS
    one = resolve_hosts(False, "http://127.0.0.1:1", "ws://127.0.0.1:2/ws/v5/private", hosts="default")
    assert (one.private, one.public, one.business) == (
        "ws://127.0.0.1:2/ws/v5/private",
        "ws://127.0.0.1:2/ws/v5/public",
        "ws://127.0.0.1:2/ws/v5/business",
    )
    ready = {"rest": "http://h:1", "private": "ws://h:2/ws/v5/private", "public": "ws://h:3/ws/v5/public"}
    r = resolve_hosts(True, "", json.dumps(ready), hosts="default")
    assert (r.rest, r.private, r.public, r.business, r.demo) == (
        "http://h:1",
        "ws://h:2/ws/v5/private",
        "ws://h:3/ws/v5/public",
        "ws://h:2/ws/v5/business",
        True,
    )
    with pytest.raises(ValidationError, match="hosts"):
        resolve_hosts(False, hosts="mars")
    with pytest.raises(ValidationError, match="wsUrl"):
        resolve_hosts(False, "", "wss://ws.okx.com:8443/other", hosts="default")


def test_pull_book_keeps_ready_bodies_of_20() -> None:
    book = PullBook("BTC-USDT")
    assert book.bodies() == []
    ids = [f"c{i}" for i in range(45)]
    for cl in ids:
        book.add(cl)
    bodies = [json.loads(b) for b in book.bodies()]
    assert [len(b) for b in bodies] == [20, 20, 5]
    assert [item["clOrdId"] for b in bodies for item in b] == ids
    assert all(item == {"instId": "BTC-USDT", "clOrdId": item["clOrdId"]} for b in bodies for item in b)
    for cl in ("c3", "c44", "c20", "c0", "c41", "c42", "c43", "c40"):
        book.remove(cl)
    book.remove("c3")  # already gone: nothing happens
    bodies = [json.loads(b) for b in book.bodies()]
    left = [item["clOrdId"] for b in bodies for item in b]
    assert sorted(left) == sorted(set(ids) - {"c3", "c44", "c20", "c0", "c41", "c42", "c43", "c40"})
    assert [len(b) for b in bodies] == [20, 17] and len(book) == 37 and book.ids == frozenset(left)
    chunks = book.chunks()
    assert [[item["clOrdId"] for item in b] for b in bodies] == chunks
    assert [book.body_of(ids) for ids in chunks] == book.bodies()
    assert book.body_of(chunks[0][1:]) is None and book.body_of(chunks[1][::-1]) is None and book.body_of([]) is None
    for cl in left:
        book.remove(cl)
    assert book.bodies() == [] and len(book) == 0


def test_parse_instrument_and_orders() -> None:
    swap: InstrumentRow = {
        "instType": "SWAP",
        "instId": "BTC-USDT-SWAP",
        "tickSz": "0.1",
        "lotSz": "0.01",
        "minSz": "0.01",
        "ctVal": "0.01",
        "ctType": "linear",
    }
    rules = parse.parse_instrument(swap)
    assert (rules.symbol, rules.tick, rules.lot, rules.contract_size, rules.inverse) == (
        "BTC-USDT-SWAP",
        D("0.1"),
        D("0.01"),
        D("0.01"),
        False,
    )
    push: OrderRow = {
        "instId": "BTC-USDT",
        "ordId": "680",
        "clOrdId": "abc",
        "px": "90000",
        "sz": "0.03",
        "side": "buy",
        "state": "partially_filled",
        "accFillSz": "0.01",
        "fillPx": "90000",
        "fillSz": "0.01",
        "tradeId": "123",
        "fillTime": "1700000000000",
        "fillFee": "-0.00000008",
        "fillFeeCcy": "BTC",
        "execType": "M",
        "uTime": "1700000000001",
    }
    fill = parse.parse_order_push(push)
    assert (fill.trade_id, fill.fill_qty, fill.fill_price, fill.liquidity) == (
        "123",
        D("0.01"),
        D(90000),
        Liquidity.ADD,
    )
    assert (fill.status, fill.cum_filled, fill.fee, fill.fee_asset) == (
        OrderStatus.PARTIALLYFILLED,
        D("0.01"),
        D("0.00000008"),
        "BTC",
    )
    assert fill.exch_time_ns == 1700000000000 * 1_000_000 and fill.side is Side.BUY
    cancelled = parse.parse_order_push(
        {**push, "state": "canceled", "tradeId": "", "fillSz": "0", "cancelSource": "31"}  # type: ignore[typeddict-item]
    )
    assert cancelled.status is OrderStatus.CANCELLED and not cancelled.trade_id
    assert "cancelSource 31" in cancelled.message and "post-only" in cancelled.message
    failed_amend = parse.parse_order_push(
        {**push, "state": "live", "tradeId": "", "fillSz": "0", "amendResult": "-1", "code": "51503", "msg": "gone"}  # type: ignore[typeddict-item]
    )
    assert failed_amend.status is OrderStatus.NEW
    assert failed_amend.message == "amend failed: gone (code 51503)" and failed_amend.qty == D("0.03")


def test_outcome_classification() -> None:
    assert isinstance(errors.classify(429, "50011", "Too Many Requests"), Retryable)
    limited = errors.classify(200, "50011", "Rate limit reached")
    assert isinstance(limited, Retryable) and limited.retry_after_s == 2.0
    assert isinstance(errors.classify(503, "50001", "Service temporarily unavailable"), OutcomeUnknown)
    assert isinstance(errors.classify(503, "50001", "x", mutating=False), Retryable)  # a read is just asked again
    refused = errors.classify(200, "51008", "Order failed. Insufficient USDT balance in account.")
    assert isinstance(refused, Rejected) and refused.code == "51008"
    assert isinstance(errors.classify(401, "50113", "Invalid Sign"), Rejected)
