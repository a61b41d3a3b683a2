"""JSON <-> proto conversion in the shapes of the seed's JSON contract.

protobuf's ``json_format`` does not give the seed's shapes (it writes 64-bit integers as strings and
enums as their proto names), so this module walks the message descriptors itself:

- field names are the proto ``json_name`` (camelCase as in the seed: ``clOrderId``, ``sessionId``);
  on input the original proto (snake_case) name is accepted too;
- enums are written as the ``json_value`` option of the value (``"binance-spot"``, ``"postonly"``);
  on input the json_value, the proto value name, or the number is accepted; the zero value (which
  has no json_value) is written by leaving the field out;
- doubles are JSON numbers (non-finite ones ``"NaN"``, ``"Infinity"``, ``"-Infinity"``); numeric
  strings are accepted on input;
- 64-bit integers are JSON numbers (``"localTime": 1720181590000000000``), strings accepted on input;
- maps are objects, repeated fields arrays, bytes base64;
- on output every field without presence is written, defaults included (so ``{"position": 0}``
  is never ``{}``); fields with presence (``optional``, messages, oneof members) only when set;
- on input ``null`` leaves a field unset; an unknown field, a value of the wrong type, an
  out-of-range number or an unknown enum string is a :class:`JsonMappingError` naming the field.
  Error messages never echo the offending value (it may be a secret).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from execx.v1 import options_pb2
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from .shapes import SEED_SHAPES, Shapes

_INT_RE = re.compile(r"-?[0-9]+")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_FLOAT32_MAX = 3.4028234663852886e38

_INT_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})

ANY_FULL_NAME = "google.protobuf.Any"
_JSON_VALUE: Any = options_pb2.json_value  # the stubs type extensions loosely


def descriptor_of(msg: Message) -> Descriptor:
    """A message's descriptor (typed as the pure-Python class; the upb one has the same API)."""
    return cast(Descriptor, msg.DESCRIPTOR)


class JsonMappingError(ValueError):
    """A JSON value that does not fit the message; ``field`` is its JSON path (``orders[1].qty``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid value for field {field!r}: {reason}" if field else reason)


@dataclass(slots=True)
class EnumInfo:
    """The JSON spellings of one enum."""

    full_name: str
    to_json: dict[int, str]  # number -> json_value (zero value: absent)
    names: dict[int, str]  # number -> proto value name
    from_str: dict[str, int]  # json_value and proto names -> number
    from_lower: dict[str, int]  # the same, lowercased (for case-insensitive files)

    @property
    def json_values(self) -> list[str]:
        """The documented strings, in declaration order."""
        return list(self.to_json.values())


def enum_info(desc: EnumDescriptor) -> EnumInfo:
    """Reads the ``json_value`` options of an enum."""
    to_json: dict[int, str] = {}
    names: dict[int, str] = {}
    from_str: dict[str, int] = {}
    for v in desc.values:
        names[v.number] = v.name
        from_str.setdefault(v.name, v.number)
        opts = v.GetOptions()
        if opts.HasExtension(_JSON_VALUE):
            jv: str = opts.Extensions[_JSON_VALUE]
            to_json[v.number] = jv
            from_str[jv] = v.number
    from_lower: dict[str, int] = {}
    for s, n in from_str.items():
        from_lower.setdefault(s.lower(), n)
    return EnumInfo(desc.full_name, to_json, names, from_str, from_lower)


@dataclass(slots=True)
class FieldInfo:
    desc: FieldDescriptor
    name: str
    json_name: str
    type: int
    repeated: bool  # a repeated field that is not a map
    presence: bool  # singular with explicit presence (optional scalar, message, oneof member)
    oneof: str | None  # the real (not synthetic) oneof this field belongs to
    enum: EnumInfo | None = None
    message: Descriptor | None = None
    map_key: FieldInfo | None = None
    map_value: FieldInfo | None = None

    @property
    def is_map(self) -> bool:
        return self.map_key is not None


@dataclass(slots=True)
class MessageInfo:
    desc: Descriptor
    fields: list[FieldInfo]
    by_input_name: dict[str, FieldInfo]
    case_insensitive_enums: bool
    unwrap: FieldInfo | None = None
    as_array: list[FieldInfo] | None = None
    oneof_keys: dict[str, str] = field(default_factory=dict)
    # Output plan: the JSON of a message with nothing set (fields without presence, at their
    # defaults; repeated and map fields are given fresh containers per call), then every field
    # ``ListFields()`` reports as set overwrites its key.
    defaults: dict[str, Any] = field(default_factory=dict)
    containers: list[tuple[str, bool]] = field(default_factory=list)  # (key, is_map)
    by_number: dict[int, tuple[FieldInfo, str]] = field(default_factory=dict)


def real_oneof(f: FieldDescriptor) -> str | None:
    """The name of the field's oneof, unless it is the synthetic oneof of a proto3 ``optional``."""
    o = f.containing_oneof
    if o is None:
        return None
    if len(o.fields) == 1 and o.name == "_" + f.name:
        return None
    return str(o.name)


