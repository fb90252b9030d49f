"""Label and field selectors: what the server's list and watch endpoints and the CLI's ``-l``
accept (one parser, so both read ``key in (a,b)`` the same way). Pure functions over wire dicts.

>>> match = parse_label_selector("app=web,tier in (a, b),!legacy")
>>> matches_labels(match, {"app": "web", "tier": "b"})
True
>>> matches_labels(match, {"app": "web", "tier": "c"})
False
>>> matches_labels(parse_label_selector("n>1"), {"n": "2"}), matches_labels(parse_label_selector("n<1"), {"n": "x"})
(True, False)
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["SelectorError", "parse_label_selector", "matches_labels", "parse_field_selector",
           "matches_fields"]


class SelectorError(ValueError):
    """A selector that cannot be parsed (HTTP 400)."""


# A requirement is (key, operator, values); operators: "=", "!=", "in", "notin", "exists", "!",
# ">" and "<" (apimachinery's Gt and Lt: one integer value, matched against labels read as integers).
Requirement = Tuple[str, str, Tuple[str, ...]]

_INT64_RE = re.compile(r"^[+-]?[0-9]+$")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _int64(text: str) -> Optional[int]:
    """Go's ``strconv.ParseInt(text, 10, 64)``, None when it fails."""
    if not _INT64_RE.match(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def parse_label_selector(text: Optional[str]) -> List[Requirement]:
    """The requirements of a label selector, read by apimachinery's grammar (``labels.Parse``);
    a selector it refuses raises :class:`SelectorError` with its message."""
    if not text:
        return []
    from ._label_parser import parse

    try:
        return parse(text)
    except ValueError as exc:
        raise SelectorError(str(exc)) from None


def matches_labels(requirements: List[Requirement], labels: Optional[Dict[str, str]]) -> bool:
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and (not present or labels[key] != values[0]):
            return False
        if op == "!=" and present and labels[key] == values[0]:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
        if op in (">", "<"):
            have = _int64(labels[key]) if present else None
            if have is None:
                return False
            want = int(values[0])
            if (op == ">" and not have > want) or (op == "<" and not have < want):
                return False
    return True


FieldRequirement = Tuple[str, bool, str]  # (field path, equal?, value)


def parse_field_selector(text: Optional[str], supported: Tuple[str, ...]) -> List[FieldRequirement]:
    """Parse ``metadata.name=x,spec.type!=y``; fields outside ``supported`` are refused with
    the apiserver's message."""
    if not text:
        return []
    requirements: List[FieldRequirement] = []
    for part in text.split(","):
        if not part.strip():
            continue
        for op in ("!=", "==", "="):
            if op in part:
                field, _, value = part.partition(op)
                field = field.strip()
                if field not in supported:
                    raise SelectorError(f'field label not supported: {field}')
                requirements.append((field, op != "!=", value.strip()))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
    return requirements


def _field_value(obj: Dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def matches_fields(requirements: List[FieldRequirement], obj: Dict[str, Any]) -> bool:
    return all((_field_value(obj, field) == value) == equal for field, equal, value in requirements)


Predicate = Callable[[Dict[str, Any]], bool]
