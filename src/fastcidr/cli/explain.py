"""``fastcidr explain TYPE[.field.path]``: the fields of a served kind, laid out as kubectl's
``explain`` prints them (GROUP / KIND / VERSION, FIELD, DESCRIPTION, FIELDS; ``--recursive`` for
the whole tree), from the field table in ``fastcidr.k8s.schema``.

>>> print(explain_text("svc.spec.ports.port").splitlines()[3])
FIELD: port <integer> -required-
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from typing import List

from ..k8s import resources
from ..k8s.schema import Field, FieldNotFound, field_at
from .kubectl_errors import CommandError

__all__ = ["explain_text", "cmd_explain"]


def _wrap(text: str, indent: int) -> List[str]:
    return textwrap.wrap(text, width=80 - indent, break_on_hyphens=False) or [""]


def _type(f: Field) -> str:
    return f"<{f.type}>" + (" -required-" if f.required else "")


def _fields(f: Field, recursive: bool, depth: int = 1) -> List[str]:
    lines: List[str] = []
    for name in sorted(f.fields):
        sub = f.fields[name]
        pad = "  " * depth
        lines.append(f"{pad}{name}\t{_type(sub)}")
        if recursive:
            lines += _fields(sub, True, depth + 1)
            continue
        if sub.enum:
            lines.append(f"{pad}enum: {', '.join(sub.enum)}")
        lines += [f"{pad}  {line}" for line in _wrap(sub.description, len(pad) + 2)]
        lines.append("")
    return lines


def explain_text(target: str, recursive: bool = False) -> str:
    name, _, rest = target.partition(".")
    res = resources.lookup(name)
    if res is None:
        raise CommandError(f'the server doesn\'t have a resource type "{name}"')
    path = [p for p in rest.split(".") if p] if rest else []
    try:
        f = field_at(res.kind, path)
    except FieldNotFound as exc:
        raise CommandError(f'field "{str(exc).rpartition(".")[2]}" does not exist') from None
    lines = [f"GROUP:      {res.group}"] if res.group else []
    lines += [f"KIND:       {res.kind}", f"VERSION:    {res.version}", ""]
    if path:
        lines += [f"FIELD: {path[-1]} {_type(f)}", ""]
        if f.enum:
            lines += ["ENUM:"] + [f"    {value}" for value in f.enum] + [""]
    lines += ["DESCRIPTION:"] + [f"    {line}" for line in _wrap(f.description, 4)] + ["    "]
    if f.fields:
        lines += ["FIELDS:"] + _fields(f, recursive)
    return "\n".join(lines) + "\n"


def cmd_explain(args: argparse.Namespace) -> int:
    if args.api_version and args.api_version not in ("v1", "networking.k8s.io/v1"):
        raise CommandError(f'couldn\'t find resource for "{args.api_version}"')
    sys.stdout.write(explain_text(args.target, args.recursive))
    return 0