def is_map_field(f: FieldDescriptor) -> bool:
    mt = f.message_type
    return bool(f.is_repeated and mt is not None and mt.GetOptions().map_entry)


class JsonCodec:
    """Converts between JSON values (as ``json.loads`` returns them) and proto messages."""

    def __init__(self, shapes: Shapes = SEED_SHAPES) -> None:
        self.shapes = shapes
        self._messages: dict[str, MessageInfo] = {}
        self._enums: dict[str, EnumInfo] = {}

    # ------------------------------------------------------------------ descriptor tables

    def enum(self, desc: EnumDescriptor) -> EnumInfo:
        info = self._enums.get(desc.full_name)
        if info is None:
            info = self._enums[desc.full_name] = enum_info(desc)
        return info

    def message(self, desc: Descriptor) -> MessageInfo:
        info = self._messages.get(desc.full_name)
        if info is not None:
            return info
        fields = [self._field(f) for f in desc.fields]
        by_input: dict[str, FieldInfo] = {}
        for fi in fields:
            by_input[fi.json_name] = fi
            by_input.setdefault(fi.name, fi)
        info = MessageInfo(
            desc=desc,
            fields=fields,
            by_input_name=by_input,
            case_insensitive_enums=desc.file.name in self.shapes.case_insensitive_enum_files,
        )
        unwrap = self.shapes.unwrap.get(desc.full_name)
        if unwrap is not None:
            info.unwrap = next(fi for fi in fields if fi.name == unwrap)
        as_array = self.shapes.as_array.get(desc.full_name)
        if as_array is not None:
            info.as_array = [next(fi for fi in fields if fi.name == n) for n in as_array]
        for (msg_name, oneof), key in self.shapes.oneof_keys.items():
            if msg_name == desc.full_name:
                info.oneof_keys[oneof] = key
        for fi in fields:
            key = info.oneof_keys.get(fi.oneof, fi.json_name) if fi.oneof is not None else fi.json_name
            info.by_number[fi.desc.number] = (fi, key)
            if fi.presence or fi.oneof is not None:
                continue
            if fi.is_map or fi.repeated:
                info.defaults[key] = None
                info.containers.append((key, fi.is_map))
            elif fi.enum is not None:
                if 0 in fi.enum.to_json:
                    info.defaults[key] = fi.enum.to_json[0]
                # else: the zero value has no JSON spelling, so the field is left out
            elif fi.message is None:
                info.defaults[key] = self._value_to_json(fi, fi.desc.default_value)
        self._messages[desc.full_name] = info
        return info

    def _field(self, f: FieldDescriptor) -> FieldInfo:
        if is_map_field(f):
            entry = cast(Descriptor, f.message_type)
            return FieldInfo(
                desc=f,
                name=f.name,
                json_name=f.json_name,
                type=f.type,
                repeated=False,
                presence=False,
                oneof=None,
                message=entry,
                map_key=self._field(entry.fields_by_name["key"]),
                map_value=self._field(entry.fields_by_name["value"]),
            )
        return FieldInfo(
            desc=f,
            name=f.name,
            json_name=f.json_name,
            type=f.type,
            repeated=bool(f.is_repeated),
            presence=bool(not f.is_repeated and f.has_presence),
            oneof=real_oneof(f),
            enum=self.enum(f.enum_type) if f.enum_type is not None else None,
            message=f.message_type if f.type == FieldDescriptor.TYPE_MESSAGE else None,
        )

    # ------------------------------------------------------------------ output

    def to_json(self, msg: Message) -> Any:
        """The JSON value of a message (an object, unless a shape rule says otherwise)."""
        info = self.message(descriptor_of(msg))
        if info.desc.full_name == ANY_FULL_NAME:
            return self._any_to_json(msg)
        if info.unwrap is not None:
            return self._field_to_json(info.unwrap, getattr(msg, info.unwrap.name))
        if info.as_array is not None:
            return [self._field_to_json(fi, getattr(msg, fi.name)) for fi in info.as_array]
        out = dict(info.defaults)
        for key, is_map in info.containers:
            out[key] = {} if is_map else []
        for fd, value in msg.ListFields():
            fi, key = info.by_number[fd.number]
            out[key] = self._field_to_json(fi, value)
        return out

    def field_to_json(self, msg: Message, name: str) -> Any:
        """The JSON value of one field of ``msg`` (for ``response_body``)."""
        fi = next(f for f in self.message(descriptor_of(msg)).fields if f.name == name)
        return self._field_to_json(fi, getattr(msg, fi.name))

    def _field_to_json(self, fi: FieldInfo, value: Any) -> Any:
        if fi.map_key is not None and fi.map_value is not None:
            vf = fi.map_value
            return {self._map_key_out(fi.map_key, k): self._value_to_json(vf, v) for k, v in value.items()}
        if fi.repeated:
            return [self._value_to_json(fi, v) for v in value]
        return self._value_to_json(fi, value)

    @staticmethod
    def _map_key_out(kf: FieldInfo, key: Any) -> str:
        if kf.type == FieldDescriptor.TYPE_BOOL:
            return "true" if key else "false"
        return str(key)

    def _value_to_json(self, fi: FieldInfo, value: Any) -> Any:
        t = fi.type
        if t == FieldDescriptor.TYPE_MESSAGE:
            return self.to_json(value)
        if fi.enum is not None:
            return fi.enum.to_json.get(value) or fi.enum.names.get(value, value)
        if t in _FLOAT_TYPES:
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "Infinity" if value > 0 else "-Infinity"
            return value
        if t == FieldDescriptor.TYPE_BYTES:
            return base64.b64encode(value).decode("ascii")
        return value

    def _any_to_json(self, msg: Message) -> dict[str, Any]:
        type_url: str = getattr(msg, "type_url")  # noqa: B009 (Any has no typed attribute here)
        payload: bytes = getattr(msg, "value")  # noqa: B009
        name = type_url.rsplit("/", 1)[-1]
        try:
            desc = descriptor_pool.Default().FindMessageTypeByName(name)
        except KeyError:
            return {"@type": type_url, "value": base64.b64encode(payload).decode("ascii")}
        inner = message_factory.GetMessageClass(desc)()
        inner.ParseFromString(payload)
        body = self.to_json(inner)
        if isinstance(body, dict):
            return {"@type": type_url, **body}
        return {"@type": type_url, "value": body}

    # ------------------------------------------------------------------ input

    def from_json(self, value: Any, msg: Message, path: str = "") -> None:
        """Merges the JSON value into ``msg``; JsonMappingError naming the field if it does not fit."""
        info = self.message(descriptor_of(msg))
        if info.unwrap is not None:
            self._set_field(msg, info.unwrap, value, path, info.case_insensitive_enums)
            return
        if info.as_array is not None:
            if not isinstance(value, list) or len(value) != len(info.as_array):
                raise JsonMappingError(path, f"expected an array of {len(info.as_array)} values")
            for i, (element, item) in enumerate(zip(info.as_array, value, strict=True)):
                self._set_field(msg, element, item, f"{path}[{i}]", info.case_insensitive_enums)
            return
        if not isinstance(value, dict):
            raise JsonMappingError(path, "expected a JSON object")
        seen: dict[str, str] = {}
        oneofs: dict[str, str] = {}
        for key, item in value.items():
            fi = info.by_input_name.get(key)
            sub = f"{path}.{key}" if path else key
            if fi is None:
                raise JsonMappingError(sub, "unknown field")
            if fi.name in seen:
                raise JsonMappingError(sub, f"given twice (as {seen[fi.name]!r} and {key!r})")
            seen[fi.name] = key
            if item is None:
                continue
            if fi.oneof is not None:
                other = oneofs.get(fi.oneof)
                if other is not None:
                    raise JsonMappingError(sub, f"only one of the {fi.oneof!r} fields may be set (also {other!r})")
                oneofs[fi.oneof] = key
            self._set_field(msg, fi, item, sub, info.case_insensitive_enums)

    def _set_field(self, msg: Message, fi: FieldInfo, value: Any, path: str, ci: bool) -> None:
        if fi.map_key is not None and fi.map_value is not None:
            if not isinstance(value, dict):
                raise JsonMappingError(path, "expected a JSON object (map)")
            container = getattr(msg, fi.name)
            kf, vf = fi.map_key, fi.map_value
            for k, v in value.items():
                sub = f"{path}[{k!r}]"
                key = self._map_key_in(kf, k, sub)
                if v is None:
                    raise JsonMappingError(sub, "null is not a valid map value")
                if vf.type == FieldDescriptor.TYPE_MESSAGE:
                    self.from_json(v, container[key], sub)
                else:
                    container[key] = self._scalar_in(vf, v, sub, ci)
            return
        if fi.repeated:
            if not isinstance(value, list):
                raise JsonMappingError(path, "expected a JSON array")
            container = getattr(msg, fi.name)
            for i, item in enumerate(value):
                sub = f"{path}[{i}]"
                if item is None:
                    raise JsonMappingError(sub, "null is not a valid array element")
                if fi.type == FieldDescriptor.TYPE_MESSAGE:
                    self.from_json(item, container.add(), sub)
                else:
                    container.append(self._scalar_in(fi, item, sub, ci))
            return
        if fi.type == FieldDescriptor.TYPE_MESSAGE:
            sub_msg = getattr(msg, fi.name)
            self.from_json(value, sub_msg, path)
            sub_msg.SetInParent()
            return
        setattr(msg, fi.name, self._scalar_in(fi, value, path, ci))

    def _map_key_in(self, kf: FieldInfo, key: str, path: str) -> Any:
        if kf.type == FieldDescriptor.TYPE_STRING:
            return key
        if kf.type == FieldDescriptor.TYPE_BOOL:
            if key in ("true", "false"):
                return key == "true"
            raise JsonMappingError(path, "map key must be true or false")
        return self._int_in(kf, key, path)

    def _scalar_in(self, fi: FieldInfo, value: Any, path: str, ci: bool) -> Any:
        t = fi.type
        if fi.enum is not None:
            return self._enum_in(fi.enum, value, path, ci)
        if t == FieldDescriptor.TYPE_STRING:
            if not isinstance(value, str):
                raise JsonMappingError(path, "expected a string")
            return value
        if t == FieldDescriptor.TYPE_BOOL:
            if not isinstance(value, bool):
                raise JsonMappingError(path, "expected true or false")
            return value
        if t in _FLOAT_TYPES:
            return self._float_in(fi, value, path)
        if t in _INT_RANGES:
            return self._int_in(fi, value, path)
        if t == FieldDescriptor.TYPE_BYTES:
            if not isinstance(value, str):
                raise JsonMappingError(path, "expected a base64 string")
            try:
                return base64.b64decode(_pad(value.replace("-", "+").replace("_", "/")), validate=True)
            except (binascii.Error, ValueError):
                raise JsonMappingError(path, "expected a base64 string") from None
        raise JsonMappingError(path, "unsupported field type")  # pragma: no cover (groups only)

    @staticmethod
    def _enum_in(enum: EnumInfo, value: Any, path: str, ci: bool) -> int:
        allowed = ", ".join(repr(v) for v in enum.json_values)
        if isinstance(value, str):
            n = enum.from_str.get(value)
            if n is None and ci:
                n = enum.from_lower.get(value.lower())
            if n is None:
                raise JsonMappingError(path, f"unknown enum value (expected one of {allowed})")
            return n
        if isinstance(value, int) and not isinstance(value, bool):
            if value not in enum.names:
                raise JsonMappingError(path, f"unknown enum number (expected one of {allowed})")
            return value
        raise JsonMappingError(path, f"expected a string, one of {allowed}")

    @staticmethod
    def _int_in(fi: FieldInfo, value: Any, path: str) -> int:
        n: int
        if isinstance(value, bool):
            raise JsonMappingError(path, "expected an integer")
        if isinstance(value, int):
            n = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise JsonMappingError(path, "expected an integer")
            n = int(value)
        elif isinstance(value, str):
            if _INT_RE.fullmatch(value):
                n = int(value)
            elif _NUMBER_RE.fullmatch(value):
                try:
                    d = Decimal(value)
                except InvalidOperation:  # pragma: no cover (the regex only lets numbers through)
                    raise JsonMappingError(path, "expected an integer") from None
                if d != d.to_integral_value() or abs(d.adjusted()) > 30:
                    raise JsonMappingError(path, "expected an integer")
                n = int(d)
            else:
                raise JsonMappingError(path, "expected an integer")
        else:
            raise JsonMappingError(path, "expected an integer")
        lo, hi = _INT_RANGES[fi.type]
        if not lo <= n <= hi:
            raise JsonMappingError(path, f"out of range [{lo}, {hi}]")
        return n

    @staticmethod
    def _float_in(fi: FieldInfo, value: Any, path: str) -> float:
        f: float
        if isinstance(value, bool):
            raise JsonMappingError(path, "expected a number")
        if isinstance(value, int):
            try:
                f = float(value)
            except OverflowError:
                raise JsonMappingError(path, "number out of range") from None
        elif isinstance(value, float):
            f = value
        elif isinstance(value, str):
            if value == "NaN":
                return math.nan
            if value in ("Infinity", "-Infinity"):
                return math.inf if value == "Infinity" else -math.inf
            if not _NUMBER_RE.fullmatch(value):
                raise JsonMappingError(path, "expected a number")
            f = float(value)
        else:
            raise JsonMappingError(path, "expected a number")
        if math.isinf(f) or (fi.type == FieldDescriptor.TYPE_FLOAT and abs(f) > _FLOAT32_MAX):
            raise JsonMappingError(path, "number out of range")
        return f

    # ------------------------------------------------------------------ query strings

    def from_query(self, params: Mapping[str, list[str]], msg: Message) -> None:
        """Merges URL query parameters (``a=1&b.c=x&list=1&list=2``) into ``msg``.

        Names are dotted JSON or proto field paths to singular-message fields, ending in a scalar,
        enum or repeated scalar field; values are converted from their string form.
        """
        for name, values in params.items():
            info = self.message(descriptor_of(msg))
            target = msg
            parts = name.split(".")
            for i, part in enumerate(parts):
                fi = info.by_input_name.get(part)
                path = ".".join(parts[: i + 1])
                if fi is None:
                    raise JsonMappingError(path, "unknown field")
                last = i == len(parts) - 1
                if not last:
                    if fi.type != FieldDescriptor.TYPE_MESSAGE or fi.repeated or fi.is_map:
                        raise JsonMappingError(path, "not a message field")
                    target = getattr(target, fi.name)
                    info = self.message(descriptor_of(target))
                    continue
                if fi.type == FieldDescriptor.TYPE_MESSAGE or fi.is_map:
                    raise JsonMappingError(path, "cannot be set from a query parameter")
                converted = [self.query_scalar(fi, v, path, info.case_insensitive_enums) for v in values]
                if fi.repeated:
                    getattr(target, fi.name).extend(converted)
                else:
                    if len(converted) != 1:
                        raise JsonMappingError(path, "given more than once")
                    setattr(target, fi.name, converted[0])

    def query_scalar(self, fi: FieldInfo, value: str, path: str, ci: bool = False) -> Any:
        """A scalar field's value from its string form (path variables and query parameters)."""
        if fi.type == FieldDescriptor.TYPE_BOOL:
            if value in ("true", "false", "1", "0"):
                return value in ("true", "1")
            raise JsonMappingError(path, "expected true or false")
        return self._scalar_in(fi, value, path, ci)

    def field_info(self, desc: Descriptor, path: tuple[str, ...]) -> FieldInfo:
        """The FieldInfo of a dotted proto field path (assumed valid: checked by the route table)."""
        info = self.message(desc)
        found: FieldInfo | None = None
        for name in path:
            found = next(f for f in info.fields if f.name == name)
            if found.message is not None and not found.is_map:
                info = self.message(found.message)
        if found is None:
            raise ValueError("empty field path")
        return found


def _pad(s: str) -> str:
    return s + "=" * (-len(s) % 4)


def set_path_value(codec: JsonCodec, msg: Message, path: tuple[str, ...], raw: str) -> None:
    """Sets a (possibly nested) scalar field from a path variable's string value."""
    target = msg
    for name in path[:-1]:
        target = getattr(target, name)
    fi = codec.field_info(descriptor_of(msg), path)
    setattr(target, path[-1], codec.query_scalar(fi, raw, ".".join(f for f in path)))
