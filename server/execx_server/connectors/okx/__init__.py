"""OKX v5 connector (spot, linear and inverse swaps)."""
