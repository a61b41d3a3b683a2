"""Bybit v5 connector (spot, linear, inverse, option)."""
