"""Bybit v5 signing against the derived vectors of ``../shared/venues/test-vectors.md`` §C1/C2, for
the connector's signer and the simulator's verifier (written independently)."""

from __future__ import annotations

import json

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.bybit.signing import Signer
from execx_sim.core.engine import Exchange
from execx_sim.venues.bybit import auth
from execx_sim.venues.bybit.errors import BybitError

SECRET = "TESTSECRETbybit0123456789abcdef0"
KEY = "TESTKEYbybit01"
GET_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
GET_SIGN = "bd394cbc97c96bbcfd0663fcaeda9241293bcb9a24649c7ee67788dbdb85fe4e"
POST_BODY = (
    '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"25000",'
    '"timeInForce":"PostOnly","orderLinkId":"abc-123"}'
)
POST_SIGN = "f7f17735db012bd0073787b47ee1997042b2d07d8e4fe900951e9f2520971245"
WS_EXPIRES = 1662350400000
WS_SIGN = "76eb8c84a3da5052710a93007b7e6cce47ef52be35182d3bc34e5532011a4204"


def test_connector_rest_signature_matches_the_vectors() -> None:
    get = Signer(KEY, Secret(SECRET), lambda: 1658384314791).rest_headers(GET_QUERY)
    assert get == {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": GET_SIGN,
    }
    post = Signer(KEY, Secret(SECRET), lambda: 1658385579423).rest_headers(POST_BODY)
    assert post["X-BAPI-SIGN"] == POST_SIGN


def test_connector_ws_auth_matches_the_vector() -> None:
    frame = Signer(KEY, Secret(SECRET), lambda: WS_EXPIRES - 10_000).ws_auth("a1")
    assert frame == {"req_id": "a1", "op": "auth", "args": [KEY, WS_EXPIRES, WS_SIGN]}


def test_simulator_verifies_the_vectors_and_refuses_anything_else() -> None:
    ex = Exchange(clock=lambda: 1658384314791)
    ex.create_account("t", KEY, SECRET)
    headers = {"X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": "1658384314791", "X-BAPI-RECV-WINDOW": "5000"}
    assert auth.authenticate_rest(ex, {**headers, "X-BAPI-SIGN": GET_SIGN}, GET_QUERY, 1658384314791).api_key == KEY
    with pytest.raises(BybitError) as info:  # one byte of the query differs
        auth.authenticate_rest(ex, {**headers, "X-BAPI-SIGN": GET_SIGN}, GET_QUERY + "&x=1", 1658384314791)
    assert (info.value.code, info.value.status) == (10004, 200)
    with pytest.raises(BybitError) as info:  # outside the recv window
        auth.authenticate_rest(ex, {**headers, "X-BAPI-SIGN": GET_SIGN}, GET_QUERY, 1658384314791 + 5001)
    assert info.value.code == 10002 and "recv_window[5000]" in info.value.msg
    with pytest.raises(BybitError) as info:  # unknown key: HTTP 401
        auth.authenticate_rest(ex, {**headers, "X-BAPI-API-KEY": "nope", "X-BAPI-SIGN": GET_SIGN}, GET_QUERY, 0)
    assert (info.value.code, info.value.status) == (10003, 401)
    assert auth.authenticate_ws(ex, [KEY, WS_EXPIRES, WS_SIGN], WS_EXPIRES - 1).api_key == KEY
    with pytest.raises(BybitError) as info:  # expired
        auth.authenticate_ws(ex, [KEY, WS_EXPIRES, WS_SIGN], WS_EXPIRES)
    assert info.value.code == 10001


def test_secret_never_printed() -> None:
    signer = Signer(KEY, Secret(SECRET), lambda: 1)
    assert SECRET not in repr(signer.__dict__) and SECRET not in json.dumps(signer.ws_auth("x"))
