"""Errors as kubectl prints them: ``error: ...`` for the client's own, and for the server's the
text kubectl makes of a ``Status`` (``Error from server (NotFound): ...``, ``The Service "x" is invalid: ...``)."""
from __future__ import annotations

from typing import (
    List,
    Optional,
    Sequence,
)

from ..errors import StoreError


class CommandError(Exception):
    """A client-side error: printed as ``error: <message>``, exit status 1."""


def _field_errors(exc: BaseException) -> List[str]:
    errors = getattr(exc, "errors", None)
    if not errors:
        return [str(exc)]
    return [f"{field}: {message}" if field else str(message) for field, message in errors]


def go_aggregate(messages: Sequence[str]) -> str:
    """Go's ``utilerrors.Aggregate`` text: the one message, or ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def status_message(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None) -> str:
    """The ``message`` of the Kubernetes ``Status`` the apiserver would have answered with."""
    reason = getattr(exc, "reason", "InternalError")
    if reason == "Invalid" and (kind or getattr(exc, "kind", None)):
        kind = getattr(exc, "kind", None) or kind
        name = getattr(exc, "name", None) or name
        return f'{kind} "{name}" is invalid: {go_aggregate(_field_errors(exc))}'
    if reason == "InternalError":
        return f"Internal error occurred: {exc}"
    return str(exc)


def server_error_text(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None,
                      source: Optional[str] = None, verb: str = "creating") -> str:
    """What kubectl prints for an error Status (``cmdutil.StandardErrorMessage``).

    Invalid (422) is rebuilt from the details as ``The <Kind> "<name>" is invalid: ...`` (one
    ``* field: message`` line per cause when there are several); every other reason is
    ``Error from server (<Reason>): <message>``, with ``error when <verb> "<file>": `` before the
    message when the object came from a file (``apply -f``).
    """
    if isinstance(exc, StoreError):
        return f"error: {exc}"
    reason = getattr(exc, "reason", "InternalError")
    if reason == "Invalid":
        kind = getattr(exc, "kind", None) or kind
        name = getattr(exc, "name", None) or name
        head = f'The {kind} "{name}" is invalid' if (kind or name) else "The request is invalid"
        causes = _field_errors(exc)
        if len(causes) == 1:
            return f"{head}: {causes[0]}"
        return f"{head}: \n" + "\n".join(f"* {cause}" for cause in causes)
    message = status_message(exc, kind, name)
    if source is not None:
        message = f'error when {verb} "{source}": {message}'
    return f"Error from server ({reason}): {message}"

