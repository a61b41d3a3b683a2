"""Binance spot order lists beyond OCO on the raw wire (rest-api.md / web-socket-api.md "Order lists"): OTO and
OTOCO placed over REST and the WebSocket API, their pending orders (``PENDING_NEW`` until the working order is
fully filled), ``listStatus`` and ``executionReport`` events on the WebSocket API's user data stream, and
``DELETE /api/v3/orderList`` / ``orderList.cancel``, ``GET /api/v3/orderList`` / ``orderList.status``,
``openOrderList`` / ``openOrderLists.status``, ``allOrderList`` / ``allOrderLists``. The simulator is quiet (a
static book); the tests print the trades that fill a working order (``sim.synthetic.print_trade``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from test_binance_spot_ccxt import admin, best_bid_ask, configure
from test_binance_spot_edges import Client, own_sim_at_ask, ws_call
from waiting import until

VENUE, SYMBOL = "binance-spot", "BTCUSDT"
WAIT_S = 15.0  # generous: a loaded 2-core CI machine


class UserData:
    """The account's user data stream on a WebSocket API connection: every event frame, as it comes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.replies: dict[Any, dict[str, Any]] = {}
        self._next_id = 100

    async def run(self) -> None:
        async for msg in self.ws:
            frame = msg.json()
            if "event" in frame:
                self.events.append(frame["event"])
            elif "id" in frame:
                self.replies[frame["id"]] = frame
            self.changed.set()

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        rid = self._next_id
        await self.ws.send_json({"id": rid, "method": method, "params": params})
        await until(self.changed, lambda: rid in self.replies, f"the answer to {method}", WAIT_S)
        return self.replies.pop(rid)

    def reports(self, client_id: str) -> list[tuple[str, str]]:
        return [(e["x"], e["X"]) for e in self.events if e["e"] == "executionReport" and e["c"] == client_id]

    def lists(self, list_id: int) -> list[tuple[str, str, str]]:
        return [(e["c"], e["l"], e["L"]) for e in self.events if e["e"] == "listStatus" and e["g"] == list_id]

    async def wait(self, predicate: Callable[[], object], what: str) -> None:
        await until(self.changed, predicate, what, WAIT_S, detail=lambda: f"events {self.events}")


@contextlib.asynccontextmanager
async def user_data(client: Client) -> AsyncIterator[UserData]:
    async with client.session.ws_connect(client.urls["wsApi"]) as ws:
        reply = await ws_call(
            ws, {"id": 1, "method": "userDataStream.subscribe.signature", "params": client.ws_params({})}
        )
        assert reply["status"] == 200, reply
        stream = UserData(ws)
        task = asyncio.create_task(stream.run())
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def own() -> AsyncIterator[tuple[Simulator, Account]]:
    """A simulator of each test's own (not the session's: these tests print trades, which take its book)."""
    async with own_sim_at_ask() as (sim, account, _):
        yield sim, account


@pytest.fixture
def sim(own: tuple[Simulator, Account]) -> Simulator:
    return own[0]


@pytest.fixture
def account(own: tuple[Simulator, Account]) -> Account:
    return own[1]


@pytest.fixture
async def client(sim: Simulator, account: Account) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, sim, account)


def oto(bid: Decimal, ask: Decimal, tag: str, **extra: Any) -> dict[str, Any]:
    """A BUY working limit below the bid; a SELL pending limit maker above the ask once it has bought."""
    return {
        "symbol": SYMBOL,
        "listClientOrderId": tag,
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingClientOrderId": f"{tag}-w",
        "workingPrice": str(bid - 100),
        "workingQuantity": "0.01",
        "workingTimeInForce": "GTC",
        "pendingType": "LIMIT_MAKER",
        "pendingSide": "SELL",
        "pendingClientOrderId": f"{tag}-p",
        "pendingPrice": str(ask + 500),
        "pendingQuantity": "0.01",
        **extra,
    }


