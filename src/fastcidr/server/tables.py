"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl has no compiled-in columns for these kinds any more; without a Table it prints only
``NAME AGE``. The columns and cells follow kube-apiserver's printers
(``pkg/printers/internalversion/printers.go``); like the apiserver, cells are always generated
"wide" and the client hides ``priority: 1`` columns unless ``-o wide``.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterable, List, Optional

from .resources import RESOURCES, ResourceType

__all__ = ["table", "row_cells", "COLUMNS"]

COLUMNS: Dict[str, List[Dict[str, Any]]] = {
    r.plural: [c.definition() for c in r.columns] for r in RESOURCES.values() if r.columns
}


def row_cells(resource: ResourceType, obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    # the apiserver's table convertor always generates wide cells; kubectl hides the rest
    assert resource.row_cells is not None
    return list(resource.row_cells(obj, now, True))


def _row_object(obj: Dict[str, Any], include_object: str) -> Optional[Dict[str, Any]]:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def table(
    resource: ResourceType,
    objects: Iterable[Dict[str, Any]],
    resource_version: str,
    *,
    now: Optional[_dt.datetime] = None,
    include_object: str = "Metadata",
    no_headers: bool = False,
) -> Dict[str, Any]:
    """A ``Table`` of ``objects`` (wire dicts) with kubectl's columns for ``resource``."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    rows = []
    for obj in objects:
        row: Dict[str, Any] = {"cells": row_cells(resource, obj, now)}
        partial = _row_object(obj, include_object)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    result: Dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [] if no_headers else COLUMNS[resource.plural],
        "rows": rows,
    }
    return result
