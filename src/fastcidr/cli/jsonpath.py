"""``-o jsonpath=TEMPLATE``: the part of kubectl's JSONPath that scripts use."""
from __future__ import annotations

import json
from typing import (
    Any,
    List,
    Tuple,
)

from .kubectl_errors import CommandError


class JSONPathError(CommandError):
    pass


def _jsonpath_literal(text: str) -> str:
    return json.loads(text) if text.startswith('"') else text


def _path_steps(expr: str) -> List[Tuple[str, str]]:
    """``.items[*].metadata.name`` → [(field, items), (index, *), (field, metadata), ...]."""
    steps: List[Tuple[str, str]] = []
    i = 1 if expr.startswith(("@", "$")) else 0
    while i < len(expr):
        char = expr[i]
        if char == ".":
            j = i + 1
            name: List[str] = []
            while j < len(expr) and expr[j] not in ".[":
                if expr[j] == "\\" and j + 1 < len(expr):  # escaped dot in a label key
                    name.append(expr[j + 1])
                    j += 2
                    continue
                name.append(expr[j])
                j += 1
            if name:
                steps.append(("field", "".join(name)))
            i = j
        elif char == "[":
            depth, j = 0, i
            while j < len(expr):
                if expr[j] == "[":
                    depth += 1
                elif expr[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(expr):
                raise JSONPathError(f"unterminated array in {expr!r}")
            steps.append(("index", expr[i + 1:j].strip()))
            i = j + 1
        else:
            raise JSONPathError(f"unrecognized character in action: {expr[i:]!r}")
    return steps


def _filter_matches(node: Any, condition: str) -> bool:
    for op in ("==", "!="):
        if op in condition:
            left, right = (part.strip() for part in condition.split(op, 1))
            values = _evaluate(left, [node])
            target = right.strip("'\"") if right[:1] in "'\"" else right
            hit = any(str(v) == target or v == target for v in values)
            return hit if op == "==" else not hit
    return bool(_evaluate(condition.strip(), [node]))


def _evaluate(expr: str, nodes: List[Any]) -> List[Any]:
    for kind, arg in _path_steps(expr):
        out: List[Any] = []
        for node in nodes:
            if kind == "field":
                if isinstance(node, dict) and arg in node:
                    out.append(node[arg])
            elif arg == "*":
                out.extend(node if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else [])
            elif arg.startswith("?(") and arg.endswith(")"):
                items = node if isinstance(node, list) else [node]
                out.extend(item for item in items if _filter_matches(item, arg[2:-1]))
            elif isinstance(node, list):
                if ":" in arg:
                    start, _, stop = arg.partition(":")
                    out.extend(node[int(start) if start else None:int(stop) if stop else None])
                else:
                    try:
                        out.append(node[int(arg)])
                    except (ValueError, IndexError):
                        raise JSONPathError(f"array index out of bounds: index {arg}, length {len(node)}") from None
        nodes = out
    return nodes


def _jsonpath_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def jsonpath(template: str, document: Any) -> str:
    """kubectl's ``-o jsonpath=``: ``{.a.b}``, ``[n]``, ``[*]``, ``[a:b]``, ``[?(@.k=="v")]``,
    ``{range ...}{end}``, ``{"\\n"}``; several results of one expression are joined by spaces and a
    missing key prints nothing (kubectl allows missing keys).

    >>> jsonpath('{.items[*].metadata.name}', {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]})
    'a b'
    """
    parts: List[Tuple[str, str]] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            parts.append(("text", template[i:]))
            break
        if start > i:
            parts.append(("text", template[i:start]))
        end, quoted = start + 1, False
        while end < len(template) and (quoted or template[end] != "}"):
            if template[end] == '"' and template[end - 1] != "\\":
                quoted = not quoted
            end += 1
        if end >= len(template):
            raise JSONPathError(f"unclosed action in template {template!r}")
        parts.append(("action", template[start + 1:end].strip()))
        i = end + 1

    def run(index: int, node: Any, out: List[str], stop_at_end: bool) -> int:
        while index < len(parts):
            kind, body = parts[index]
            if kind == "text":
                out.append(body)
            elif body == "end":
                if not stop_at_end:
                    raise JSONPathError("not in range, nothing to end")
                return index
            elif body.startswith("range "):
                items = _evaluate(body[len("range "):].strip(), [node])
                if len(items) == 1 and isinstance(items[0], list):
                    items = items[0]
                finish = index
                if not items:  # skip the body
                    depth, finish = 1, index + 1
                    while finish < len(parts) and depth:
                        k, b = parts[finish]
                        if k == "action" and b.startswith("range "):
                            depth += 1
                        elif k == "action" and b == "end":
                            depth -= 1
                        finish += 1
                    finish -= 1
                for item in items:
                    finish = run(index + 1, item, out, True)
                index = finish
            elif body.startswith('"'):
                try:
                    out.append(_jsonpath_literal(body))
                except ValueError:
                    raise JSONPathError(f"invalid string literal {body}") from None
            else:
                out.append(" ".join(_jsonpath_text(v) for v in _evaluate(body, [node])))
            index += 1
        if stop_at_end:
            raise JSONPathError("unclosed range")
        return index

    out: List[str] = []
    run(0, document, out, False)
    return "".join(out)

