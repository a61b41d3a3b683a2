"""The REST route table, read from the ``google.api.http`` annotations of the generated descriptors.

Nothing here is written by hand per endpoint: every service of every generated ``execx.v1`` module
is walked at start-up, and each method that carries an HTTP rule becomes a :class:`Route`. The
proto files are the single source of truth for paths, bodies and ``response_body``.

Supported rule shapes (those grpc-gateway supports and our protos use):

- ``get`` / ``post`` / ``put`` / ``delete`` / ``patch`` patterns with literal segments and
  ``{field}`` or ``{field.sub}`` variables (one path segment each);
- ``body: "*"`` (the JSON body is the request), ``body: "field"`` (the JSON body is that field),
  or no body (the request comes from path variables and query parameters);
- ``response_body: "field"`` (only that field of the response is written);
- streaming methods, served as websockets on a ``GET`` of the same path (see ``app.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped,unused-ignore]
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, MethodDescriptor
from google.protobuf.message import Message

API_PACKAGE = "execx.v1"

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:=\*)?\}")


class RouteError(ValueError):
    """An HTTP rule the gateway cannot serve (raised at start-up, never per request)."""


@dataclass(frozen=True, slots=True)
class PathVariable:
    """One ``{field.path}`` variable of a path template."""

    field_path: tuple[str, ...]  # proto field names, outermost first
    route_name: str  # the aiohttp match_info key (dots are not allowed there)


@dataclass(frozen=True, slots=True)
class Route:
    """One RPC reachable over HTTP."""

    service: str  # "OrderManagerService"
    method: MethodDescriptor
    http_method: str  # "GET", "POST", ... as annotated (streaming routes are served on GET)
    template: str  # the annotated path, e.g. "/v1/sor/cancel/{id}"
    aiohttp_path: str  # the same with aiohttp-compatible variable names
    variables: tuple[PathVariable, ...]
    body: str  # "*", a field name, or "" (no body)
    response_body: str  # a response field name, or "" (the whole response)
    request_class: type[Message]
    response_class: type[Message]

    @property
    def grpc_path(self) -> str:
        """The gRPC method path: ``/execx.v1.OrderManagerService/SendOrder``."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def client_streaming(self) -> bool:
        return bool(self.method.client_streaming)

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def is_websocket(self) -> bool:
        """Streaming RPCs are websockets (GET upgrade on the same path)."""
        return self.client_streaming or self.server_streaming

    @property
    def operation_id(self) -> str:
        return f"{self.service}_{self.method.name}"


def api_modules(package: str = API_PACKAGE) -> list[ModuleType]:
    """Imports every generated ``*_pb2`` module of the API package (sorted by name)."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.endswith("_pb2"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def api_files(package: str = API_PACKAGE) -> list[FileDescriptor]:
    """The file descriptors of the API package."""
    return [m.DESCRIPTOR for m in api_modules(package)]


def message_class(desc: Descriptor) -> type[Message]:
    """The generated (or dynamically built) class of a message descriptor."""
    return message_factory.GetMessageClass(desc)


def resolve_field_path(desc: Descriptor, path: Sequence[str]) -> list[FieldDescriptor]:
    """The fields named by a dotted proto field path, outermost first; RouteError if unknown."""
    fields: list[FieldDescriptor] = []
    current: Descriptor | None = desc
    for name in path:
        if current is None:
            raise RouteError(f"{'.'.join(path)}: {name} is not inside a message")
        field = current.fields_by_name.get(name)
        if field is None:
            raise RouteError(f"{desc.full_name} has no field {'.'.join(path)}")
        fields.append(field)
        current = field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None
    return fields


def _rule_pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise RouteError("HTTP rule without a pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    path: str = getattr(rule, kind)
    return kind.upper(), path


def _parse_template(template: str, request: Descriptor) -> tuple[str, tuple[PathVariable, ...]]:
    if not template.startswith("/"):
        raise RouteError(f"path {template!r} must start with /")
    variables: list[PathVariable] = []

    def replace(m: re.Match[str]) -> str:
        dotted = m.group(1)
        path = tuple(dotted.split("."))
        fields = resolve_field_path(request, path)
        last = fields[-1]
        if last.type == FieldDescriptor.TYPE_MESSAGE or _is_repeated(last):
            raise RouteError(f"path variable {dotted} must be a singular scalar field")
        name = "v_" + "__".join(path)
        variables.append(PathVariable(path, name))
        return "{" + name + "}"

    path = _VARIABLE.sub(replace, template)
    rest = re.sub(r"\{v_[A-Za-z0-9_]+\}", "", path)
    if "{" in rest or "}" in rest or ":" in rest or "*" in rest:
        raise RouteError(f"unsupported path template {template!r}")
    return path, tuple(variables)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _route(service: str, method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    http_method, template = _rule_pattern(rule)
    aiohttp_path, variables = _parse_template(template, method.input_type)
    body = rule.body
    if body not in ("", "*"):
        resolve_field_path(method.input_type, [body])
    response_body = rule.response_body
    if response_body:
        resolve_field_path(method.output_type, [response_body])
    if method.client_streaming and body != "*":
        raise RouteError(f'{method.full_name}: a client-streaming rule needs body: "*"')
    return Route(
        service=method.containing_service.name,
        method=method,
        http_method=http_method,
        template=template,
        aiohttp_path=aiohttp_path,
        variables=variables,
        body=body,
        response_body=response_body,
        request_class=message_class(method.input_type),
        response_class=message_class(method.output_type),
    )


def routes_of(files: Iterable[FileDescriptor]) -> list[Route]:
    """Every annotated method of every service of ``files`` (additional_bindings included).

    Raises RouteError on a rule the gateway cannot serve, or on two rules for one path and verb.
    """
    out: list[Route] = []
    seen: dict[tuple[str, str], str] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                for r in [rule, *rule.additional_bindings]:
                    route = _route(service.name, method, r)
                    verb = "GET" if route.is_websocket else route.http_method
                    key = (verb, route.aiohttp_path)
                    if key in seen:
                        raise RouteError(f"{route.template}: bound by {seen[key]} and {method.full_name}")
                    seen[key] = method.full_name
                    out.append(route)
    return out


def load_routes(package: str = API_PACKAGE) -> list[Route]:
    """The route table of the API package's generated code."""
    return routes_of(api_files(package))
