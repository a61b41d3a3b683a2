"""Source comments of the protos, for the OpenAPI descriptions.

The generated ``_pb2`` modules do not carry comments, so ``scripts/gen_proto.sh`` also writes a
descriptor set with source info next to them (``execx/v1/execx_v1.binpb``). When it is absent the
OpenAPI document simply has no descriptions.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from google.protobuf import descriptor_pb2

log = logging.getLogger("execx.gateway")

DESCRIPTOR_SET_NAME = "execx_v1.binpb"

# Field numbers of the descriptor.proto elements that source-code-info paths walk through.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM = 2, 3, 4
_ENUM_VALUE = 2
_SERVICE_METHOD = 2


def clean_comment(text: str) -> str:
    """A proto comment as a description: lines stripped, paragraphs kept, wrapped lines joined."""
    paragraphs: list[list[str]] = [[]]
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(line)
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


class Comments:
    """Leading comments by full name: messages ``execx.v1.Msg``, fields ``execx.v1.Msg.field``,
    enums ``execx.v1.Enum``, enum values ``execx.v1.Enum.VALUE``, services and methods."""

    def __init__(self, by_name: dict[str, str] | None = None) -> None:
        self.by_name = by_name or {}

    def get(self, full_name: str) -> str:
        return self.by_name.get(full_name, "")

    @classmethod
    def from_descriptor_set(cls, fds: descriptor_pb2.FileDescriptorSet) -> Comments:
        out: dict[str, str] = {}
        for file in fds.file:
            locations = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}

            def note(name: str, path: tuple[int, ...], _locations: dict[tuple[int, ...], str] = locations) -> None:
                text = _locations.get(path, "")
                if text.strip():
                    out[name] = clean_comment(text)

            prefix = file.package

            def walk_enum(enum: descriptor_pb2.EnumDescriptorProto, scope: str, path: tuple[int, ...]) -> None:
                name = f"{scope}.{enum.name}"
                note(name, path)
                for i, value in enumerate(enum.value):
                    note(f"{name}.{value.name}", (*path, _ENUM_VALUE, i))

            def walk_message(msg: descriptor_pb2.DescriptorProto, scope: str, path: tuple[int, ...]) -> None:
                name = f"{scope}.{msg.name}"
                note(name, path)
                for i, f in enumerate(msg.field):
                    note(f"{name}.{f.name}", (*path, _MSG_FIELD, i))
                for i, nested in enumerate(msg.nested_type):
                    walk_message(nested, name, (*path, _MSG_NESTED, i))
                for i, enum in enumerate(msg.enum_type):
                    walk_enum(enum, name, (*path, _MSG_ENUM, i))

            for i, msg in enumerate(file.message_type):
                walk_message(msg, prefix, (_FILE_MESSAGE, i))
            for i, enum in enumerate(file.enum_type):
                walk_enum(enum, prefix, (_FILE_ENUM, i))
            for i, svc in enumerate(file.service):
                sname = f"{prefix}.{svc.name}"
                note(sname, (_FILE_SERVICE, i))
                for j, method in enumerate(svc.method):
                    note(f"{sname}.{method.name}", (_FILE_SERVICE, i, _SERVICE_METHOD, j))
        return cls(out)


def load_comments(package: str = "execx.v1") -> Comments:
    """The comments of the API package's descriptor set, or none if it was not generated."""
    try:
        pkg = importlib.import_module(package)
    except ImportError:
        return Comments()
    for directory in getattr(pkg, "__path__", ()):
        path = Path(directory) / DESCRIPTOR_SET_NAME
        if path.is_file():
            fds = descriptor_pb2.FileDescriptorSet()
            fds.ParseFromString(path.read_bytes())
            return Comments.from_descriptor_set(fds)
    log.debug("gateway.no_descriptor_set", extra={"package": package})
    return Comments()
