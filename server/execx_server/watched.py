"""Files execx reads at start-up and reads again when they change: the keys file (``api/access.py``), the
credentials file (``engine/credentials.py``) and the TLS certificates (``api/tls.py``). A file's stamp (its
modification time and size) says whether it changed; a configuration file is JSON, or YAML by its suffix."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any


def stamp(path: Path | None) -> tuple[int, int] | None:
    """Modification time (ns) and size of ``path``; None when there is none or it cannot be read."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def read_config(path: Path, what: str, error: type[Exception]) -> Any:
    """The parsed content of a JSON or YAML (``.yaml``/``.yml``) file; ``error`` naming ``what`` when it cannot
    be read or parsed. The parser's own message is never shown: it may quote a secret of the file."""
    try:
        text = path.read_text()
    except OSError as e:
        raise error(f"cannot read the {what} {path}: {e.strerror}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            return importlib.import_module("yaml").safe_load(text)
        return json.loads(text)
    except Exception:
        raise error(f"the {what} {path} does not parse") from None