def otoco(bid: Decimal, ask: Decimal, tag: str) -> dict[str, Any]:
    """A BUY working limit maker below the bid; once filled, a SELL take-profit limit maker above the ask and a
    stop-loss limit below the working price."""
    working = bid - 100
    return {
        "symbol": SYMBOL,
        "listClientOrderId": tag,
        "workingType": "LIMIT_MAKER",
        "workingSide": "BUY",
        "workingClientOrderId": f"{tag}-w",
        "workingPrice": str(working),
        "workingQuantity": "0.01",
        "pendingSide": "SELL",
        "pendingQuantity": "0.01",
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAboveClientOrderId": f"{tag}-tp",
        "pendingAbovePrice": str(ask + 500),
        "pendingBelowType": "STOP_LOSS_LIMIT",
        "pendingBelowClientOrderId": f"{tag}-sl",
        "pendingBelowStopPrice": str(working - 100),
        "pendingBelowPrice": str(working - 150),
        "pendingBelowTimeInForce": "GTC",
    }


async def test_oto_over_rest_pending_until_the_working_order_fills(client: Client, sim: Simulator) -> None:
    """``POST /api/v3/orderList/oto``: refused as a whole for a bad working type or a missing pending price (the
    error names the list's parameter, nothing is placed); placed as a working LIMIT (``NEW``) and a pending
    LIMIT_MAKER (``PENDING_NEW``, ``workingTime`` -1, ``isWorking`` false; its ``executionReport`` NEW /
    PENDING_NEW), one ``orderListId``, contingency type OTO, listed by ``openOrderList`` / ``orderList``. A print
    that fully fills the working order places the pending one (NEW / NEW, on the book) and ends the list
    (``listStatus`` ALL_DONE); ``myTrades`` names the list; ``allOrderList`` then lists it done."""
    bid, ask = best_bid_ask(sim)
    params = oto(bid, ask, "oto-1")
    status, _, body = await client.rest("POST", "/api/v3/orderList/oto", {**params, "workingType": "MARKET"})
    assert (status, body) == (400, {"code": -1130, "msg": "Data sent for parameter 'workingType' is not valid."})
    bad = {k: v for k, v in params.items() if k != "pendingPrice"} | {
        "pendingType": "LIMIT",
        "pendingTimeInForce": "GTC",
    }
    status, _, body = await client.rest("POST", "/api/v3/orderList/oto", bad)
    assert (status, body["code"]) == (400, -1102) and "'pendingPrice'" in body["msg"], body
    status, _, body = await client.rest("GET", "/api/v3/openOrders", {"symbol": SYMBOL})
    assert body == []
    async with user_data(client) as stream:
        status, headers, placed = await client.rest("POST", "/api/v3/orderList/oto", params)
        assert status == 200, placed
        assert headers["X-MBX-ORDER-COUNT-10S"] == "2"  # an OTO counts two orders
        list_id = placed["orderListId"]
        assert (placed["contingencyType"], placed["listStatusType"], placed["listOrderStatus"]) == (
            "OTO",
            "EXEC_STARTED",
            "EXECUTING",
        )
        assert [o["clientOrderId"] for o in placed["orders"]] == ["oto-1-w", "oto-1-p"]
        working, pending = placed["orderReports"]
        assert (working["type"], working["status"], working["orderListId"]) == ("LIMIT", "NEW", list_id)
        assert (pending["type"], pending["status"], pending["workingTime"], pending["orderListId"]) == (
            "LIMIT_MAKER",
            "PENDING_NEW",
            -1,
            list_id,
        )
        assert working["orderId"] < pending["orderId"]
        status, _, query = await client.rest("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "oto-1-p"})
        assert (query["status"], query["isWorking"], query["orderListId"]) == ("PENDING_NEW", False, list_id)
        status, _, lists = await client.rest("GET", "/api/v3/openOrderList", {})
        assert [(x["orderListId"], x["listStatusType"]) for x in lists] == [(list_id, "EXEC_STARTED")]
        status, _, by_cid = await client.rest("GET", "/api/v3/orderList", {"origClientOrderId": "oto-1"})
        assert by_cid == {k: v for k, v in placed.items() if k != "orderReports"}
        await stream.wait(lambda: stream.reports("oto-1-p"), "the pending order's executionReport")
        assert stream.reports("oto-1-p") == [("NEW", "PENDING_NEW")]

        sim.synthetic.print_trade(VENUE, SYMBOL, bid - 100, Decimal("0.01"), Side.SELL)
        await stream.wait(lambda: ("OTO", "ALL_DONE", "ALL_DONE") in stream.lists(list_id), "the list ALL_DONE")
        await stream.wait(lambda: ("NEW", "NEW") in stream.reports("oto-1-p"), "the pending order placed")
        assert stream.lists(list_id) == [("OTO", "EXEC_STARTED", "EXECUTING"), ("OTO", "ALL_DONE", "ALL_DONE")]
        assert stream.reports("oto-1-w")[-1] == ("TRADE", "FILLED")
        assert stream.reports("oto-1-p") == [("NEW", "PENDING_NEW"), ("NEW", "NEW")]
        placed_event = [e for e in stream.events if e.get("c") == "oto-1-p"][-1]
        assert placed_event["w"] is True and placed_event["W"] > 0 and placed_event["g"] == list_id
    status, _, query = await client.rest("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "oto-1-p"})
    assert (query["status"], query["isWorking"], query["price"]) == ("NEW", True, f"{ask + 500:.8f}")
    status, _, lists = await client.rest("GET", "/api/v3/openOrderList", {})
    assert lists == []
    status, _, trades = await client.rest("GET", "/api/v3/myTrades", {"symbol": SYMBOL})
    assert [(t["orderId"], t["orderListId"]) for t in trades] == [(working["orderId"], list_id)]
    status, _, history = await client.rest("GET", "/api/v3/allOrderList", {})
    assert [(x["orderListId"], x["listStatusType"], x["listOrderStatus"]) for x in history] == [
        (list_id, "ALL_DONE", "ALL_DONE")
    ]


async def test_oto_working_filled_at_once_expired_or_cancelled(client: Client, sim: Simulator) -> None:
    """A working order that fills at placement: the answer (``newOrderRespType`` FULL: with its fills) shows it
    FILLED and the pending order still PENDING_NEW (rest-api.md), placed right after. A working IOC that
    expires: the pending order expires (``eR`` OTO_PHASE_ONE_EXPIRED). A cancel of the pending order
    (``DELETE /api/v3/order``) cancels the working one too; an unknown list is -2011 "Unknown order list sent."
    to cancel, -2018 to query."""
    bid, ask = best_bid_ask(sim)
    async with user_data(client) as stream:
        taker = oto(bid, ask, "oto-t", workingPrice=str(ask), workingQuantity="0.001", pendingQuantity="0.001")
        status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", {**taker, "newOrderRespType": "FULL"})
        assert status == 200, placed
        assert [r["status"] for r in placed["orderReports"]] == ["FILLED", "PENDING_NEW"]
        working_fills, pending_fills = (r["fills"] for r in placed["orderReports"])  # FULL: the reports' fills
        assert sum(Decimal(f["qty"]) for f in working_fills) == Decimal("0.001") and pending_fills == []
        await stream.wait(lambda: ("NEW", "NEW") in stream.reports("oto-t-p"), "the pending order placed")
        await stream.wait(lambda: stream.lists(placed["orderListId"])[-1:] == [("OTO", "ALL_DONE", "ALL_DONE")], "done")

        ioc = oto(bid, ask, "oto-i", workingTimeInForce="IOC")
        status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", ioc)
        assert status == 200, placed
        assert [r["status"] for r in placed["orderReports"]] == ["EXPIRED", "PENDING_NEW"]
        await stream.wait(lambda: ("EXPIRED", "EXPIRED") in stream.reports("oto-i-p"), "the pending order expired")
        expired = [e for e in stream.events if e.get("c") == "oto-i-p" and e["x"] == "EXPIRED"]
        assert expired[0]["eR"] == "OTO_PHASE_ONE_EXPIRED"
        await stream.wait(lambda: stream.lists(placed["orderListId"])[-1:] == [("OTO", "ALL_DONE", "ALL_DONE")], "done")

        status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", oto(bid, ask, "oto-c"))
        assert status == 200, placed
        status, _, cancelled = await client.rest(
            "DELETE", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "oto-c-p", "newClientOrderId": "kill-p"}
        )
        assert (status, cancelled["status"], cancelled["orderListId"]) == (200, "CANCELED", placed["orderListId"])
        await stream.wait(
            lambda: stream.reports("oto-c-w")[-1:] == [("CANCELED", "CANCELED")],
            "the working order cancelled",
        )
        await stream.wait(lambda: stream.lists(placed["orderListId"])[-1:] == [("OTO", "ALL_DONE", "ALL_DONE")], "done")
    status, _, query = await client.rest("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "oto-c-w"})
    assert query["status"] == "CANCELED"
    status, _, body = await client.rest(
        "DELETE", "/api/v3/orderList", {"symbol": SYMBOL, "orderListId": placed["orderListId"]}
    )
    assert (status, body) == (400, {"code": -2011, "msg": "Unknown order list sent."})
    status, _, body = await client.rest("GET", "/api/v3/orderList", {"orderListId": 987654})
    assert (status, body) == (400, {"code": -2018, "msg": "Order list does not exist."})
    status, _, body = await client.rest("GET", "/api/v3/orderList", {})
    assert (status, body["code"]) == (400, -1102)


async def test_otoco_over_the_ws_api(client: Client, sim: Simulator) -> None:
    """``orderList.place.otoco``: a working LIMIT_MAKER and a pending SELL pair (stop-loss leg listed first),
    contingency type OTO, pending orders PENDING_NEW. The working order filled: both pending orders placed
    (NEW / NEW) and a ``listStatus`` update; the last price then falling to the stop fires it and expires the
    take-profit (``eR`` OCO_TRIGGER), list ALL_DONE. A second OTOCO cancelled with ``orderList.cancel`` (by
    ``listClientOrderId``): every order CANCELED under the cancel's client id; ``orderList.status``,
    ``openOrderLists.status`` and ``allOrderLists`` agree."""
    bid, ask = best_bid_ask(sim)
    async with user_data(client) as stream:
        reply = await stream.call("orderList.place.otoco", client.ws_params(otoco(bid, ask, "otoco-1")))
        assert reply["status"] == 200, reply
        placed = reply["result"]
        list_id = placed["orderListId"]
        assert (placed["contingencyType"], placed["listStatusType"]) == ("OTO", "EXEC_STARTED")
        assert [o["clientOrderId"] for o in placed["orders"]] == ["otoco-1-w", "otoco-1-sl", "otoco-1-tp"]
        assert [(r["type"], r["status"]) for r in placed["orderReports"]] == [
            ("LIMIT_MAKER", "NEW"),
            ("STOP_LOSS_LIMIT", "PENDING_NEW"),
            ("LIMIT_MAKER", "PENDING_NEW"),
        ]
        assert placed["orderReports"][1]["stopPrice"] == f"{bid - 200:.8f}"
        reply = await stream.call("openOrderLists.status", client.ws_params({}))
        assert [x["orderListId"] for x in reply["result"]] == [list_id]

        sim.synthetic.print_trade(VENUE, SYMBOL, bid - 100, Decimal("0.01"), Side.SELL)
        await stream.wait(lambda: len(stream.lists(list_id)) >= 2, "the list's update")
        await stream.wait(
            lambda: ("NEW", "NEW") in stream.reports("otoco-1-sl") and ("NEW", "NEW") in stream.reports("otoco-1-tp"),
            "both pending orders placed",
        )
        assert stream.lists(list_id)[:2] == [("OTO", "EXEC_STARTED", "EXECUTING")] * 2
        reply = await stream.call(
            "order.status", client.ws_params({"symbol": SYMBOL, "origClientOrderId": "otoco-1-sl"})
        )
        assert (reply["result"]["status"], reply["result"]["isWorking"]) == ("NEW", False)  # waits for its stop

        sim.synthetic.print_trade(VENUE, SYMBOL, bid - 200, Decimal("0.001"), Side.SELL)
        await stream.wait(lambda: ("OTO", "ALL_DONE", "ALL_DONE") in stream.lists(list_id), "the list ALL_DONE")
        await stream.wait(lambda: ("EXPIRED", "EXPIRED") in stream.reports("otoco-1-tp"), "the take-profit expired")
        assert [e["eR"] for e in stream.events if e.get("c") == "otoco-1-tp" and e["x"] == "EXPIRED"] == ["OCO_TRIGGER"]
        assert stream.reports("otoco-1-sl")[:3] == [("NEW", "PENDING_NEW"), ("NEW", "NEW"), ("NEW", "NEW")]

        # (the prints took the book's bids; the fired stop-loss rests at bid - 250)
        reply = await stream.call("orderList.place.otoco", client.ws_params(otoco(bid - 300, ask, "otoco-2")))
        assert reply["status"] == 200, reply
        second = reply["result"]["orderListId"]
        reply = await stream.call(
            "orderList.cancel",
            client.ws_params({"symbol": SYMBOL, "listClientOrderId": "otoco-2", "newClientOrderId": "cancel-2"}),
        )
        assert reply["status"] == 200, reply
        cancelled = reply["result"]
        assert (cancelled["orderListId"], cancelled["listStatusType"], cancelled["listOrderStatus"]) == (
            second,
            "ALL_DONE",
            "ALL_DONE",
        )
        assert [(r["origClientOrderId"], r["clientOrderId"], r["status"]) for r in cancelled["orderReports"]] == [
            ("otoco-2-w", "cancel-2", "CANCELED"),
            ("otoco-2-sl", "cancel-2", "CANCELED"),
            ("otoco-2-tp", "cancel-2", "CANCELED"),
        ]
        reply = await stream.call("orderList.status", client.ws_params({"orderListId": second}))
        assert reply["result"]["listStatusType"] == "ALL_DONE"
        reply = await stream.call("openOrderLists.status", client.ws_params({}))
        assert reply["result"] == []
        reply = await stream.call("allOrderLists", client.ws_params({}))
        assert [x["orderListId"] for x in reply["result"]] == [second, list_id]
        await stream.wait(
            lambda: stream.lists(second)[-1:] == [("OTO", "ALL_DONE", "ALL_DONE")], "the cancel's listStatus"
        )


async def test_cancel_open_orders_answers_a_list_as_its_list_object(client: Client, sim: Simulator) -> None:
    """``DELETE /api/v3/openOrders`` "includes orders that are part of an order list" (rest-api.md): a plain
    order is answered as a cancel, an OTO as its list object (ALL_DONE, ``orderReports``), every report under
    the request's one cancel client id; no open list is left."""
    bid, ask = best_bid_ask(sim)
    plain = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
    status, _, order = await client.rest("POST", "/api/v3/order", {**plain, "price": str(bid - 300)})
    assert status == 200, order
    status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", oto(bid, ask, "oto-a"))
    assert status == 200, placed
    status, _, cancelled = await client.rest("DELETE", "/api/v3/openOrders", {"symbol": SYMBOL})
    assert status == 200, cancelled
    first, second = cancelled
    assert (first["orderId"], first["orderListId"], first["status"]) == (order["orderId"], -1, "CANCELED")
    assert (second["orderListId"], second["contingencyType"], second["listStatusType"]) == (
        placed["orderListId"],
        "OTO",
        "ALL_DONE",
    )
    reports = second["orderReports"]
    assert [(r["origClientOrderId"], r["status"]) for r in reports] == [
        ("oto-a-w", "CANCELED"),
        ("oto-a-p", "CANCELED"),
    ]
    assert {first["clientOrderId"]} == {r["clientOrderId"] for r in reports}
    status, _, lists = await client.rest("GET", "/api/v3/openOrderList", {})
    assert lists == []


async def test_oto_pending_trailing_stop(client: Client, sim: Simulator) -> None:
    """An OTO whose pending order is a trailing STOP_LOSS (``pendingTrailingDelta``, DECIMAL in the list
    endpoints: "250.0"): PENDING_NEW with its ``trailingDelta`` until the working order fills, then placed as a
    held stop (NEW, not working, no ``W``) that trails from the last price and fires once the price falls 2.5 %
    from it."""
    bid, ask = best_bid_ask(sim)
    params = {k: v for k, v in oto(bid, ask, "oto-s").items() if k != "pendingPrice"}
    params |= {"pendingType": "STOP_LOSS", "pendingTrailingDelta": "250.0"}
    async with user_data(client) as stream:
        status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", params)
        assert status == 200, placed
        pending = placed["orderReports"][1]
        assert (pending["type"], pending["status"], pending["trailingDelta"]) == ("STOP_LOSS", "PENDING_NEW", 250)
        sim.synthetic.print_trade(VENUE, SYMBOL, bid - 100, Decimal("0.01"), Side.SELL)
        await stream.wait(lambda: ("NEW", "NEW") in stream.reports("oto-s-p"), "the stop placed")
        held = [e for e in stream.events if e.get("c") == "oto-s-p"][-1]
        assert (held["o"], held["w"], held["d"], "W" in held) == ("STOP_LOSS", False, 250, False)
        status, _, query = await client.rest("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "oto-s-p"})
        assert (query["status"], query["isWorking"], query["trailingDelta"]) == ("NEW", False, 250)
        fall = (bid - 100) * Decimal("0.97")  # below the trailing level (2.5 % under the last price)
        sim.synthetic.print_trade(VENUE, SYMBOL, fall.quantize(Decimal("0.01")), Decimal("0.001"), Side.SELL)
        await stream.wait(
            lambda: stream.reports("oto-s-p")[-1:] in ([("TRADE", "FILLED")], [("EXPIRED", "EXPIRED")]),
            "the stop fired and done",
        )
        assert stream.reports("oto-s-p")[:3] == [("NEW", "PENDING_NEW"), ("NEW", "NEW"), ("NEW", "NEW")]


async def test_amend_keep_priority_of_list_orders(client: Client, sim: Simulator) -> None:
    """``PUT /api/v3/order/amend/keepPriority`` on orders of lists (faqs/order_amend_keep_priority.md): an OTO's
    pending order is amended while PENDING_NEW (the answer's ``amendedOrder`` PENDING_NEW, its ``listStatus``
    naming the new client id; ``executionReport`` REPLACED, ``listStatus`` UPDATED); an OCO's legs keep one
    quantity: amending one amends both."""
    bid, ask = best_bid_ask(sim)
    async with user_data(client) as stream:
        status, _, placed = await client.rest("POST", "/api/v3/orderList/oto", oto(bid, ask, "oto-m"))
        assert status == 200, placed
        amend = {"symbol": SYMBOL, "origClientOrderId": "oto-m-p", "newQty": "0.005", "newClientOrderId": "oto-m-p2"}
        status, _, amended = await client.rest("PUT", "/api/v3/order/amend/keepPriority", amend)
        assert status == 200, amended
        assert (amended["amendedOrder"]["status"], amended["amendedOrder"]["qty"]) == ("PENDING_NEW", "0.00500000")
        assert amended["amendedOrder"]["origClientOrderId"] == "oto-m-p"
        listed = amended["listStatus"]
        assert (listed["orderListId"], listed["contingencyType"], listed["listOrderStatus"]) == (
            placed["orderListId"],
            "OTO",
            "EXECUTING",
        )
        assert [o["clientOrderId"] for o in listed["orders"]] == ["oto-m-w", "oto-m-p2"]
        await stream.wait(lambda: ("REPLACED", "PENDING_NEW") in stream.reports("oto-m-p2"), "the REPLACED report")
        await stream.wait(
            lambda: ("OTO", "UPDATED", "EXECUTING") in stream.lists(placed["orderListId"]), "the listStatus UPDATED"
        )

        oco = {
            "symbol": SYMBOL,
            "side": "SELL",
            "quantity": "0.01",
            "listClientOrderId": "oco-m",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": str(ask + 500),
            "aboveClientOrderId": "oco-m-tp",
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": str(bid - 100),
            "belowPrice": str(bid - 150),
            "belowTimeInForce": "GTC",
            "belowClientOrderId": "oco-m-sl",
        }
        status, _, placed = await client.rest("POST", "/api/v3/orderList/oco", oco)
        assert status == 200, placed
        amend = {"symbol": SYMBOL, "origClientOrderId": "oco-m-tp", "newQty": "0.004", "newClientOrderId": "oco-m-tp"}
        status, _, amended = await client.rest("PUT", "/api/v3/order/amend/keepPriority", amend)
        assert status == 200, amended
        assert amended["listStatus"]["contingencyType"] == "OCO"
        for cid in ("oco-m-tp", "oco-m-sl"):
            status, _, order = await client.rest("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": cid})
            assert (order["origQty"], order["status"]) == ("0.00400000", "NEW"), order
        assert not [e for e in stream.lists(placed["orderListId"]) if e[1] == "UPDATED"]  # the same client id


async def test_injected_faults_on_order_lists(client: Client, sim: Simulator) -> None:
    """The venue's injected faults strike order lists as they strike new orders: ``reject_orders`` refuses the
    list (-2010 with the fault's message, nothing placed); ``unknown_outcome`` answers 503 -1007 once the engine
    has it (the list is there: ``GET /api/v3/orderList`` finds it by its client id)."""
    bid, ask = best_bid_ask(sim)
    base = "/admin/faults/binance-spot"
    await admin(sim, base, {"reject_orders": 1, "reject_message": "Rejected for the test."})
    status, _, body = await client.rest("POST", "/api/v3/orderList/oto", oto(bid, ask, "oto-r"))
    assert (status, body) == (400, {"code": -2010, "msg": "Rejected for the test."})
    status, _, body = await client.rest("GET", "/api/v3/openOrders", {"symbol": SYMBOL})
    assert body == []
    await admin(sim, base, {"unknown_outcome": 1})
    status, _, body = await client.rest("POST", "/api/v3/orderList/otoco", otoco(bid, ask, "otoco-u"))
    assert (status, body["code"]) == (503, -1007)
    status, _, found = await client.rest("GET", "/api/v3/orderList", {"origClientOrderId": "otoco-u"})
    assert status == 200 and found["listStatusType"] == "EXEC_STARTED" and len(found["orders"]) == 3


async def test_ccxt_order_list_endpoints(sim: Simulator, account: Account) -> None:
    """ccxt's implicit API for the order lists (``privatePostOrderListOto`` / ``Otoco``, ``privateGetOrderList``,
    ``privateGetOpenOrderList``, ``privateDeleteOrderList``) against the simulator; ccxt fills in the client ids
    it needs (``listClientOrderId``, ``workingClientOrderId``, ...)."""
    import ccxt.async_support as ccxt_async

    bid, ask = best_bid_ask(sim)
    ex = configure(ccxt_async.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        params = {k: v for k, v in oto(bid, ask, "x").items() if "ClientOrderId" not in k}
        placed = await ex.privatePostOrderListOto(params)
        assert placed["contingencyType"] == "OTO" and len(placed["orders"]) == 2
        assert [r["status"] for r in placed["orderReports"]] == ["NEW", "PENDING_NEW"]
        list_id = placed["orderListId"]
        queried = await ex.privateGetOrderList({"orderListId": list_id})
        assert queried["listClientOrderId"] == placed["listClientOrderId"]
        otoco_placed = await ex.privatePostOrderListOtoco(
            {k: v for k, v in otoco(bid, ask, "y").items() if "ClientOrderId" not in k}
        )
        assert len(otoco_placed["orders"]) == 3
        open_lists = await ex.privateGetOpenOrderList({})
        assert sorted(int(x["orderListId"]) for x in open_lists) == sorted([list_id, otoco_placed["orderListId"]])
        cancelled = await ex.privateDeleteOrderList({"symbol": SYMBOL, "orderListId": list_id})
        assert [r["status"] for r in cancelled["orderReports"]] == ["CANCELED", "CANCELED"]
        await ex.privateDeleteOrderList({"symbol": SYMBOL, "orderListId": otoco_placed["orderListId"]})
        assert await ex.privateGetOpenOrderList({}) == []
    finally:
        await ex.close()


async def test_official_sdk_order_lists(sim: Simulator, account: Account) -> None:
    """The official ``binance-sdk-spot`` (its response models parse the answers): ``order_list_oto`` /
    ``get_order_list`` / ``open_order_list`` / ``delete_order_list`` over REST, ``order_list_place_otoco`` /
    ``order_list_status`` / ``all_order_lists`` / ``order_list_cancel`` over the WebSocket API, and the
    ``listStatus`` event of its user data stream."""
    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_spot.rest_api import models as rest_models
    from binance_sdk_spot.spot import Spot
    from binance_sdk_spot.websocket_api import models as ws_models
    from test_binance_spot_sdk import call, rest_client
    from waiting import eventually

    bid, ask = best_bid_ask(sim)
    rest = rest_client(sim, account)
    placed = (
        await call(
            rest.order_list_oto,
            symbol=SYMBOL,
            working_type=rest_models.OrderListOtoWorkingTypeEnum.LIMIT,
            working_side=rest_models.OrderListOtoWorkingSideEnum.BUY,
            working_price=float(bid - 100),
            working_quantity=0.01,
            working_time_in_force=rest_models.OrderListOtoWorkingTimeInForceEnum.GTC,
            pending_type=rest_models.OrderListOtoPendingTypeEnum.LIMIT_MAKER,
            pending_side=rest_models.OrderListOtoPendingSideEnum.SELL,
            pending_price=float(ask + 500),
            pending_quantity=0.01,
        )
    ).data()
    assert placed.contingency_type == "OTO" and [r.status for r in placed.order_reports] == ["NEW", "PENDING_NEW"]
    queried = (await call(rest.get_order_list, order_list_id=placed.order_list_id)).data()
    assert queried.list_client_order_id == placed.list_client_order_id
    assert [x.order_list_id for x in (await call(rest.open_order_list)).data()] == [placed.order_list_id]
    deleted = (await call(rest.delete_order_list, symbol=SYMBOL, order_list_id=placed.order_list_id)).data()
    assert deleted.list_status_type == "ALL_DONE" and {r.status for r in deleted.order_reports} == {"CANCELED"}

    urls = sim.ready["venues"][VENUE]
    config = ConfigurationWebSocketAPI(
        api_key=account.api_key, api_secret=account.secret_key, stream_url=urls["wsApi"], reconnect_attempts=1
    )
    connection = await Spot(config_ws_api=config).websocket_api.create_connection()  # type: ignore[no-untyped-call]
    try:
        events: list[Any] = []
        sub = await connection.user_data_stream_subscribe_signature()
        sub.stream.on("message", events.append)
        reply = await connection.order_list_place_otoco(
            symbol=SYMBOL,
            working_type=ws_models.OrderListPlaceOtocoWorkingTypeEnum.LIMIT_MAKER,
            working_side=ws_models.OrderListPlaceOtocoWorkingSideEnum.BUY,
            working_price=float(bid - 100),
            working_quantity=0.01,
            pending_side=ws_models.OrderListPlaceOtocoPendingSideEnum.SELL,
            pending_quantity=0.01,
            pending_above_type=ws_models.OrderListPlaceOtocoPendingAboveTypeEnum.LIMIT_MAKER,
            pending_above_price=float(ask + 500),
            pending_below_type=ws_models.OrderListPlaceOtocoPendingBelowTypeEnum.STOP_LOSS,
            pending_below_stop_price=float(bid - 200),
        )
        otoco_list = reply.data().result
        assert [r.status for r in otoco_list.order_reports] == ["NEW", "PENDING_NEW", "PENDING_NEW"]

        def list_events() -> list[Any]:
            return [e.actual_instance for e in events if type(e.actual_instance).__name__ == "ListStatus"]

        await eventually(lambda: list_events(), "the SDK's listStatus event", WAIT_S)
        first = list_events()[0]
        assert (first.g, first.c, first.l, first.L) == (otoco_list.order_list_id, "OTO", "EXEC_STARTED", "EXECUTING")
        status = (await connection.order_list_status(order_list_id=otoco_list.order_list_id)).data().result
        assert status.list_order_status == "EXECUTING" and len(status.orders) == 3
        history = (await connection.all_order_lists()).data().result
        assert [x.order_list_id for x in history] == [otoco_list.order_list_id, placed.order_list_id]
        cancelled = (
            (await connection.order_list_cancel(symbol=SYMBOL, order_list_id=otoco_list.order_list_id)).data().result
        )
        assert [r.status for r in cancelled.order_reports] == ["CANCELED"] * 3
    finally:
        await connection.close_connection(close_session=True)
