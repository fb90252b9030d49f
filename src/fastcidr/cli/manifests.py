r"""Manifests: objects read from files or stdin, as JSON or (multi-document) YAML, as Kubernetes
reads them.

kubectl converts YAML to JSON with sigs.k8s.io/yaml, whose resolver is go-yaml v2's (YAML 1.1),
so :func:`load_yaml` resolves plain scalars the way it does, not as PyYAML's SafeLoader: ``y``,
``n``, ``yes``, ``no``, ``on``, ``off`` (any case form go-yaml lists) are booleans, integers are Go's
``ParseInt(s, 0, 64)`` after ``_`` is dropped (``0777`` = 511, ``0o17``, ``0x1F``, ``0b11``),
timestamps stay strings, non-string keys become their JSON text (``true``, ``1``), and (as the
apiserver's strict decoding does) a key given twice in one mapping is refused. A label,
annotation, name or namespace that is not a string is refused with the error kubectl prints
(``json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string``).

>>> load_yaml("a: yes\nb: 0777\nc: 2024-01-01\nd: '1'\n")
[{'a': True, 'b': 511, 'c': '2024-01-01', 'd': '1'}]
"""
from __future__ import annotations

import json
import os
import sys
from typing import (
    Any,
    Dict,
    List,
    Tuple,
)

from .kubectl_errors import CommandError
from .output import _yaml_module
from ..k8s.yaml_reader import json_type_name, load_yaml, yaml_error_text  # noqa: F401  (re-exported)


def _read_source(path: str) -> Tuple[str, str]:
    """(text, source name as kubectl quotes it in errors)."""
    if path == "-":
        return sys.stdin.read(), "STDIN"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    except OSError as exc:
        raise CommandError(f'the path "{path}" does not exist' if not os.path.exists(path)
                           else f"{path}: {exc.strerror}") from None


def parse_manifests(text: str, source: str) -> List[Dict[str, Any]]:
    """Objects from JSON or (multi-document) YAML; ``List``s are flattened into their items."""
    stripped = text.lstrip()
    documents: List[Any]
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"error parsing {source}: {exc}") from None
        documents = parsed if isinstance(parsed, list) else [parsed]
    else:
        yaml = _yaml_module()
        try:
            documents = load_yaml(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise CommandError(f"error parsing {source}: error converting YAML to JSON: {yaml_error_text(exc)}") from None
    objects: List[Dict[str, Any]] = []

    def add(doc: Any) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise CommandError(f'error validating "{source}": error validating data: '
                               f"invalid object: expected a mapping, got {type(doc).__name__}")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                add(item)
            return
        _check_metadata(doc, source)
        objects.append(doc)

    for doc in documents:
        add(doc)
    return objects


def _subset(wanted: Any, live: Any) -> bool:
    """Whether applying ``wanted`` over ``live`` would change nothing (an empty patch)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(_subset(v, live.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(wanted) == len(live) and all(
            _subset(w, l) for w, l in zip(wanted, live))
    return wanted == live or (wanted in ("", None, {}, []) and live in ("", None, {}, []))


def _check_metadata(doc: Dict[str, Any], source: str) -> None:
    """kubectl's decode errors for ObjectMeta fields of the wrong JSON type (a null label or
    annotation value reads as "", as Go decodes it)."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return

    def refuse(got: Any, field: str, want: str = "string") -> None:
        raise CommandError(f'unable to decode "{source}": json: cannot unmarshal {json_type_name(got)} into Go '
                           f"struct field ObjectMeta.metadata.{field} of type {want}")

    for field in ("name", "namespace", "generateName"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            refuse(meta[field], field)
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            refuse(values, field, "map[string]string")
        for key, value in list(values.items()):
            if value is None:
                values[key] = ""
            elif not isinstance(value, str):
                refuse(value, field)
