"""Protobuf ⇄ Python: results become the dataclasses of ``types.py`` (enums as their wire strings, read from
the ``json_value`` option of each enum value, as the REST shim writes them); string inputs become enum
numbers, case-insensitively ("BUY", "buy" and "SIDE_BUY" are the same side)."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import grpc
from execx.v1 import options_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from . import types
from .errors import ExecxError

T = TypeVar("T")
_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}


@cache
def _wire_names(desc: EnumDescriptor) -> dict[int, str]:
    ext: Any = options_pb2.json_value
    return {v.number: v.GetOptions().Extensions[ext] for v in desc.values if v.GetOptions().HasExtension(ext)}


@cache
def _numbers(desc: EnumDescriptor) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in desc.values:
        out[v.name.lower()] = v.number
    for number, name in _wire_names(desc).items():
        out[name.lower()] = number
    return out


def enum_name(desc: EnumDescriptor, number: int) -> str:
    """The wire string of an enum number ("" for the unspecified value)."""
    return _wire_names(desc).get(number, "")


def enum_number(desc: EnumDescriptor, value: str, field: str) -> int:
    """The number of a wire string, any case; INVALID_ARGUMENT naming ``field`` and the accepted values."""
    number = _numbers(desc).get(str(value).strip().lower())
    if number is None or number == 0:
        accepted = ", ".join(sorted(_wire_names(desc).values()))
        raise ExecxError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {value!r} is not one of {accepted}")
    return number


def status_code(code: int) -> grpc.StatusCode:
    """A numeric status code (google.rpc.Status.code) as a grpc.StatusCode (UNKNOWN if out of range)."""
    return _GRPC_CODES.get(code, grpc.StatusCode.UNKNOWN)


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return result(value)
    return value


def result(msg: Message) -> Any:
    """The dataclass of ``types.py`` for a protobuf message (google.rpc.Status → ``types.Status``)."""
    desc = msg.DESCRIPTOR
    if desc.full_name == "google.rpc.Status":
        m: Any = msg
        return types.Status(status_code(m.code), m.message)
    cls = types.MESSAGES[desc.full_name]
    known = cls.__dataclass_fields__  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for field in desc.fields:
        if field.name not in known:
            continue  # stubs newer than types.py (run gen_types.py): the field is left out, not an error
        value = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            vfield = field.message_type.fields_by_name["value"]
            kwargs[field.name] = {k: _value(vfield, v) for k, v in value.items()}
        elif field.is_repeated:
            kwargs[field.name] = [_value(field, v) for v in value]
        elif (field.type == FieldDescriptor.TYPE_MESSAGE or field.has_presence) and not msg.HasField(field.name):
            kwargs[field.name] = None
        else:
            kwargs[field.name] = _value(field, value)
    return cls(**kwargs)


def result_as(cls: type[T], msg: Message) -> T:
    """``result(msg)``, checked to be a ``cls``."""
    out = result(msg)
    assert isinstance(out, cls), (cls, type(out))
    return out
