"""Manifests: objects read from files or stdin, as JSON or (multi-document) YAML."""
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
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise CommandError(f"error parsing {source}: error converting YAML to JSON: {exc}") from None
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

