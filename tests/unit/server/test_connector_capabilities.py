"""Every connector states what it can do in one ``Capabilities`` (read by the engine and the API), built
before it starts: time in force, reduce-only per market, batch sizes, native cancel-on-disconnect."""

from __future__ import annotations

from execx_server.connectors.base import Capabilities, ConnectorConfig, PostOnlyCross, Secret
from execx_server.connectors.binance.connector import BinanceConnector
from execx_server.connectors.bybit.connector import BybitConnector
from execx_server.connectors.deribit.connector import DeribitConnector
from execx_server.connectors.okx.connector import OkxConnector
from execx_server.connectors.pulse.connector import PulseConnector
from execx_server.domain.enums import Exchange, TimeInForce

GIF = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})
POST_ONLY_CROSS = {
    Exchange.BYBIT_SPOT: PostOnlyCross.CANCELLED,
    Exchange.BYBIT_LINEAR: PostOnlyCross.CANCELLED,
    Exchange.OKX: PostOnlyCross.CANCELLED,
    Exchange.PULSE: PostOnlyCross.REPRICED,
}


def _config(exchange: Exchange) -> ConnectorConfig:
    return ConnectorConfig(exchange, "key", Secret("secret"), rest_url="http://127.0.0.1:1")


def test_capabilities_per_venue_and_market() -> None:
    expected = {
        Exchange.BINANCE_SPOT: (BinanceConnector, GIF, False, 1, False),
        Exchange.BINANCE_USDM_FUTURE: (BinanceConnector, GIF, True, 1, False),
        Exchange.BYBIT_SPOT: (BybitConnector, GIF, False, 10, False),
        Exchange.BYBIT_LINEAR: (BybitConnector, GIF, True, 20, False),
        Exchange.OKX: (OkxConnector, GIF, True, 20, False),
        Exchange.DERIBIT: (DeribitConnector, GIF | {TimeInForce.DAY}, True, 1, True),
        Exchange.PULSE: (PulseConnector, GIF | {TimeInForce.DAY}, True, 1, True),
    }
    for exchange, (cls, tifs, reduce_only, batch, cod) in expected.items():
        connector = cls(_config(exchange))
        caps = connector.capabilities
        assert isinstance(caps, Capabilities), exchange
        assert (caps.supported_tifs, caps.supports_reduce_only, caps.max_batch_place, caps.max_batch_cancel) == (
            tifs,
            reduce_only,
            batch,
            batch,
        ), exchange
        assert caps.supports_amend and caps.cancel_on_disconnect is cod, exchange
        assert connector.supported_tifs == tifs, exchange
        assert caps.post_only_cross is POST_ONLY_CROSS.get(exchange, PostOnlyCross.REFUSED), exchange
        assert connector.cancel_on_disconnect_armed is False, exchange  # not started: nothing armed


def test_cancel_on_disconnect_follows_the_option() -> None:
    assert not DeribitConnector(_config(Exchange.DERIBIT), cancel_on_disconnect=False).capabilities.cancel_on_disconnect
    assert not PulseConnector(_config(Exchange.PULSE), cancel_on_disconnect=False).capabilities.cancel_on_disconnect
