"""Exact numbers. The API carries doubles (as the EXECX reference documents); inside, every price and
quantity is the ``Decimal`` of the double's shortest repr, so ``124.2`` is exactly ``Decimal("124.2")``
and never ``124.2000000000000028421709430404007434844970703125``."""

from __future__ import annotations

import math
from decimal import Decimal

from .errors import ValidationError

# No price or quantity of any instrument comes near this; a larger double is a bug or garbage, and past
# 2**53 (~9e15) a double does not even hold every integer. Refused before any instrument rule is read.
MAX_MAGNITUDE = 1e15


def from_double(value: float, field: str) -> Decimal:
    """The exact decimal a client meant by ``value``; rejects NaN, infinities and magnitudes above
    ``MAX_MAGNITUDE`` (1e15), naming ``field``."""
    if not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ValidationError(field, f"{Decimal(repr(value))} is out of range (at most 1E+15 in magnitude)")
    return Decimal(repr(value))


def to_wire(value: Decimal) -> str:
    """Plain decimal string for venue requests: no exponent, no trailing zeros beyond the value."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
