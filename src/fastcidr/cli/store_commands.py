"""``fastcidr store inspect`` and ``fastcidr store remove``: finding and clearing damaged records.

A record is *unreadable* when its stored value cannot be read back as its object: not valid UTF-8
or JSON, not a JSON object, or not the shape of its kind (docs/stores.md). Every reader steps
around such a record (listings skip it with one ``warning: skipped unreadable record ...`` line
on stderr); reading it by name is an error naming it. These two commands are how an operator
sees them all and removes one::

    $ fastcidr store inspect
    RECORD                 REASON
    services/default/web   value is not valid JSON (Expecting value: line 1 column 1 (char 0))
    $ fastcidr store remove services/default/web
    record services/default/web removed

``remove`` deletes exactly one record by its ``<kind>/<key>`` location, whatever its value holds,
and refuses a record that reads fine (``fastcidr delete`` is the way for those) unless ``--force``.
Nothing else is touched: addresses a removed Service held are released by the next repair pass
(a Cluster's start-up or ``repair()``), as for any Service deleted behind the Cluster's back.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional, Tuple

from ..k8s.view import LOGGER_NAME

__all__ = ["add_store_commands", "print_store_warnings", "cmd_store_inspect", "cmd_store_remove"]


class _StderrWarnings(logging.Handler):
    """``warning: <message>`` on the stderr of the moment (tests and pipes replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"warning: {record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed stderr must not break the command
            pass


_HANDLER: Optional[_StderrWarnings] = None


def print_store_warnings() -> None:
    """Show what the stores warn about (a record a listing skipped) as kubectl shows warnings:
    one ``warning: ...`` line on stderr each. Idempotent."""
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = _StderrWarnings(logging.WARNING)
        logging.getLogger(LOGGER_NAME).addHandler(_HANDLER)


def add_store_commands(sub: Any, store_flag: argparse.ArgumentParser) -> None:
    """Add ``store inspect`` and ``store remove`` to the command tree ``sub``."""
    p = sub.add_parser("store", help="Find and remove damaged records in the store.",
                       description="Find and remove records whose stored value cannot be read back.",
                       parents=[store_flag])
    verbs = p.add_subparsers(dest="store_verb", metavar="inspect|remove", parser_class=type(p))
    verbs.required = True
    q = verbs.add_parser("inspect", help="list the unreadable records (location and reason)",
                         parents=[store_flag])
    q.set_defaults(func=cmd_store_inspect)
    q = verbs.add_parser("remove", help="delete one record by its location, e.g. services/default/web",
                         parents=[store_flag])
    q.add_argument("location", metavar="KIND/KEY")
    q.add_argument("--force", action="store_true",
                   help="remove the record even though it reads fine (it is deleted as it is, "
                        "without the controllers that 'fastcidr delete' runs)")
    q.set_defaults(func=cmd_store_remove)


def _open_maintenance(args: argparse.Namespace) -> Any:
    """A StoreMaintenance on the command's store, which must exist (as ``open_view``)."""
    from ..k8s.view import StoreMaintenance
    from .commands import open_existing

    return open_existing(args, StoreMaintenance)


def cmd_store_inspect(args: argparse.Namespace) -> int:
    from .commands import _err, _out, open_view
    from .output import table

    with open_view(args) as view:
        found: List[Tuple[str, str]] = view.unreadable()
    if not found:
        _err("No unreadable records")
        return 0
    _out(table([["RECORD", "REASON"]] + [[location, reason] for location, reason in found]))
    return 0


def cmd_store_remove(args: argparse.Namespace) -> int:
    from .commands import _out
    from .kubectl_errors import CommandError

    location = args.location.strip()
    with _open_maintenance(args) as view:
        try:
            problem = view.record_problem(location)
        except LookupError:
            raise CommandError(f"no record {location} in the store") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if problem is None and not args.force:
            raise CommandError(f"record {location} reads fine: delete the object with 'fastcidr "
                               "delete', or pass --force to remove the record as it is")
        view.remove_record(location)
    _out(f"record {location} removed\n")
    return 0
