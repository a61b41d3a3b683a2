"""What the access interceptor reads of a request for its checks and audit records: the sessions and the
clOrderIds it names (``sessions_of`` / ``cl_order_ids_of``, planned once per message type)."""

from __future__ import annotations

import pytest
from execx.v1 import order_manager_pb2 as om
from execx_server.api.access import cl_order_ids_of, sessions_of
from google.protobuf.message import Message


def send(session: str, cl: str = "") -> om.SendOrderRequest:
    return om.SendOrderRequest(session_id=session, cl_order_id=cl)


@pytest.mark.parametrize(
    ("request_msg", "sessions", "cl_order_ids"),
    [
        (send("a", "x"), ["a"], ["x"]),
        (send("", "x"), [], ["x"]),
        (om.OrderEntryRequest(request_id=7, order=send("a", "x")), ["a"], ["x"]),
        (om.OrderEntryRequest(request_id=7), [], []),  # no order set
        (om.BatchSendOrdersRequest(orders=[send("a", "x"), send("b"), send("a", "y")]), ["a", "b", "a"], ["x", "y"]),
        (om.BatchSendOrdersRequest(), [], []),
        (om.CancelAllOrdersRequest(session_id="s", symbol="BTCUSDT"), ["s"], []),
        (om.ListSessionsRequest(), [], []),
    ],
)
def test_sessions_and_cl_order_ids_a_request_names(
    request_msg: Message, sessions: list[str], cl_order_ids: list[str]
) -> None:
    for _ in range(2):  # the first call plans the message type, the second uses the plan
        assert sessions_of(request_msg) == sessions
        assert cl_order_ids_of(request_msg) == cl_order_ids
