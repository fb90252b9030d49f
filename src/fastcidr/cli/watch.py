"""``fastcidr get -w`` / ``--watch-only``: the current objects, then every change from the store's
change log (``Cluster.changes_since`` / ``wait_for_change``: other processes' writes included),
printed as kubectl prints watch events: table rows without a new header (a deleted object's last
row too), ``-o name`` lines, JSON / YAML documents, or ``{"type": ..., "object": ...}`` events
with ``--output-watch-events``. Ctrl-C and SIGTERM end it cleanly (exit status 0).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import Compacted
from ..k8s.selectors import matches_labels
from .jsonpath import _go_json
from .kubectl_errors import CommandError
from .output import tabwrite, to_json, to_yaml

__all__ = ["watch_get"]

_POLL_SECONDS = 0.5


class _Stop(Exception):
    pass


def _row(res: Any, obj: Dict[str, Any], args: argparse.Namespace, with_namespace: bool) -> List[str]:
    from ..k8s.printers import format_labels

    cells = res.cells(obj, args.output == "wide", datetime.now(timezone.utc))
    if args.show_labels:
        cells.append(format_labels((obj.get("metadata") or {}).get("labels")))
    if with_namespace:
        cells.insert(0, (obj.get("metadata") or {}).get("namespace", ""))
    return cells


def _wire(res: Any, change: Any) -> Dict[str, Any]:
    """The object of a change as the getters build it (defaults, status, resourceVersion)."""
    from ..k8s.objects import IPAddress, Service, ServiceCIDR
    from ..k8s.resources import IPADDRESSES, SERVICECIDRS

    cls: Any = ServiceCIDR if res is SERVICECIDRS else IPAddress if res is IPADDRESSES else Service
    obj = cls.from_dict(change.value)
    obj.resource_version = str(change.revision)
    if not obj.name:
        obj.name = change.key.rpartition("/")[2]
    return obj.to_dict()  # type: ignore[no-any-return]


def watch_get(args: argparse.Namespace, targets: Sequence[Tuple[Any, Optional[str]]],
              selector: Any, columns: Optional[List[Any]]) -> int:
    from .commands import _namespace, _objects_of, open_cluster
    from .jsonpath import is_template, render_output

    kinds: List[Any] = []
    for res, _ in targets:
        if res not in kinds:
            kinds.append(res)
    if len(kinds) > 1:
        raise CommandError("you may only specify a single resource type")
    res = kinds[0]
    names = {name for _, name in targets if name is not None}
    namespace = _namespace(args)
    all_namespaces = bool(args.all_namespaces)
    with_namespace = all_namespaces and res.namespaced
    output = args.output or ""
    rows: List[List[str]] = []  # every table row printed so far

    def wanted(obj: Dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if names and meta.get("name") not in names:
            return False
        if res.namespaced and not all_namespaces and (meta.get("namespace") or "default") != namespace:
            return False
        return matches_labels(selector, meta.get("labels"))

    def cells(obj: Dict[str, Any]) -> List[str]:
        if columns is not None:
            from .columns import _cell

            return [_cell(path, obj) for _, path in columns]
        return _row(res, obj, args, with_namespace)

    def heading() -> List[str]:
        if columns is not None:
            return [header for header, _ in columns]
        names = res.headings(output == "wide") + (["LABELS"] if args.show_labels else [])
        return (["NAMESPACE"] if with_namespace else []) + names

    def emit(batch: Sequence[Tuple[Dict[str, Any], str]], header: bool) -> None:
        """Print a batch of (object, event type); the first batch (the list) carries the header."""
        for obj, event in batch:
            if args.output_watch_events and output in ("json", "yaml"):
                if output == "json":
                    sys.stdout.write(f'{{"type":{json.dumps(event)},"object":{_go_json(obj)}}}\n')
                else:
                    sys.stdout.write(to_yaml({"object": obj, "type": event}) + "---\n")
            elif output == "json":
                sys.stdout.write(to_json(obj))
            elif output == "yaml":
                sys.stdout.write(to_yaml(obj) + "---\n")
            elif output == "name":
                sys.stdout.write(f"{res.qualified_singular}/{obj['metadata']['name']}\n")
            elif is_template(output):
                sys.stdout.write(render_output(output, obj))
        if output and not output.startswith("custom-columns") and output != "wide":
            sys.stdout.flush()
            return
        fresh: List[List[str]] = []
        if header and not args.no_headers:
            fresh.append(heading())
        fresh.extend(cells(obj) for obj, _ in batch)
        if not fresh:
            return
        # kubectl's watch printer remembers column widths: a later row is as wide as the widest
        # cell printed in its column so far (so re-align everything, print only the new lines)
        rows.extend(fresh)
        lines = tabwrite("".join("\t".join(r) + "\n" for r in rows)).splitlines(True)
        sys.stdout.write("".join(lines[-len(fresh):]))
        sys.stdout.flush()

    def stop(signum: int, frame: Any) -> None:
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with open_cluster(args, read_only=True) as cluster:
            revision = cluster.current_revision()
            first = True
            if not args.watch_only:
                listed = [(obj, "ADDED") for obj in _objects_of(
                    cluster, res, None if (all_namespaces or not res.namespaced) else namespace) if wanted(obj)]
                if args.sort_by:
                    from .columns import sort_objects

                    listed = sort_objects(listed, args.sort_by, key=lambda pair: pair[0])
                emit(listed, True)
                first = not listed
            while True:
                if not cluster.wait_for_change(revision, _POLL_SECONDS):
                    continue
                try:
                    changes, revision = cluster.changes_since(revision)
                except Compacted:
                    # the log no longer reaches back that far: re-list, as kubectl does on 410 Gone
                    revision = cluster.current_revision()
                    relisted = [(obj, "MODIFIED") for obj in _objects_of(
                        cluster, res, None if (all_namespaces or not res.namespaced) else namespace)
                        if wanted(obj)]
                    emit(relisted, first)
                    first = first and not relisted
                    continue
                for change in changes:
                    if change.kind != res.plural or change.value is None:
                        continue
                    obj = _wire(res, change)
                    if not wanted(obj):
                        continue
                    event = "DELETED" if change.type == "DELETE" else "ADDED" if change.created else "MODIFIED"
                    emit([(obj, event)], first)
                    first = False
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
