"""The OpenAPI 3 document of the REST + websocket shim, generated from the same descriptors.

Every route of the route table is a path; schemas use the JSON names (camelCase), enums their
``json_value`` strings, doubles ``number``/``double``, 64-bit integers ``integer``/``int64``;
``google.api.field_behavior`` gives ``required``, ``readOnly`` and ``writeOnly``; the proto
comments (when the descriptor set with source info is present) are the descriptions. Streaming
RPCs are websockets: they are documented as a ``GET`` whose ``101`` answer opens the socket, with
the frame schemas under ``x-execx-websocket``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any, cast

from google.api import field_behavior_pb2  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from .comments import Comments, load_comments
from .jsonmap import ANY_FULL_NAME, FieldInfo, JsonCodec
from .routes import Route

OPENAPI_VERSION = "3.0.3"
API_PACKAGE_PREFIX = "execx.v1."
STATUS_SCHEMA = "google.rpc.Status"

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED64: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

SECURITY_SCHEMES = {
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The service key (execx --key).",
    },
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "The service key as a bearer token."},
}


def schema_name(full_name: str) -> str:
    """Component name of a message or enum: the short name inside execx.v1, else the full name."""
    if full_name.startswith(API_PACKAGE_PREFIX):
        return full_name[len(API_PACKAGE_PREFIX) :]
    return full_name


def _ref(full_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(full_name)}"}


def _behaviors(f: FieldDescriptor) -> set[int]:
    return set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])


class _Builder:
    def __init__(self, codec: JsonCodec, comments: Comments) -> None:
        self.codec = codec
        self.comments = comments
        self.schemas: dict[str, dict[str, Any]] = {}

    def _describe(self, schema: dict[str, Any], full_name: str) -> dict[str, Any]:
        text = self.comments.get(full_name)
        if text:
            schema["description"] = text
        return schema

    def enum(self, desc: EnumDescriptor) -> dict[str, Any]:
        name = schema_name(desc.full_name)
        if name not in self.schemas:
            info = self.codec.enum(desc)
            schema: dict[str, Any] = {"type": "string", "enum": info.json_values}
            self._describe(schema, desc.full_name)
            lines = []
            for v in desc.values:
                jv = info.to_json.get(v.number)
                note = self.comments.get(f"{desc.full_name}.{v.name}")
                if jv is not None and note:
                    lines.append(f"- `{jv}`: {note}")
            if lines:
                schema["description"] = (schema.get("description", "") + "\n\n" + "\n".join(lines)).strip()
            self.schemas[name] = schema
        return _ref(desc.full_name)

    def message(self, desc: Descriptor) -> dict[str, Any]:
        name = schema_name(desc.full_name)
        if name in self.schemas:
            return _ref(desc.full_name)
        self.schemas[name] = {}  # placeholder: recursive messages refer to it
        self.schemas[name] = self._message_schema(desc)
        return _ref(desc.full_name)

    def _message_schema(self, desc: Descriptor) -> dict[str, Any]:
        if desc.full_name == ANY_FULL_NAME:
            return {
                "type": "object",
                "description": "A message of any type, named by @type, with that message's fields.",
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": True,
            }
        info = self.codec.message(desc)
        if info.unwrap is not None:
            return self._describe(self.field(info.unwrap, with_description=False), desc.full_name)
        if info.as_array is not None:
            items = [self.field(fi, with_description=False) for fi in info.as_array]
            names = ", ".join(fi.json_name for fi in info.as_array)
            schema: dict[str, Any] = {
                "type": "array",
                "minItems": len(items),
                "maxItems": len(items),
                "items": items[0] if all(i == items[0] for i in items) else {},
            }
            self._describe(schema, desc.full_name)
            schema["description"] = (schema.get("description", "") + f"\n\nWritten as [{names}].").strip()
            return schema
        properties: dict[str, Any] = {}
        required: list[str] = []
        oneof_members: dict[str, list[FieldInfo]] = {}
        for fi in info.fields:
            if fi.oneof is not None and fi.oneof in info.oneof_keys:
                oneof_members.setdefault(fi.oneof, []).append(fi)
                continue
            prop = self.field(fi)
            behaviors = _behaviors(fi.desc)
            if field_behavior_pb2.OUTPUT_ONLY in behaviors and "$ref" not in prop:
                prop["readOnly"] = True
            if field_behavior_pb2.INPUT_ONLY in behaviors and "$ref" not in prop:
                prop["writeOnly"] = True
            if field_behavior_pb2.REQUIRED in behaviors:
                required.append(fi.json_name)
            properties[fi.json_name] = prop
        for oneof, members in oneof_members.items():
            key = info.oneof_keys[oneof]
            properties[key] = {
                "oneOf": [self.field(m, with_description=False) for m in members],
                "description": "One of: " + ", ".join(m.json_name for m in members) + ".",
            }
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return self._describe(schema, desc.full_name)

    def field(self, fi: FieldInfo, *, with_description: bool = True) -> dict[str, Any]:
        if fi.map_key is not None and fi.map_value is not None:
            schema: dict[str, Any] = {"type": "object", "additionalProperties": self._single(fi.map_value)}
        elif fi.repeated:
            schema = {"type": "array", "items": self._single(fi)}
        else:
            schema = self._single(fi)
        if with_description and "$ref" not in schema:
            self._describe(schema, fi.desc.full_name)
        return schema

    def _single(self, fi: FieldInfo) -> dict[str, Any]:
        if fi.message is not None:
            return self.message(fi.message)
        if fi.enum is not None:
            return self.enum(cast(EnumDescriptor, fi.desc.enum_type))
        return dict(_SCALARS[fi.type])

    # ------------------------------------------------------------------ operations

    def _query_parameters(self, route: Route) -> list[dict[str, Any]]:
        bound = {v.field_path[0] for v in route.variables if len(v.field_path) == 1}
        params: list[dict[str, Any]] = []
        for fi in self.codec.message(route.method.input_type).fields:
            if fi.name in bound or fi.message is not None or fi.is_map:
                continue
            schema = self.field(fi, with_description=False)
            param: dict[str, Any] = {"name": fi.json_name, "in": "query", "required": False, "schema": schema}
            note = self.comments.get(fi.desc.full_name)
            if note:
                param["description"] = note
            params.append(param)
        return params

    def _path_parameters(self, route: Route) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for var in route.variables:
            fi = self.codec.field_info(route.method.input_type, var.field_path)
            param: dict[str, Any] = {
                "name": ".".join(var.field_path),
                "in": "path",
                "required": True,
                "schema": self.field(fi, with_description=False),
            }
            note = self.comments.get(fi.desc.full_name)
            if note:
                param["description"] = note
            out.append(param)
        return out

    def _body_schema(self, route: Route) -> dict[str, Any]:
        if route.body == "*":
            return self.message(route.method.input_type)
        fi = self.codec.field_info(route.method.input_type, (route.body,))
        return self.field(fi, with_description=False)

    def _response_schema(self, route: Route) -> dict[str, Any]:
        if route.response_body:
            fi = self.codec.field_info(route.method.output_type, (route.response_body,))
            return self.field(fi, with_description=False)
        return self.message(route.method.output_type)

    def operation(self, route: Route) -> tuple[str, dict[str, Any]]:
        method = route.method
        text = self.comments.get(method.full_name)
        summary = text.split(". ")[0].split("\n")[0].rstrip(".") if text else method.name
        error = {
            "description": "An error: google.rpc.Status with grpc-gateway's HTTP status.",
            "content": {"application/json": {"schema": _ref(STATUS_SCHEMA)}},
        }
        op: dict[str, Any] = {
            "operationId": route.operation_id,
            "tags": [route.service],
            "summary": summary,
        }
        if text:
            op["description"] = text
        params = self._path_parameters(route)
        if route.body != "*":
            params += self._query_parameters(route)
        if route.is_websocket:
            request = self._body_schema(route) if route.body else None
            frames: dict[str, Any] = {
                "clientStreaming": route.client_streaming,
                "serverMessage": self._response_schema(route),
            }
            how = "WebSocket (GET upgrade). "
            if route.client_streaming:
                how += "Each client text frame is a request (JSON), each server frame a response."
                frames["clientMessage"] = request
            elif request is not None:
                how += "Send one JSON text frame with the request, then receive one JSON frame per message."
                frames["clientMessage"] = request
            else:
                how += "The request comes from the query string; one JSON frame per message."
            how += " A stream that fails sends a google.rpc.Status frame and closes with 4000 + its HTTP status."
            op["description"] = (how + "\n\n" + op.get("description", "")).strip()
            op["x-execx-websocket"] = frames
            op["responses"] = {
                "101": {"description": "Switching Protocols: the websocket is open."},
                "426": {
                    "description": "Not a websocket upgrade.",
                    "content": {"application/json": {"schema": _ref(STATUS_SCHEMA)}},
                },
                "default": error,
            }
            if params:
                op["parameters"] = params
            return "get", op
        if params:
            op["parameters"] = params
        if route.body:
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": self._body_schema(route)}},
            }
        op["responses"] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": self._response_schema(route)}}},
            "default": error,
        }
        return route.http_method.lower(), op


def _version() -> str:
    try:
        return metadata.version("execx")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def openapi_document(routes: Sequence[Route], codec: JsonCodec, comments: Comments | None = None) -> dict[str, Any]:
    """The OpenAPI 3 document of ``routes`` (plus /healthz)."""
    from google.rpc import status_pb2

    b = _Builder(codec, comments if comments is not None else load_comments())
    b.message(status_pb2.Status.DESCRIPTOR)
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, dict[str, Any]] = {}
    for route in routes:
        verb, op = b.operation(route)
        paths.setdefault(route.template, {})[verb] = op
        service = route.method.containing_service
        if route.service not in tags:
            tag: dict[str, Any] = {"name": route.service}
            note = b.comments.get(service.full_name)
            if note:
                tag["description"] = note
            tags[route.service] = tag
    paths["/healthz"] = {
        "get": {
            "operationId": "Gateway_Healthz",
            "tags": ["Gateway"],
            "summary": "Liveness of the REST shim (no key needed)",
            "security": [],
            "responses": {
                "200": {
                    "description": "Serving",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string"}},
                                "required": ["status"],
                            }
                        }
                    },
                }
            },
        }
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "execx",
            "version": _version(),
            "description": (
                "The JSON REST + websocket contract of execx, generated from the execx.v1 protos "
                "(google.api.http annotations). Every call needs the service key in `x-api-key` "
                "(or `authorization: Bearer`). Errors are google.rpc.Status JSON."
            ),
        },
        "tags": [*tags.values(), {"name": "Gateway", "description": "The shim itself."}],
        "security": [{"ApiKeyHeader": []}, {"BearerKey": []}],
        "paths": paths,
        "components": {"schemas": dict(sorted(b.schemas.items())), "securitySchemes": SECURITY_SCHEMES},
    }
