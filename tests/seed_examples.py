"""The JSON examples of seed 000 (the EXECX reference), verbatim, shared by the tests that check them."""

from __future__ import annotations

from typing import Any

SEED_START_ORDER_HANDLER: dict[str, Any] = {
    "exchangeKey": {
        "apiKey": "abcd-efgh",
        "secretKey": "abcd-efgh",
        "passphrase": "secret-password",
        "exchange": "binance-spot",
    },
    "sessionId": "unique-session-id",
    "wsUrl": "wss://stream.binance.com",
    "interface": "eth0",
    "useMargin": True,
}
SEED_SET_LOG_LEVEL = {"logLevel": "debug"}
SEED_SEND_ORDER = {
    "clOrderId": "cl-abcd",
    "symbol": "BTCUSDT",
    "sessionId": "binance-spot-account",
    "price": 124.2,
    "qty": 1,
    "orderType": "postonly",
    "transactionType": "insert",
    "tif": "gtc",
    "side": "buy",
}
SEED_ORDER_TRANSACTION = {
    "exchOrderId": "abcd",
    "message": "quantity does not match minimum notional",
    "clOrderId": "cl-abcd",
    "exchange": "binance-spot",
    "symbol": "BTCUSDT",
    "sessionId": "binance-spot-account",
    "tradeId": "t-abcd",
    "localTime": 1720181590000000000,
    "exchTime": 1720181590000000000,
    "sendTime": 1720181590000000000,
    "price": 124.2,
    "qty": 1,
    "cumulativeFilledQty": 0.2,
    "executedQty": 0.2,
    "remainingQty": 0.2,
    "orderType": "postonly",
    "orderStatus": "partiallyfilled",
    "transactionType": "insert",
    "tif": "gtc",
    "side": "buy",
    "tradeLiquidity": "add",
    "triggerId": "trigger-a",
}
SEED_REFRESH_ORDERS = {"sessionId": "string", "transactions": [SEED_ORDER_TRANSACTION]}
SEED_GET_POSITION = {"sessionId": "test-session", "symbol": "BTCUSDT", "exchange": "binance-spot"}
SEED_START_POSITION_MANAGER: dict[str, Any] = {
    "sessionId": "test-session",
    "exchange": "binance-spot",
    "symbol": "BTCUSDT",
    "config": {
        "pullOnStartup": True,
        "maintainSpreads": True,
        "quoteLevels": 2,
        "minOrderQty": 0.1,
        "reEntryTickerSeconds": 5,
        "priceLevelInterval": 0.001,
    },
}
SEED_STOP_POSITION_MANAGER = {"exchange": "binance-spot", "symbol": "BTCUSDT"}
SEED_SET_TARGET_POSITION = {"exchange": "binance-spot", "symbol": "BTCUSDT", "targetPosition": 0.1}
