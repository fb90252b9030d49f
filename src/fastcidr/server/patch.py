"""The three PATCH formats of the Kubernetes API, as pure functions over JSON values.

- :func:`json_merge_patch` (RFC 7386, ``application/merge-patch+json``): objects merge, ``null``
  deletes, everything else (lists included) replaces.
- :func:`strategic_merge_patch` (``application/strategic-merge-patch+json``, what ``kubectl apply``
  sends for Services): like a merge patch, but lists of objects with a merge key merge element by
  element (``ports`` by ``port``, ``conditions`` by ``type``...), ``finalizers`` merge as a set, and
  the directives ``$patch`` (``replace``/``delete``/``merge``), ``$retainKeys``,
  ``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>`` apply.
- :func:`json_patch` (RFC 6902, ``application/json-patch+json``): a list of operations.

Every function returns a new value and leaves its inputs untouched; a malformed patch raises
:class:`PatchError`.

>>> json_merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}})
{'a': 1, 'b': {'d': 3}}
>>> strategic_merge_patch({"ports": [{"port": 80, "name": "a"}]},
...                       {"ports": [{"port": 80, "name": "b"}, {"port": 81}]})
{'ports': [{'port': 80, 'name': 'b'}, {'port': 81}]}
>>> json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}])
{'a': [1, 2]}
"""
from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Optional

__all__ = ["PatchError", "json_merge_patch", "strategic_merge_patch", "json_patch", "MERGE_KEYS",
           "MAX_JSON_PATCH_COPY_BYTES"]

#: What the ``copy`` operations of one JSON patch may add together (kube-apiserver's
#: ``--json-patch-max-copy-bytes`` default): without it a few hundred bytes of ``copy`` ops that
#: each double the document make a gigabyte.
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024


class PatchError(ValueError):
    """A patch that cannot be applied (malformed, or a failed RFC 6902 ``test``)."""


# -- RFC 7386 ----------------------------------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------------

#: Lists of objects that merge element by element, by field name -> merge key (the
#: ``patchMergeKey`` tags of the served kinds and of ObjectMeta).
MERGE_KEYS: Dict[str, str] = {
    "ports": "port",
    "conditions": "type",
    "ownerReferences": "uid",
    "managedFields": "manager",
}
#: Lists of scalars with ``patchStrategy:"merge"``: they merge as ordered sets.
MERGE_PRIMITIVE_LISTS = frozenset({"finalizers"})

_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch with the merge keys of :data:`MERGE_KEYS`."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    result = _smp_map(original, patch)
    return {} if result is None else result


def _smp_map(original: Dict[str, Any], patch: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch directive {directive!r}")
    result = original
    retain = patch.get("$retainKeys")
    if retain is not None and not isinstance(retain, list):
        raise PatchError("$retainKeys must be a list")
    orders: Dict[str, Any] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_SET_ORDER):
            orders[key[len(_SET_ORDER) :]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list")
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _smp_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            if not isinstance(order, list):
                raise PatchError(f"{_SET_ORDER}{field} must be a list")
            result[field] = _apply_order(field, result[field], order)
    if retain is not None:
        keep = set(retain)
        for key in list(result):
            if key not in keep:
                del result[key]
    return result


def _identity(field: str, item: Any) -> Any:
    merge_key = MERGE_KEYS.get(field)
    if merge_key is not None and isinstance(item, dict):
        return ("key", repr(item.get(merge_key)))
    return ("value", repr(item))


def _smp_list(field: str, original: Any, patch: List[Any]) -> List[Any]:
    merge_key = MERGE_KEYS.get(field)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            {k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"}
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace" and len(item) == 1)
        ]
    if not isinstance(original, list):
        original = []
    if merge_key is not None:
        result = list(original)
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise PatchError(f"a {field} element needs its merge key {merge_key!r}")
            position = next(
                (i for i, old in enumerate(result)
                 if isinstance(old, dict) and old.get(merge_key) == item[merge_key]),
                None,
            )
            if item.get("$patch") == "delete":
                if position is not None:
                    del result[position]
                continue
            if position is None:
                merged = _smp_map({}, item)
                result.append(merged if merged is not None else {})
            else:
                merged = _smp_map(result[position], item)
                if merged is None:
                    del result[position]
                else:
                    result[position] = merged
        return result
    if field in MERGE_PRIMITIVE_LISTS:
        result = list(original)
        for item in patch:
            if item not in result:
                result.append(copy.deepcopy(item))
        return result
    return copy.deepcopy(patch)


def _apply_order(field: str, items: List[Any], order: List[Any]) -> List[Any]:
    """Put ``items`` in the order of ``$setElementOrder``; items it does not name keep their
    relative order after the named ones."""
    merge_key = MERGE_KEYS.get(field)
    if merge_key is not None:
        wanted = [_identity(field, {merge_key: o.get(merge_key)} if isinstance(o, dict) else o)
                  for o in order]
    else:
        wanted = [_identity(field, o) for o in order]
    rank = {ident: i for i, ident in enumerate(wanted)}
    named = sorted((it for it in items if _identity(field, it) in rank),
                   key=lambda it: rank[_identity(field, it)])
    others = [it for it in items if _identity(field, it) not in rank]
    return named + others


# -- RFC 6902 ----------------------------------------------------------------------------------


def _parse_pointer(pointer: Any) -> List[str]:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    if pointer == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _index(container: List[Any], token: str, *, allow_end: bool) -> int:
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if index > limit:
        raise PatchError(f"array index {index} out of range")
    return index


def _resolve(doc: Any, tokens: List[str]) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path element {token!r} not found")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False)]
        else:
            raise PatchError(f"cannot descend into a scalar at {token!r}")
    return node


def _add(doc: Any, tokens: List[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc: Any, tokens: List[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path element {last!r} not found")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise PatchError("cannot remove from a scalar")


def json_patch(target: Any, operations: Any, *,
               max_copy_bytes: int = MAX_JSON_PATCH_COPY_BYTES) -> Any:
    """Apply an RFC 6902 JSON patch (all operations or none). The values the ``copy``
    operations duplicate may add up to ``max_copy_bytes`` (as compact JSON), no more."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    copied = 0
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise PatchError(f"invalid JSON patch operation {operation!r}")
        op = operation["op"]
        tokens = _parse_pointer(operation.get("path"))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"the {op!r} operation needs a value")
        if op == "add":
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(doc, tokens)
        elif op == "replace":
            _resolve(doc, tokens)  # the target must exist
            if tokens:
                _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]))
        elif op in ("move", "copy"):
            source = _parse_pointer(operation.get("from"))
            if op == "move":
                if tokens[: len(source)] == source and len(tokens) > len(source):
                    raise PatchError("cannot move a value into itself")
                value = _remove(doc, source)
            else:
                original = _resolve(doc, source)
                # measured before it is duplicated: the check costs what the copy would
                copied += len(json.dumps(original, separators=(",", ":"),
                                         ensure_ascii=False).encode("utf-8"))
                if copied > max_copy_bytes:
                    raise PatchError(
                        f"Unable to copy, the accumulated size increase of copy is {copied}, "
                        f"exceeding the limit {max_copy_bytes}")
                value = copy.deepcopy(original)
            doc = _add(doc, tokens, value)
        elif op == "test":
            if _resolve(doc, tokens) != operation["value"]:
                raise PatchError(f"test failed at {operation.get('path')!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc
