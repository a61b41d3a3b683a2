"""JSON shape rules that a generic proto JSON mapping cannot express.

Seed 003 (the smart-order API) writes a few things proto cannot hold directly; its messages say so
in their comments, and these rules are the single place the REST shim (and the OpenAPI document,
which reads the same rules) honours them:

- ``unwrap``: a wrapper message is written as the value of its one field (a map of exchange ->
  wrapper becomes a map of exchange -> bare array, as the seed shows);
- ``as_array``: a message is written as a JSON array of some of its fields, in order (an open
  order's status history entry is ``[status, time]``);
- ``oneof_keys``: the set member of a oneof is written under one fixed key (the smart-order feed
  puts every payload under ``"Data"``);
- ``case_insensitive_enum_files``: enum strings of messages declared in these files are matched
  case-insensitively on input (the seed writes "sell", "Sell" and "SELL");
- ``answered_frame_errors``: bidirectional methods (``/package.Service/Method``) whose client frames
  that do not convert are answered, not fatal: the socket stays open and gets the given JSON object
  with ``{"code", "status", "message", "field"}`` added under ``"Data"`` (seed 003's websocket answers
  a bad command with an ``Error`` message and goes on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Shapes:
    unwrap: Mapping[str, str] = field(default_factory=dict)
    as_array: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    oneof_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)
    case_insensitive_enum_files: frozenset[str] = frozenset()
    answered_frame_errors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


NO_SHAPES = Shapes()

SEED_SHAPES = Shapes(
    unwrap={
        "execx.v1.ExchangeBalances": "balances",
        "execx.v1.ExchangeOpenOrders": "orders",
        "execx.v1.ExchangeOpenPositions": "positions",
    },
    as_array={"execx.v1.OpenOrderStatusChange": ("status", "time")},
    oneof_keys={("execx.v1.SubscribeSmartOrdersResponse", "data"): "Data"},
    case_insensitive_enum_files=frozenset({"execx/v1/smart_order.proto"}),
    answered_frame_errors={
        "/execx.v1.SmartOrderService/SmartOrderChannel": {"Type": "Error", "CompositeId": ""},
    },
)
