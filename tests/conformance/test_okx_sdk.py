"""The official OKX SDK (``python-okx``: ``okx.Trade``, ``okx.Account``, ``okx.PublicData``) against
the simulated OKX venue, unchanged except for the base URL (``domain=``). The SDK is synchronous
(httpx), so its calls run in a worker thread while the simulator serves on the test's loop.

``flag="1"`` (the SDK's default) sends ``x-simulated-trading: 1``, i.e. demo trading; ``flag="0"``
(live) works the same: the simulator serves both environments.

The SDK's websocket classes (``okx.websocket.WsPrivateAsync`` / ``WsPublicAsync``) always connect
with ``ssl=ssl.create_default_context()`` (plus certifi's roots), which ``websockets`` refuses for a
``ws://`` URL. So, as a deployment behind a TLS proxy would be, the tests put a TLS terminator in front
of the simulator's plain websocket port (fixture ``wss``: a throwaway self-signed certificate for
127.0.0.1, bytes relayed both ways) and make the default context trust that certificate the standard
way, ``SSL_CERT_FILE`` (read by ``set_default_verify_paths``), for those tests only. The SDK's classes
then run unchanged, only their URL set to ``wss://127.0.0.1:<port>/ws/v5/private`` or ``/public``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import okx.Account as OkxAccount
import okx.PublicData as OkxPublic
import okx.Trade as OkxTrade
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from okx.websocket.WsPrivateAsync import WsPrivateAsync
from okx.websocket.WsPublicAsync import WsPublicAsync

T = TypeVar("T")
D = Decimal


async def sdk(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def trade_api(sim: Simulator, account: Account, flag: str = "1", secret: str | None = None) -> OkxTrade.TradeAPI:
    rest = sim.ready["venues"]["okx"]["rest"]
    return OkxTrade.TradeAPI(
        account.api_key, secret or account.secret_key, account.passphrase, flag=flag, domain=rest, debug=False
    )


def bid_of(sim: Simulator, inst_id: str) -> Decimal:
    bid = sim.exchange.markets["okx"].books[inst_id].best_bid()
    assert bid is not None
    return bid


async def test_public_data(sim: Simulator) -> None:
    public = OkxPublic.PublicAPI(flag="1", domain=sim.ready["venues"]["okx"]["rest"], debug=False)
    spot = await sdk(lambda: public.get_instruments(instType="SPOT"))
    assert spot["code"] == "0" and {i["instId"] for i in spot["data"]} == {"BTC-USDT", "ETH-USDT"}
    swap = await sdk(lambda: public.get_instruments(instType="SWAP", instId="BTC-USDT-SWAP"))
    assert [(i["ctVal"], i["instIdCode"]) for i in swap["data"]] == [("0.01", 20001)]
    assert int((await sdk(public.get_system_time))["data"][0]["ts"]) > 0


async def test_place_amend_cancel_and_batches(sim: Simulator, account: Account) -> None:
    trade = trade_api(sim, account)
    bid = bid_of(sim, "BTC-USDT")
    placed = await sdk(
        lambda: trade.place_order(
            instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", sz="0.01", px=str(bid - 5), clOrdId="sdk1"
        )
    )
    assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0"
    ord_id = placed["data"][0]["ordId"]
    amended = await sdk(lambda: trade.amend_order(instId="BTC-USDT", ordId=ord_id, newSz="0.02", newPx=str(bid - 6)))
    assert amended["code"] == "0"
    got = await sdk(lambda: trade.get_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert (got["data"][0]["sz"], got["data"][0]["px"], got["data"][0]["state"]) == ("0.02", str(bid - 6), "live")
    listed = await sdk(lambda: trade.get_order_list(instType="SPOT"))
    assert [o["clOrdId"] for o in listed["data"]] == ["sdk1"]
    cancelled = await sdk(lambda: trade.cancel_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert cancelled["code"] == "0" and cancelled["data"][0]["ordId"] == ord_id
    again = await sdk(lambda: trade.cancel_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert (again["code"], again["data"][0]["sCode"]) == ("1", "51400")
    orders = [
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": str(bid - i),
            "clOrdId": f"sdkb{i}",
        }
        for i in (7, 8)
    ] + [
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": "1",
            "clOrdId": "x-y",
        }
    ]
    batch = await sdk(lambda: trade.place_multiple_orders(orders))
    assert batch["code"] == "2" and [d["sCode"] for d in batch["data"]] == ["0", "0", "51000"]  # partial success
    gone = await sdk(
        lambda: trade.cancel_multiple_orders([{"instId": "BTC-USDT", "clOrdId": c} for c in ("sdkb7", "sdkb8")])
    )
    assert gone["code"] == "0" and [d["sCode"] for d in gone["data"]] == ["0", "0"]


async def test_account_positions_and_fills(sim: Simulator, account: Account) -> None:
    rest = sim.ready["venues"]["okx"]["rest"]
    acct = OkxAccount.AccountAPI(
        account.api_key, account.secret_key, account.passphrase, flag="0", domain=rest, debug=False
    )
    trade = trade_api(sim, account, flag="0")
    balance = await sdk(lambda: acct.get_account_balance(ccy="USDT"))
    assert [(d["ccy"], d["availBal"]) for d in balance["data"][0]["details"]] == [("USDT", "100000")]
    config = await sdk(acct.get_account_config)
    assert config["data"][0]["posMode"] == "net_mode"
    bid = bid_of(sim, "BTC-USDT-SWAP") + D("0.1")  # a new best bid: first in its queue
    placed = await sdk(
        lambda: trade.place_order(
            instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", sz="3", px=str(bid)
        )
    )
    assert placed["code"] == "0"
    sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", bid, D("0.02"), Side.SELL)  # two contracts of 0.01 BTC
    fills = await sdk(lambda: trade.get_fills(instType="SWAP", instId="BTC-USDT-SWAP"))
    assert [(f["fillSz"], f["fillPx"], f["execType"]) for f in fills["data"]] == [("2", str(bid), "M")]
    positions = await sdk(lambda: acct.get_positions(instType="SWAP"))
    assert [(p["instId"], p["pos"], p["avgPx"]) for p in positions["data"]] == [("BTC-USDT-SWAP", "2", str(bid))]
    left = await sdk(lambda: trade.cancel_order(instId="BTC-USDT-SWAP", ordId=placed["data"][0]["ordId"]))
    assert left["code"] == "0"  # the unfilled contract leaves the shared book


async def test_attached_tp_sl_through_the_sdk(sim: Simulator, account: Account) -> None:
    """python-okx's ``place_order(attachAlgoOrds=...)``: the order lists its attached stop-loss; partially filled
    and then cancelled, OKX places it for the filled part (``order_algos_list``: a ``conditional`` of one contract
    under the ``attachAlgoClOrdId``), then ``cancel_algo_order`` cancels it."""
    trade = trade_api(sim, account, flag="0")
    bid = bid_of(sim, "BTC-USDT-SWAP") + D("0.1")  # a new best bid: first in its queue
    attach = [{"attachAlgoClOrdId": "sdkSl1", "slTriggerPx": str(bid - 100), "slOrdPx": "-1"}]
    placed = await sdk(
        lambda: trade.place_order(
            instId="BTC-USDT-SWAP",
            tdMode="cross",
            side="buy",
            ordType="limit",
            sz="2",
            px=str(bid),
            clOrdId="sdkAtt1",
            attachAlgoOrds=attach,
        )
    )
    assert placed["code"] == "0", placed
    got = await sdk(lambda: trade.get_order(instId="BTC-USDT-SWAP", clOrdId="sdkAtt1"))
    assert got["data"][0]["attachAlgoOrds"][0]["slTriggerPx"] == str(bid - 100)
    sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", bid, D("0.01"), Side.SELL)  # one contract of two
    left = await sdk(lambda: trade.cancel_order(instId="BTC-USDT-SWAP", clOrdId="sdkAtt1"))
    assert left["code"] == "0"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not (algos := (await sdk(lambda: trade.order_algos_list(ordType="conditional")))["data"]):
        assert loop.time() < deadline, "the attached stop-loss was never placed"
        await asyncio.sleep(0.05)  # the poll interval
    assert [(a["algoClOrdId"], a["side"], a["sz"], a["slTriggerPx"]) for a in algos] == [
        ("sdkSl1", "sell", "1", str(bid - 100))
    ]
    gone = await sdk(lambda: trade.cancel_algo_order([{"algoId": algos[0]["algoId"], "instId": "BTC-USDT-SWAP"}]))
    assert gone["code"] == "0"  # nothing left armed in the shared simulator


async def test_wrong_secret_gets_invalid_sign(sim: Simulator, account: Account) -> None:
    bad = trade_api(sim, account, secret="wrong")
    out = await sdk(lambda: bad.get_order_list())
    assert (out["code"], out["msg"]) == ("50113", "Invalid Sign")


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for ``127.0.0.1`` and ``localhost``, valid for a day: (certificate, key)
    PEM files. It is its own issuer, so trusting it (``SSL_CERT_FILE``) is enough to verify it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
async def wss(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """``wss://127.0.0.1:<port>``: a TLS terminator that relays bytes both ways to the simulator's OKX
    websocket port (which serves every ``/ws/v5/...`` path), with a throwaway certificate that
    ``ssl.create_default_context()`` trusts through ``SSL_CERT_FILE`` while this test runs."""
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    upstream = urlsplit(sim.ready["venues"]["okx"]["private"])
    relays: set[asyncio.Task[Any]] = set()

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
        finally:
            dst.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        relays.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)
        finally:
            writer.close()
            relays.discard(task)

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=tls)
    try:
        yield f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(relays):
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        await server.wait_closed()


class Inbox:
    """The SDK's websocket callback (it is called with each raw text message); tests wait on it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __call__(self, message: str) -> None:
        self.queue.put_nowait(json.loads(message))

    async def next(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next message ``match`` accepts (earlier ones are skipped); at most 5 s."""
        async with asyncio.timeout(5):
            while not match(message := await self.queue.get()):
                pass
        return message


def channel_push(channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("arg", {}).get("channel") == channel and "data" in m


def fields(item: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(item[name] for name in names)


def ack(event: str, channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("event") == event and m.get("arg", {}).get("channel") == channel


async def test_sdk_private_websocket_order_updates_fills_and_wrong_secret(
    sim: Simulator, account: Account, wss: str
) -> None:
    """``WsPrivateAsync`` used as the SDK documents it: ``start()``, then ``subscribe(args, callback)``,
    which sends the login and waits 5 s before subscribing; so the right and the wrong secret log in
    side by side rather than one after the other."""
    url = f"{wss}/ws/v5/private"
    client = WsPrivateAsync(account.api_key, account.passphrase, account.secret_key, url)
    wrong = WsPrivateAsync(account.api_key, account.passphrase, "wrong", url)
    consumers = [await client.start(), await wrong.start()]
    assert client.websocket is not None and wrong.websocket is not None  # the SDK returns None if TLS fails
    good, bad = Inbox(), Inbox()
    try:
        orders = [{"channel": "orders", "instType": "ANY"}]
        await asyncio.gather(client.subscribe(orders, good), wrong.subscribe(orders, bad))
        assert (await good.next(lambda m: m.get("event") == "login"))["code"] == "0"
        assert (await good.next(ack("subscribe", "orders")))["arg"] == orders[0]
        refused = await bad.next(lambda m: "event" in m)
        assert (refused["event"], refused["code"], refused["msg"]) == ("error", "60007", "Invalid sign")

        trade = trade_api(sim, account)
        price = bid_of(sim, "BTC-USDT") + D("0.1")  # a new best bid: first in its queue
        placed = await sdk(
            lambda: trade.place_order(
                instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", sz="0.01", px=str(price), clOrdId="wsf1"
            )
        )
        ord_id = placed["data"][0]["ordId"]
        live = (await good.next(channel_push("orders")))["data"][0]
        assert fields(live, "ordId", "clOrdId", "state", "px", "sz") == (ord_id, "wsf1", "live", str(price), "0.01")
        sim.synthetic.print_trade("okx", "BTC-USDT", price, D("0.01"), Side.SELL)
        filled = (await good.next(channel_push("orders")))["data"][0]
        assert fields(filled, "ordId", "state", "fillSz", "fillPx", "accFillSz") == (
            (ord_id, "filled", "0.01", str(price), "0.01")
        )
        fills = await sdk(lambda: trade.get_fills(instType="SPOT", instId="BTC-USDT", ordId=ord_id))
        assert filled["tradeId"] and [f["tradeId"] for f in fills["data"]] == [filled["tradeId"]]
    finally:
        await client.stop()
        await wrong.stop()
        await asyncio.gather(*consumers, return_exceptions=True)


async def test_sdk_public_websocket_bbo_and_trades(sim: Simulator, wss: str) -> None:
    client = WsPublicAsync(f"{wss}/ws/v5/public")
    consumer = await client.start()
    assert client.websocket is not None
    seen = Inbox()
    try:
        args = [{"channel": "bbo-tbt", "instId": "ETH-USDT"}, {"channel": "trades", "instId": "ETH-USDT"}]
        await client.subscribe(args, seen)
        book = sim.exchange.markets["okx"].books["ETH-USDT"]
        bbo = (await seen.next(channel_push("bbo-tbt")))["data"][0]
        assert (bbo["bids"][0][0], bbo["asks"][0][0]) == (str(book.best_bid()), str(book.best_ask()))
        await seen.next(ack("subscribe", "trades"))
        price = bid_of(sim, "ETH-USDT") + D("0.01")  # inside the spread: the print leaves the book as it was
        sim.synthetic.print_trade("okx", "ETH-USDT", price, D("0.02"), Side.SELL)
        printed = (await seen.next(channel_push("trades")))["data"][0]
        assert fields(printed, "instId", "px", "sz", "side") == ("ETH-USDT", str(price), "0.02", "sell")
    finally:
        await client.stop()
        with contextlib.suppress(Exception):
            await consumer
