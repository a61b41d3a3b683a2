"""Binance connectors: spot, USDⓈ-M futures and COIN-M futures (see ``connector.py``)."""
