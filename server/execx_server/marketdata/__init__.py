"""Shared market data: one venue subscription per (exchange, symbol), best bid/ask and trades."""
