"""``fastcidr import``: a kubectl dump streamed into a Cluster, with a progress line on a terminal
(docs/observability.md "Large imports")."""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from typing import Any, Dict, Iterator, Optional, Tuple

from ..errors import FastCIDRError
from .commands import _err, _out, _resource_of_kind, open_cluster
from .kubectl_errors import CommandError, server_error_text
from .manifests import parse_manifests


def _import_documents(path: str) -> Tuple[Iterator[Any], str, Any]:
    """The documents of a dump, its name as kubectl quotes it, and the file to close. JSON is
    read item by item (a 200 MB dump is never held whole); YAML is parsed as ``create -f`` parses
    it."""
    from ..k8s.importer import iter_json_documents

    if path == "-":
        handle: Any = sys.stdin
        source = "STDIN"
    else:
        try:
            handle = open(path, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f'the path "{path}" does not exist' if not os.path.exists(path)
                               else f"{path}: {exc.strerror}") from None
        source = path
    head = handle.read(1 << 16)
    if head.lstrip()[:1] in ("{", "["):
        return iter_json_documents(handle, prefix=head), source, handle
    text = head + handle.read()
    if handle is not sys.stdin:
        handle.close()
    return iter(parse_manifests(text, source)), source, sys.stdin


def cmd_import(args: argparse.Namespace) -> int:
    """Load a ``kubectl get servicecidr,ipaddress,services -A -o json`` dump as it is
    (``Cluster.import_objects``); objects of other kinds are skipped and counted. A progress
    line is shown on a terminal's stderr while it runs."""
    documents, source, handle = _import_documents(args.filename)
    try:
        return _import(args, documents, source)
    finally:
        if handle is not sys.stdin:
            handle.close()


def _import(args: argparse.Namespace, documents: Iterator[Any], source: str) -> int:
    from .._log import Progress
    from ..k8s.cluster import paused_collector
    from ..k8s.importer import DumpError, flatten_lists

    try:
        # the first document is read before the store is opened: input that is not a dump at
        # all fails without creating a store
        documents = itertools.chain([next(documents)], documents)
    except StopIteration:
        pass
    except DumpError as exc:
        raise CommandError(f"error parsing {source}: {exc}") from None
    counts: Dict[str, int] = {}
    skipped: Dict[str, int] = {}
    plural_of: Dict[str, Optional[str]] = {}

    def known() -> Iterator[Dict[str, Any]]:
        for doc in flatten_lists(documents):
            if not isinstance(doc, dict):
                raise CommandError(f'error validating "{source}": error validating data: '
                                   f"invalid object: expected a mapping, got {type(doc).__name__}")
            kind = str(doc.get("kind"))
            if kind not in plural_of:
                res = _resource_of_kind(kind)
                plural_of[kind] = res.plural if res is not None else None
            plural = plural_of[kind]
            if plural is None:
                skipped[kind] = skipped.get(kind, 0) + 1
                continue
            counts[plural] = counts.get(plural, 0) + 1
            yield doc

    progress = Progress("importing", delay=0.3)
    labels = {"reading": "importing: reading", "writing": "importing: writing",
              "rebuilding": "importing: rebuilding the index and repairing"}

    def report(phase: str, count: int) -> None:
        progress.total = count if phase == "rebuilding" else None
        if phase == "writing":
            progress.total = sum(counts.values())
        progress.update(count, label=labels.get(phase, phase), force=phase != "reading")

    try:
        progress.update(0, label="importing: opening the store")
        progress.ticking()
        with open_cluster(args) as cluster:
            progress.done()
            progress = Progress("importing", delay=0.3)
            try:
                with paused_collector():
                    imported = cluster.import_objects(known(), progress=report)
            except DumpError as exc:
                raise CommandError(f"error parsing {source}: {exc}") from None
            except FastCIDRError as exc:
                progress.done()
                _err(server_error_text(exc, source=source, verb="importing"))
                return 1
    finally:
        progress.done()
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    line = f"imported {imported} object{'' if imported == 1 else 's'} from {source}"
    line += f" ({detail})" if detail else ""
    if skipped:
        line += "; skipped " + ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
    _out(line + "\n")
    return 0
