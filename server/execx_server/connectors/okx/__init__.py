"""OKX v5 connector (spot and USDT swaps)."""
