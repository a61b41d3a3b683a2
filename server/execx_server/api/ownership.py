"""Ownership of what a request names only by its own id (issue 23): a position manager by (exchange,
symbol), a trigger by its id, a smart order by its id, the account views across sessions.

The access interceptor (``access.py``) runs every authenticated call, gRPC or REST, under its caller
(``calling``); the servicers ask ``check`` before acting on an object that belongs to a session (the
session it was started on: an object is its session's, and a session the key that opened it) and
``visible`` to leave other keys' objects out of a list, a bulk action or a feed. An admin key may use
every session. Outside a call (execx itself: restarts, algorithms) there is no caller and nothing is
refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..domain.errors import PermissionDenied

_CALLER: ContextVar[tuple[str, Callable[[str], bool]] | None] = ContextVar("execx_caller", default=None)


@contextmanager
def calling(key_id: str, may_use: Callable[[str], bool]) -> Iterator[None]:
    """Run the block as the call of key ``key_id``, which may use the sessions ``may_use`` accepts."""
    token = _CALLER.set((key_id, may_use))
    try:
        yield
    finally:
        try:
            _CALLER.reset(token)
        except ValueError:
            pass  # a stream's generator closed from another context: nothing of this call to restore there


def visible(session_id: str) -> bool:
    """The calling key may see and use ``session_id``'s objects (True outside a call)."""
    caller = _CALLER.get()
    return caller is None or caller[1](session_id)


def check(session_id: str, what: str) -> None:
    """PERMISSION_DENIED unless the calling key may use ``what``, an object of session ``session_id``."""
    caller = _CALLER.get()
    if caller is not None and not caller[1](session_id):
        raise PermissionDenied(f"{what} belongs to a session of another API key (not {caller[0]!r})")


def visibility() -> Callable[[str], bool]:
    """``visible`` fixed to the calling key now: for a feed filtered later, outside the call's context."""
    caller = _CALLER.get()
    return (lambda _session_id: True) if caller is None else caller[1]
