"""The simulated Deribit FIX 4.4 acceptor over loopback TCP, driven by a raw simplefix client written
here from the FIX spec and Deribit's FIX pages (not the execx connector): Logon authentication, the
session protocol (sequence numbers, heartbeats, resend, gap fill, garbled and invalid messages),
order messages with their ExecutionReports, and cancel-on-disconnect."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
import simplefix
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import OrderType, Side

D = Decimal
PERP = "BTC-PERPETUAL"
_comp_ids = itertools.count(1)


class FixClient:
    """Just enough of a FIX initiator to speak to the acceptor message by message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, comp_id: str) -> None:
        self.reader = reader
        self.writer = writer
        self.comp_id = comp_id
        self.seq = 1
        self.parser = simplefix.FixParser()

    @classmethod
    async def connect(cls, url: str, comp_id: str) -> FixClient:
        host, port = url.removeprefix("tcp://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, comp_id)

    def build(
        self,
        msg_type: str,
        fields: list[tuple[int, str]],
        seq: int | None = None,
        header: list[tuple[int, str]] | None = None,
    ) -> bytes:
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4", header=True)
        m.append_pair(35, msg_type, header=True)
        m.append_pair(49, self.comp_id, header=True)
        m.append_pair(56, "DERIBITSERVER", header=True)
        m.append_pair(34, self.seq if seq is None else seq, header=True)
        for tag, value in header or []:
            m.append_pair(tag, value, header=True)
        for tag, value in fields:
            m.append_pair(tag, value)
        if seq is None:
            self.seq += 1
        return bytes(m.encode())

    def send(self, msg_type: str, fields: list[tuple[int, str]], **kw: object) -> None:
        self.writer.write(self.build(msg_type, fields, **kw))  # type: ignore[arg-type]

    async def recv(self) -> simplefix.FixMessage:
        async def read() -> simplefix.FixMessage:
            while True:
                msg = self.parser.get_message()
                if msg is not None:
                    return msg
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.parser.append_buffer(data)

        return await asyncio.wait_for(read(), 5.0)

    async def expect(self, msg_type: str, skip: tuple[str, ...] = ("0",)) -> simplefix.FixMessage:
        while True:
            msg = await self.recv()
            got = msg.get(35).decode()
            if got == msg_type:
                return msg
            assert got in skip, f"expected {msg_type}, got {msg}"

    async def closed(self) -> bool:
        """True once the acceptor closes the socket (messages before that are kept for ``recv``)."""

        async def until_eof() -> None:
            while data := await self.reader.read(65536):
                self.parser.append_buffer(data)

        try:
            await asyncio.wait_for(until_eof(), 5)
        except ConnectionError:
            pass
        return True

    async def logon(
        self,
        account: Account,
        secret: str | None = None,
        extra: list[tuple[int, str]] | None = None,
        reset: bool = True,
    ) -> simplefix.FixMessage:
        raw = f"{time.time_ns() // 1000}.{base64.b64encode(os.urandom(32)).decode()}"
        password = base64.b64encode(hashlib.sha256((raw + (secret or account.secret_key)).encode()).digest()).decode()
        fields = [(108, "30"), (96, raw), (553, account.api_key), (554, password)]
        if reset:
            fields.append((141, "Y"))
        self.send("A", fields + (extra or []))
        return await self.recv()

    def close(self) -> None:
        self.writer.close()


def g(msg: simplefix.FixMessage, tag: int) -> str | None:
    value = msg.get(tag)
    return None if value is None else value.decode()


@pytest.fixture
async def client(sim: Simulator, account: Account) -> AsyncIterator[FixClient]:
    c = await FixClient.connect(sim.ready["venues"]["deribit"]["fix"], f"T{next(_comp_ids)}")
    reply = await c.logon(account)
    assert g(reply, 35) == "A", reply
    yield c
    c.close()


def book(sim: Simulator) -> tuple[Decimal, Decimal]:
    b = sim.exchange.markets["deribit"].books[PERP]
    bid, ask = b.best_bid(), b.best_ask()
    assert bid is not None and ask is not None
    return bid, ask


def order(cl: str, side: str, qty: str, price: str | None = None, **extra: str) -> list[tuple[int, str]]:
    fields = [(11, cl), (54, side), (38, qty), (55, PERP)]
    if price is not None:
        fields += [(40, "2"), (44, price)]
    else:
        fields.append((40, "1"))
    return fields + [(int(k.removeprefix("t")), v) for k, v in extra.items()]


async def test_logon_echo_and_wrong_secret_refused(sim: Simulator, account: Account) -> None:
    url = sim.ready["venues"]["deribit"]["fix"]
    ok = await FixClient.connect(url, "LOGON1")
    reply = await ok.logon(account, extra=[(9001, "Y")])
    assert (g(reply, 35), g(reply, 49), g(reply, 56), g(reply, 108), g(reply, 9001)) == (
        "A",
        "DERIBITSERVER",
        "LOGON1",
        "30",
        "Y",
    )
    ok.close()
    bad = await FixClient.connect(url, "LOGON2")
    reply = await bad.logon(account, secret="not-the-secret")
    assert g(reply, 35) == "5"
    assert g(reply, 58) == "invalid_credentials: bad signature"
    assert await bad.closed()
    first = await FixClient.connect(url, "LOGON3")
    first.send("D", order("x", "1", "1", "100"))  # anything before Logon: the socket is closed
    assert await first.closed()


async def test_order_rests_then_fills_with_a_report_per_fill(sim: Simulator, client: FixClient) -> None:
    bid, ask = book(sim)
    client.send("D", order("rest-1", "1", "3", str(bid - 100), t100010="mylabel"))
    new = await client.expect("8")
    assert (g(new, 150), g(new, 39), g(new, 41), g(new, 38), g(new, 151), D(g(new, 44) or 0), g(new, 100010)) == (
        "0",
        "0",
        "rest-1",
        "3",
        "3",
        bid - 100,
        "mylabel",
    )
    assert g(new, 11) == g(new, 37)  # Deribit puts its own id in ClOrdID; the client's is in OrigClOrdID
    # A buy that crosses the best ask: NEW, then one ExecutionReport per fill.
    client.send("D", order("take-1", "1", "2", str(ask)))
    reports = [await client.expect("8") for _ in range(2)]
    assert [g(r, 150) for r in reports] == ["0", "F"]
    fill = reports[1]
    assert (g(fill, 39), D(g(fill, 31) or 0), g(fill, 32), g(fill, 14), g(fill, 151), g(fill, 851)) == (
        "2",
        ask,
        "2",
        "2",
        "0",
        "2",
    )
    assert g(fill, 880) is not None


async def test_cancel_replace_and_mass_cancel(sim: Simulator, client: FixClient) -> None:
    bid, _ = book(sim)
    px = bid - 50
    client.send("D", order("c-1", "1", "5", str(px)))
    new = await client.expect("8")
    oid = g(new, 37)
    # Replace by Deribit id in OrigClOrdID(41): new price and quantity.
    client.send("G", [(41, oid or ""), (54, "1"), (38, "7"), (55, PERP), (40, "2"), (44, str(px - 1))])
    rep = await client.expect("8")
    assert (g(rep, 150), g(rep, 37), g(rep, 38), D(g(rep, 44) or 0), g(rep, 41)) == ("5", oid, "7", px - 1, "c-1")
    # Cancel by the client's original ClOrdID in 11 (+ Symbol).
    client.send("F", [(11, "c-1"), (55, PERP)])
    cxl = await client.expect("8")
    assert (g(cxl, 150), g(cxl, 39), g(cxl, 37), g(cxl, 151)) == ("4", "4", oid, "0")
    # Cancelling it again: OrderCancelReject with Deribit's reason.
    client.send("F", [(41, oid or "")])
    rej = await client.expect("9")
    assert (g(rej, 58), g(rej, 434), g(rej, 39)) == ("not_open_order", "1", "4")
    client.send("F", [(41, "424242")])
    rej = await client.expect("9")
    assert g(rej, 58) == "order_not_found"
    # Mass cancel by symbol: every resting order of the symbol, then the report.
    for i in range(2):
        client.send("D", order(f"m-{i}", "2", "1", str(book(sim)[1] + 100 + i)))
        await client.expect("8")
    client.send("q", [(11, "mass-1"), (530, "1"), (55, PERP)])
    cancelled = [await client.expect("8") for _ in range(2)]
    assert {g(r, 41) for r in cancelled} == {"m-0", "m-1"}
    report = await client.expect("r")
    assert (g(report, 530), g(report, 531), g(report, 533)) == ("1", "1", "2")


async def test_post_only_reprices_or_rejects(sim: Simulator, client: FixClient) -> None:
    bid, ask = book(sim)
    client.send("D", order("po-1", "1", "1", str(ask + 10), t18="6"))
    new = await client.expect("8")
    assert (g(new, 150), D(g(new, 44) or "0"), g(new, 18)) == ("0", ask - D("0.5"), "6")
    client.send("D", order("po-2", "1", "1", str(ask + 10), t18="6A"))
    rej = await client.expect("8")
    assert (g(rej, 150), g(rej, 39), g(rej, 58), g(rej, 41)) == ("8", "8", "post_only_reject", "po-2")
    client.send("D", order("bad-tick", "1", "1", str(bid - D("0.3"))))
    rej = await client.expect("8")
    assert g(rej, 58) == "price_wrong_tick"
    client.send("D", [(11, "nosym"), (54, "1"), (38, "1"), (55, "NOPE-PERPETUAL"), (44, "1")])
    rej = await client.expect("8")
    assert (g(rej, 58), g(rej, 103)) == ("invalid_or_unsupported_instrument", "1")


async def test_session_rejects_bad_messages_without_dropping(client: FixClient) -> None:
    client.send("D", [(11, "x"), (54, "1"), (55, PERP)])  # OrderQty(38) missing
    rej = await client.expect("3")
    assert (g(rej, 373), g(rej, 371), g(rej, 372), g(rej, 45)) == ("1", "38", "D", str(client.seq - 1))
    client.send("ZZ", [])
    rej = await client.expect("3")
    assert (g(rej, 373), g(rej, 58)) == ("11", "Invalid MsgType")
    client.send("H", [(11, "x"), (54, "1"), (55, PERP)])  # FIX 4.4 OrderStatusRequest, not served here
    bmr = await client.expect("j")
    assert (g(bmr, 380), g(bmr, 372)) == ("3", "H")
    # A garbled message (bad checksum) is ignored and does not use up a sequence number...
    good = client.build("1", [(112, "after-garbled")], seq=client.seq)
    garbled = good[:-4] + (b"000\x01" if not good.endswith(b"000\x01") else b"001\x01")
    client.writer.write(garbled)
    client.send("1", [(112, "t1")])
    hb = await client.expect("0", skip=())
    assert g(hb, 112) == "t1"
    # ...so a message after a real gap is answered with a ResendRequest from the expected number.
    expected = client.seq
    client.seq += 2
    client.send("1", [(112, "t2")])
    rr = await client.expect("2")
    assert (g(rr, 7), g(rr, 16)) == (str(expected), "0")
    client.send("4", [(123, "Y"), (36, str(client.seq))], seq=expected, header=[(43, "Y"), (122, "20260101-00:00:00")])
    client.send("1", [(112, "t3")])
    hb = await client.expect("0", skip=())
    assert g(hb, 112) == "t3"


async def test_resend_request_gap_fills_admin_and_replays_reports(sim: Simulator, client: FixClient) -> None:
    bid, _ = book(sim)
    client.send("1", [(112, "a")])
    first_hb = await client.expect("0", skip=())
    client.send("D", order("rs-1", "1", "1", str(bid - 70)))
    report = await client.expect("8")
    client.send("2", [(7, "1"), (16, "0")])
    logon_gap = await client.recv()
    assert (g(logon_gap, 35), g(logon_gap, 34), g(logon_gap, 123), g(logon_gap, 43)) == ("4", "1", "Y", "Y")
    assert g(logon_gap, 36) == g(report, 34)  # Logon and heartbeat gap-filled up to the report
    assert int(g(first_hb, 34) or 0) < int(g(report, 34) or 0)
    replay = await client.recv()
    assert (g(replay, 35), g(replay, 34), g(replay, 43), g(replay, 41)) == ("8", g(report, 34), "Y", "rs-1")
    assert g(replay, 122) == g(report, 52)


async def test_sequence_continues_across_reconnect_and_too_low_is_refused(sim: Simulator, account: Account) -> None:
    url = sim.ready["venues"]["deribit"]["fix"]
    c = await FixClient.connect(url, "SEQ1")
    reply = await c.logon(account)
    assert g(reply, 34) == "1"
    c.send("1", [(112, "x")])
    await c.expect("0", skip=())
    c.close()
    again = await FixClient.connect(url, "SEQ1")
    again.seq = c.seq
    reply = await again.logon(account, reset=False)
    assert (g(reply, 35), g(reply, 34)) == ("A", "3")  # our Logon echo and heartbeat were 1 and 2
    again.close()
    low = await FixClient.connect(url, "SEQ1")
    low.seq = 1
    reply = await low.logon(account, reset=False)
    assert g(reply, 35) == "5"
    assert g(reply, 58) == f"MsgSeqNum too low, expecting {again.seq} but received 1"
    # SequenceReset-Reset: Deribit answers with a ResendRequest for NewSeqNo.
    reset = await FixClient.connect(url, "SEQ1")
    await reset.logon(account)
    reset.send("4", [(36, "50")])
    rr = await reset.expect("2")
    assert (g(rr, 7), g(rr, 16)) == ("50", "50")
    reset.seq = 50
    reset.send("1", [(112, "after-reset")])
    assert g(await reset.expect("0", skip=()), 112) == "after-reset"
    reset.close()


async def test_cancel_on_disconnect(sim: Simulator, account: Account) -> None:
    url = sim.ready["venues"]["deribit"]["fix"]
    market = sim.exchange.markets["deribit"]
    bid, _ = book(sim)
    other = market.place(account, PERP, Side.BUY, OrderType.LIMIT, D(1), bid - 200)  # not this connection's
    cod = await FixClient.connect(url, "COD1")
    await cod.logon(account, extra=[(9001, "Y")])
    cod.send("D", order("cod-1", "1", "2", str(bid - 80)))
    oid = int(g(await cod.expect("8"), 37) or 0)
    assert market.orders[oid].is_open
    cod.writer.transport.abort()  # the socket drops without a Logout
    for _ in range(200):
        if not market.orders[oid].is_open:
            break
        await asyncio.sleep(0.01)
    assert market.orders[oid].status.value == "CANCELED"
    assert other.is_open
    # Logout with DontCancelOnDisconnect(9003)=Y keeps the orders.
    keep = await FixClient.connect(url, "COD2")
    await keep.logon(account, extra=[(9001, "Y")])
    keep.send("D", order("cod-2", "1", "2", str(bid - 81)))
    oid2 = int(g(await keep.expect("8"), 37) or 0)
    keep.send("5", [(9003, "Y")])
    assert g(await keep.expect("5"), 35) == "5"
    assert market.orders[oid2].is_open
    market.cancel(account, PERP, order_id=oid2)
    market.cancel(account, PERP, order_id=other.order_id)


async def test_silent_client_gets_heartbeat_then_test_request_then_is_dropped(sim: Simulator, account: Account) -> None:
    """HeartBtInt 1: the acceptor heartbeats, asks with TestRequest, and drops a client that never
    answers; its cancel-on-disconnect then cancels the order."""
    market = sim.exchange.markets["deribit"]
    c = await FixClient.connect(sim.ready["venues"]["deribit"]["fix"], "QUIET1")
    raw = f"{time.time_ns() // 1000}.{base64.b64encode(os.urandom(32)).decode()}"
    password = base64.b64encode(hashlib.sha256((raw + account.secret_key).encode()).digest()).decode()
    c.send("A", [(108, "1"), (96, raw), (553, account.api_key), (554, password), (141, "Y"), (9001, "Y")])
    assert g(await c.recv(), 35) == "A"
    c.send("D", order("quiet-1", "1", "1", str(book(sim)[0] - 90)))
    oid = int(g(await c.expect("8"), 37) or 0)
    assert g(await c.recv(), 35) == "0"  # nothing sent for HeartBtInt: a Heartbeat
    test_request = await c.expect("1")
    assert g(test_request, 112)
    assert await c.closed()  # never answered: the session is considered lost
    for _ in range(300):
        if not market.orders[oid].is_open:
            break
        await asyncio.sleep(0.01)
    assert market.orders[oid].status.value == "CANCELED"


async def test_logon_with_a_gap_and_the_admin_drop_fault(sim: Simulator, account: Account) -> None:
    url = sim.ready["venues"]["deribit"]["fix"]
    c = await FixClient.connect(url, "GAP1")
    await c.logon(account)
    c.close()
    again = await FixClient.connect(url, "GAP1")
    again.seq = 5  # the acceptor expects 2: it accepts the Logon and asks for 2 onwards
    reply = await again.logon(account, reset=False)
    assert g(reply, 35) == "A"
    rr = await again.expect("2")
    assert (g(rr, 7), g(rr, 16)) == ("2", "0")
    again.send("4", [(123, "Y"), (36, "6")], seq=2, header=[(43, "Y"), (122, "20260101-00:00:00")])
    again.send("1", [(112, "after-gap")])
    assert g(await again.expect("0", skip=()), 112) == "after-gap"
    async with aiohttp.ClientSession() as http, http.post(sim.ready["admin"] + "/admin/faults/deribit/drop") as r:
        assert r.status == 200 and (await r.json())["dropped"] >= 1
    assert await again.closed()


async def test_wordsafe_tags_move_the_label_to_5010(sim: Simulator, account: Account) -> None:
    c = await FixClient.connect(sim.ready["venues"]["deribit"]["fix"], "WORDSAFE1")
    reply = await c.logon(account, extra=[(9002, "Y")])
    assert g(reply, 9002) == "Y"
    c.send("D", order("ws-1", "1", "1", str(book(sim)[0] - 95), t5010="short-tags"))
    new = await c.expect("8")
    assert (g(new, 5010), g(new, 100010)) == ("short-tags", None)
    c.send("q", [(11, "ws-mass"), (530, "10"), (5010, "short-tags")])
    assert g(await c.expect("8"), 150) == "4"
    assert g(await c.expect("r"), 533) == "1"
    c.close()


async def test_order_mass_status(sim: Simulator, client: FixClient) -> None:
    bid, _ = book(sim)
    ids = []
    for cl in ("st-1", "st-2"):
        client.send("D", order(cl, "1", "1", str(bid - 120), t100010="status"))
        ids.append(g(await client.expect("8"), 37))
    client.send("AF", [(584, "all-1"), (585, "7")])
    reports = [await client.expect("8") for _ in range(2)]
    assert [(g(r, 150), g(r, 37), g(r, 584), g(r, 911)) for r in reports] == [
        ("I", ids[0], "all-1", "2"),
        ("I", ids[1], "all-1", "2"),
    ]
    assert (g(reports[0], 585), g(reports[0], 912), g(reports[1], 912)) == ("7", None, "Y")
    # By the client's ClOrdID (9014=1, with Symbol), then one order by Deribit id after its cancel.
    client.send("AF", [(584, "st-2"), (585, "7"), (9014, "1"), (55, PERP)])
    assert (g(r := await client.expect("8"), 37), g(r, 41), g(r, 912)) == (ids[1], "st-2", "Y")
    client.send("F", [(41, ids[0] or "")])
    await client.expect("8")
    client.send("AF", [(584, ids[0] or ""), (585, "1")])
    assert (g(r := await client.expect("8"), 150), g(r, 39), g(r, 37)) == ("I", "4", ids[0])
    client.send("AF", [(584, "999"), (585, "1")])
    assert (g(r := await client.expect("8"), 37), g(r, 911), g(r, 58)) == ("NONE", "0", "order_not_found")
    client.send("q", [(11, "st-mass"), (530, "10"), (100010, "status")])
    await client.expect("8")
    await client.expect("r")
