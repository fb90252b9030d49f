"""``fastcidr label`` and ``fastcidr annotate``: kubectl's commands, messages and rules.

``KEY=VALUE`` sets, ``KEY-`` removes; changing a value that is there needs ``--overwrite``
("'a' already has a value (b), and --overwrite is false"; annotate refuses any existing key);
``--all`` or ``-l`` pick the objects; each object's result is printed as kubectl does
("service/web labeled", "unlabeled", "not labeled", "annotated"). The write goes through the
Cluster (``update``, conditional on the object's resourceVersion).
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

from ..errors import FastCIDRError
from .kubectl_errors import CommandError, server_error_text

__all__ = ["parse_pairs", "cmd_label", "cmd_annotate", "add_parsers"]

_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def _is_pair(word: str) -> bool:
    return "=" in word or word.endswith("-")


def parse_pairs(words: List[str], what: str) -> Tuple[List[str], Dict[str, str], List[str]]:
    """(resource words, keys to set, keys to remove); later ``k=v`` win over earlier ones."""
    resources = [w for w in words if not _is_pair(w)]
    pairs = [w for w in words if _is_pair(w)]
    noun = "a label" if what == "label" else "an annotation"
    if not pairs:
        raise CommandError(f"at least one {'label' if what == 'label' else 'annotation'} update is required")
    add: Dict[str, str] = {}
    remove: List[str] = []
    for pair in pairs:
        if "=" in pair:
            key, _, value = pair.partition("=")
            if what == "label" and (len(value) > 63 or not _LABEL_VALUE_RE.match(value)):
                detail = "must be no more than 63 characters" if len(value) > 63 else _LABEL_VALUE_MESSAGE
                raise CommandError(f'invalid label value: "{pair}": {detail}')
            if not key:
                raise CommandError(f"invalid {'label' if what == 'label' else 'annotation'} spec: {pair}")
            add[key] = value
        else:
            remove.append(pair[:-1])
    if set(add) & set(remove):
        raise CommandError(f"can not both modify and remove {noun} in the same command")
    return resources, add, remove


def add_parsers(add: Any, namespace_flag: Any) -> None:
    """Register ``label`` and ``annotate`` (``add`` makes a sub-parser, as in commands.py)."""
    for what, help_text in (("label", "Update the labels on resources."),
                            ("annotate", "Update the annotations on resources.")):
        p = add(what, help_text)
        p.add_argument("args", nargs="*", metavar=f"TYPE NAME... KEY=VALUE... KEY-...")
        p.add_argument("--overwrite", action="store_true",
                       help=f"allow changing a {what} value that is already set")
        p.add_argument("--all", action="store_true", help="every object of the type (in the namespace)")
        p.add_argument("-l", "--selector", default=None, metavar="SELECTOR", help="objects whose labels match")
        p.add_argument("--list", action="store_true", help=f"print the {what}s of each object")
        p.add_argument("-o", "--output", default=None, choices=("name",), help="name: print only TYPE/NAME")
        p.add_argument("--dry-run", default="none", nargs="?", const="client",
                       choices=("none", "client", "server"), help="show what would change, keep nothing")
        p.add_argument("--resource-version", default=None, help="fail if the object changed since this version")
        namespace_flag(p)
        p.set_defaults(func=cmd_label if what == "label" else cmd_annotate, what=what)


def cmd_label(args: argparse.Namespace) -> int:
    return _run(args, "label")


def cmd_annotate(args: argparse.Namespace) -> int:
    return _run(args, "annotate")


def _targets(args: argparse.Namespace, words: List[str], cluster: Any,
             namespace: str) -> List[Tuple[Any, Dict[str, Any]]]:
    from .commands import _not_found, _object, _objects_of, _parse_targets, parse_selector
    from ..k8s.selectors import matches_labels

    if args.all and args.selector:
        raise CommandError("cannot set --all and --selector at the same time")
    if not words:
        raise CommandError("one or more resources must be specified as <resource> <name> or <resource>/<name>")
    targets = _parse_targets(words)
    selector = parse_selector(args.selector, targets[0][0])
    out: List[Tuple[Any, Dict[str, Any]]] = []
    errors: List[str] = []
    for res, name in targets:
        if name is None:
            if not (args.all or args.selector):
                raise CommandError("resource(s) were provided, but no name was specified")
            for obj in _objects_of(cluster, res, namespace if res.namespaced else None):
                if matches_labels(selector, (obj.get("metadata") or {}).get("labels")):
                    out.append((res, obj))
            continue
        try:
            out.append((res, _object(cluster, res, name, namespace)))
        except FastCIDRError as exc:
            if getattr(exc, "reason", "") == "Invalid":
                exc = _not_found(res, name)
            errors.append(server_error_text(exc))
    for line in errors:
        sys.stderr.write(line + "\n")
    args._target_errors = bool(errors)
    return out


def _run(args: argparse.Namespace, what: str) -> int:
    from .commands import _namespace, open_cluster

    field = "labels" if what == "label" else "annotations"
    add: Dict[str, str] = {}
    remove: List[str] = []
    if args.list:
        resources = [w for w in args.args if not _is_pair(w)]
    else:
        resources, add, remove = parse_pairs(list(args.args), what)
    namespace = _namespace(args)
    status = 0
    with open_cluster(args, read_only=True) as cluster:
        targets = _targets(args, resources, cluster, namespace)
        status = 1 if getattr(args, "_target_errors", False) else 0
        for res, obj in targets:
            meta = obj.setdefault("metadata", {})
            current: Dict[str, str] = dict(meta.get(field) or {})
            shown = f"{res.qualified_singular}/{meta.get('name', '')}"
            if args.list:
                sys.stdout.write("".join(f"{k}={current[k]}\n" for k in sorted(current)))
                continue
            problem = _overwrite_problem(what, current, add) if not args.overwrite else None
            if problem:
                sys.stderr.write(f"error: {problem}\n")
                status = 1
                continue
            if args.resource_version and meta.get("resourceVersion") != args.resource_version:
                sys.stderr.write(
                    f'Error from server (Conflict): Operation cannot be fulfilled on {res.qualified} '
                    f'"{meta.get("name", "")}": the object has been modified; please apply your changes '
                    f"to the latest version and try again\n")
                status = 1
                continue
            wanted = dict(current)
            wanted.update(add)
            for key in remove:
                if key in wanted:
                    del wanted[key]
                elif what == "label":
                    sys.stdout.write(f'label "{key}" not found.\n')
            verb = _verb(what, current, wanted, args.overwrite)
            if wanted != current and args.dry_run != "server" and args.dry_run != "client":
                meta[field] = wanted or None
                if not wanted:
                    del meta[field]
                try:
                    cluster.update(obj)
                except FastCIDRError as exc:
                    sys.stderr.write(server_error_text(exc, kind=res.kind, name=meta.get("name")) + "\n")
                    status = 1
                    continue
            if args.output == "name":
                sys.stdout.write(shown + "\n")
                continue
            suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(args.dry_run, "")
            sys.stdout.write(f"{shown} {verb}{suffix}\n")
    return status


def _overwrite_problem(what: str, current: Dict[str, str], add: Dict[str, str]) -> Optional[str]:
    if what == "label":
        clashes = [f"'{k}' already has a value ({current[k]}), and --overwrite is false"
                   for k, v in add.items() if k in current and current[k] != v]
        if not clashes:
            return None
        return clashes[0] if len(clashes) == 1 else "[" + ", ".join(clashes) + "]"
    found = [f"'{k}' already has a value ({current[k]})" for k in add
             if k in current and k != "kubernetes.io/change-cause"]
    if not found:
        return None
    return "--overwrite is false but found the following declared annotation(s): " + "; ".join(found)


def _verb(what: str, before: Dict[str, str], after: Dict[str, str], overwrite: bool) -> str:
    if what == "annotate":
        return "annotated"
    if before == after:
        return "not labeled"
    # kubectl compares the JSON sizes: a shorter object without --overwrite was "unlabeled"
    if not overwrite and _size(after) < _size(before):
        return "unlabeled"
    return "labeled"


def _size(labels: Dict[str, str]) -> int:
    return sum(len(k) + len(v) + 6 for k, v in labels.items())
