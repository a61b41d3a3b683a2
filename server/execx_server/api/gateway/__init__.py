"""grpc-gateway-style REST + websocket shim over the execx gRPC API (DESIGN §1).

``build_gateway(server)`` returns the aiohttp application, calling the servicers registered through
``server`` (``api.inprocess.InProcessServer``) in-process; routes, JSON shapes and the
OpenAPI document all come from the generated execx.v1 descriptors.
"""

from __future__ import annotations

from .app import GATEWAY_KEY, Gateway, GatewayConfig, build_gateway
from .jsonmap import JsonCodec, JsonMappingError
from .openapi import openapi_document
from .routes import Route, RouteError, load_routes

__all__ = [
    "GATEWAY_KEY",
    "Gateway",
    "GatewayConfig",
    "JsonCodec",
    "JsonMappingError",
    "Route",
    "RouteError",
    "build_gateway",
    "load_routes",
    "openapi_document",
]
