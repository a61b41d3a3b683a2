"""The venues' public trade history requests (a restart's missed triggers, issue 20), pure: Binance
``aggTrades``, the JSON-RPC trades by time (Deribit ``public/get_last_trades_by_instrument_and_time``, Pulse
``public/last_trades_by_instrument``), Bybit ``recent-trade`` and OKX ``history-trades``, pinned to the
documented request and answer shapes; and the trigger replayed over such trades (``contingent_plan.replay``:
the first crossing, a trailing stop's trail recomputed, trades before the last-seen time skipped)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execx_server.connectors.binance import parse as binance
from execx_server.connectors.bybit import parse as bybit
from execx_server.connectors.jsonrpc import parse as jsonrpc
from execx_server.connectors.okx import parse as okx
from execx_server.domain.enums import Side
from execx_server.domain.venue import Trade
from execx_server.managers.contingent_plan import Kind, TriggerState, replay

D = Decimal
MS = 1_000_000


def test_binance_agg_trades_request_is_a_window_under_an_hour() -> None:
    params = binance.agg_trades_params("BTCUSDT", 1_700_000_000_000, 1_700_000_600_000)
    assert params == [
        ("symbol", "BTCUSDT"),
        ("startTime", "1700000000000"),
        ("endTime", "1700000600000"),
        ("limit", "1000"),
    ]
    binance.agg_trades_params("BTCUSDT", 0, binance.AGG_TRADES_SPAN_MS)  # just under an hour: allowed
    with pytest.raises(ValueError):
        binance.agg_trades_params("BTCUSDT", 0, 3_600_000)  # an hour: the venue refuses it
    with pytest.raises(ValueError):
        binance.agg_trades_params("BTCUSDT", 10, 9)


def test_binance_agg_trades_answer_is_the_docs_example() -> None:
    # GET /api/v3/aggTrades response example (Binance spot docs)
    rows = [{"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781, "T": 1498793709153, "m": True}]
    (t,) = binance.parse_agg_trades("BNBBTC", rows)
    assert t == Trade("BNBBTC", "26129", D("0.01633102"), D("4.70443515"), Side.SELL, 1498793709153 * MS)


def test_jsonrpc_trades_by_time_request() -> None:
    assert jsonrpc.trades_by_time_params("BTC-PERPETUAL", 1590470022768, 1590480022768) == {
        "instrument_name": "BTC-PERPETUAL",
        "start_timestamp": 1590470022768,
        "end_timestamp": 1590480022768,
        "count": 1000,
        "sorting": "asc",
    }
    with pytest.raises(ValueError):
        jsonrpc.trades_by_time_params("BTC-PERPETUAL", 2, 1)


def test_deribit_and_pulse_trades_answers() -> None:
    row = {
        "trade_seq": 1966031,
        "trade_id": "ETH-2696060",
        "timestamp": 1590480363130,
        "tick_direction": 2,
        "price": 0.032,
        "mark_price": 0.04070324,
        "iv": 74.74,
        "instrument_name": "ETH-25SEP20-100-C",
        "index_price": 198.13,
        "direction": "sell",
        "amount": 5,
    }
    trades, more = jsonrpc.parse_trades_page({"trades": [row], "has_more": True}, None)  # Deribit's example
    assert more is True
    assert trades == [Trade("ETH-25SEP20-100-C", "ETH-2696060", D("0.032"), D(5), Side.SELL, 1590480363130 * MS)]
    trades, more = jsonrpc.parse_trades_page([row], None)  # Pulse (seed 004): a plain list, a short page
    assert len(trades) == 1 and more is False
    _, more = jsonrpc.parse_trades_page([row] * jsonrpc.TRADES_COUNT, None)  # a full page: more may follow
    assert more is True


def test_bybit_recent_trade_request_and_its_limited_coverage() -> None:
    assert bybit.recent_trade_params("spot", "BTCUSDT") == {"category": "spot", "symbol": "BTCUSDT", "limit": 60}
    assert bybit.recent_trade_params("linear", "BTCUSDT")["limit"] == 1000
    # the docs' example row (GET /v5/market/recent-trade, result.list; newest first)
    row = {
        "execId": "2100000000007764263",
        "symbol": "BTCUSDT",
        "price": "16618.49",
        "size": "0.00012",
        "side": "Buy",
        "time": "1672052955758",
        "isBlockTrade": False,
    }
    older = dict(row, execId="2100000000007764262", price="16600", time="1672052955000")
    w = bybit.parse_recent_trades([row, older], 1672052955500, 1672052956000, 60)
    assert [t.trade_id for t in w.trades] == ["2100000000007764263"] and w.complete  # reaches back before start
    assert w.trades[0] == Trade(
        "BTCUSDT", "2100000000007764263", D("16618.49"), D("0.00012"), Side.BUY, 1672052955758 * MS
    )
    w = bybit.parse_recent_trades([row] * 60, 1672052955000, 1672052956000, 60)
    assert not w.complete  # a full list of newer trades: older ones the venue no longer lists
    assert bybit.parse_recent_trades([row], 1672052955000, 1672052956000, 60).complete  # everything it has


def test_okx_history_trades_request_and_pages() -> None:
    assert okx.history_trades_params("BTC-USDT") == {"instId": "BTC-USDT", "type": "1", "limit": "100"}
    assert okx.history_trades_params("BTC-USDT", "242720720")["after"] == "242720720"
    # the docs' example row (GET /api/v5/market/history-trades; newest first)
    row = {
        "instId": "BTC-USDT",
        "side": "sell",
        "sz": "0.00001",
        "px": "29963.2",
        "tradeId": "242720720",
        "ts": "1654161646974",
    }
    (t,) = okx.parse_history_trades([row])
    assert t == Trade("BTC-USDT", "242720720", D("29963.2"), D("0.00001"), Side.SELL, 1654161646974 * MS)
    w = okx.history_window([[t]], 1654161646000, 1654161647000)
    assert w.trades == [t] and w.complete  # a short page: nothing older
    full = [dict(row, tradeId=str(1000 - i), ts=str(1654161646974 - i)) for i in range(100)]
    w = okx.history_window([okx.parse_history_trades(full)], 1654161640000, 1654161647000)
    assert not w.complete and w.trades[0].trade_id == "901"  # oldest first; older pages not read


def _t(i: int, price: str, ms: int) -> Trade:
    return Trade("X", str(i), D(price), D(1), Side.BUY, ms * MS)


def test_replay_fires_on_the_first_crossing_even_if_it_reverted() -> None:
    state = TriggerState(Kind.STOP, Side.BUY, D(100))
    trades = [_t(1, "99", 10), _t(2, "101", 11), _t(3, "98", 12)]
    hit, _ = replay(state, trades, 10)
    assert hit is not None and hit.trade_id == "2"
    assert replay(state, [_t(1, "99", 10), _t(3, "98", 12)], 10)[0] is None  # control: never crossed


def test_replay_skips_trades_before_the_last_seen_time() -> None:
    state = TriggerState(Kind.STOP, Side.SELL, D(100))
    assert replay(state, [_t(1, "95", 5), _t(2, "101", 20)], 10)[0] is None


def test_replay_recomputes_a_trailing_stop() -> None:
    # a sell trailing stop 10 below the best price seen (95 before the restart): the price rose to 120 while
    # execx was down (the level followed to 110), then fell to 109: fired at 109, which the old level (85) missed
    state = TriggerState(Kind.TRAILINGSTOP, Side.SELL, D(85), amount=D(10), best=D(95))
    hit, after = replay(state, [_t(1, "120", 10), _t(2, "112", 11), _t(3, "109", 12), _t(4, "130", 13)], 0)
    assert hit is not None and hit.trade_id == "3" and after.level == D(110) and after.best == D(120)
    # not crossed: the trail is kept as recomputed
    hit, after = replay(state, [_t(1, "120", 10), _t(2, "112", 11)], 0)
    assert hit is None and after.level == D(110)
