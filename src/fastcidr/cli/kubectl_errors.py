"""Errors as kubectl prints them: ``error: ...`` for the client's own, and for the server's the
text kubectl makes of a ``Status`` (``Error from server (NotFound): ...``, ``The Service "x" is invalid: ...``)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..errors import StoreError


class CommandError(Exception):
    """A client-side error: printed as ``error: <message>``, exit status 1."""


class ServerSideError(CommandError):
    """An error kubectl would have had from the apiserver: printed as it is (``Error from server
    (BadRequest): ...``), exit status 1."""


def _field_errors(exc: BaseException) -> List[str]:
    errors = getattr(exc, "errors", None)
    if not errors:
        return [str(exc)]
    return [f"{field}: {message}" if field else str(message) for field, message in errors]


def go_aggregate(messages: Sequence[str]) -> str:
    """Go's ``utilerrors.Aggregate`` text: the one message, or ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def status_of(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None) -> Dict[str, Any]:
    """The ``Status`` body the apiserver would answer with (the library's one translation)."""
    from ..k8s import resources
    from ..k8s.status import from_exception

    resource = resources.by_kind(getattr(exc, "kind", None) or kind or "")
    return from_exception(exc, resource, getattr(exc, "name", None) or name or "").body


def status_message(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None) -> str:
    """The ``message`` of the Kubernetes ``Status`` the apiserver would have answered with."""
    return str(status_of(exc, kind, name)["message"])


def kubectl_text(status: Dict[str, Any], source: Optional[str] = None, verb: str = "creating") -> str:
    """What kubectl prints for an error ``Status`` (``cmdutil.StandardErrorMessage``).

    Invalid (422) is rebuilt from the details as ``The <Kind> "<name>" is invalid: ...`` (one
    ``* field: message`` line per cause when there are several); every other reason is
    ``Error from server (<Reason>): <message>``, with ``error when <verb> "<file>": `` before the
    message when the object came from a file (``apply -f``).

    >>> kubectl_text({"reason": "NotFound", "message": 'services "web" not found'})
    'Error from server (NotFound): services "web" not found'
    """
    reason = status.get("reason") or "InternalError"
    message = str(status.get("message", ""))
    if reason == "Invalid":
        details = status.get("details") or {}
        kind, name = details.get("kind"), details.get("name")
        head = f'The {kind} "{name or ""}" is invalid' if (kind or name) else "The request is invalid"
        causes = [f"{c['field']}: {c.get('message', '')}" if c.get("field") else str(c.get("message", ""))
                  for c in details.get("causes") or []] or [message]
        if len(causes) == 1:
            return f"{head}: {causes[0]}"
        return f"{head}: \n" + "\n".join(f"* {cause}" for cause in causes)
    if source is not None:
        message = f'error when {verb} "{source}": {message}'
    return f"Error from server ({reason}): {message}"


def server_error_text(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None,
                      source: Optional[str] = None, verb: str = "creating") -> str:
    """What kubectl prints for a fastcidr exception: its ``Status`` as kubectl renders it; a store
    that cannot be used is the client's own error (``error: ...``)."""
    if isinstance(exc, StoreError):
        return f"error: {exc}"
    return kubectl_text(status_of(exc, kind, name), source, verb)
