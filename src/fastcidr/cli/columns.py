"""``-o custom-columns=``, ``-o custom-columns-file=`` and ``--sort-by``, as kubectl prints and
sorts (cli-runtime's CustomColumnsPrinter and kubectl's RuntimeSorter).

>>> cols = parse_custom_columns("NAME:.metadata.name,PORTS:.spec.ports[*].port")
>>> print(custom_columns_table([{"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}, {"port": 443}]}}], cols), end="")
NAME   PORTS
web    80,443
"""
from __future__ import annotations

import functools
import re
import sys
from typing import Any, Dict, List, Sequence, Tuple

from .jsonpath import JSONPath, JSONPathError, _go_v, relaxed_expression
from .kubectl_errors import CommandError
from .output import table

__all__ = ["parse_custom_columns", "parse_custom_columns_file", "custom_columns_table", "sort_objects"]

Column = Tuple[str, JSONPath]


class _BrokenPath:
    """A column whose expression does not parse: kubectl prints the header, then fails on the
    first row."""

    def __init__(self, error: JSONPathError) -> None:
        self.error = error

    def find(self, document: Any) -> List[List[Any]]:
        raise self.error


def _column(header: str, expression: str) -> Column:
    try:
        template = relaxed_expression(expression)
    except JSONPathError as exc:
        raise CommandError(str(exc)) from None
    try:
        return header, JSONPath(template)
    except JSONPathError as exc:
        return header, _BrokenPath(exc)  # type: ignore[return-value]


def parse_custom_columns(spec: str) -> List[Column]:
    """``HEADER:EXPR,HEADER:EXPR`` (kubectl's errors for a malformed spec)."""
    if not spec:
        raise CommandError("custom-columns format specified but no custom columns given")
    columns = []
    for part in spec.split(","):
        header, sep, expression = part.partition(":")
        if not sep:
            raise CommandError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append(_column(header, expression))
    return columns


def parse_custom_columns_file(path: str) -> List[Column]:
    """A file of two lines: the headers, then the expressions, each separated by whitespace."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise CommandError(f"error reading template {path}, open {path}: "
                           f"{'no such file or directory' if isinstance(exc, FileNotFoundError) else exc.strerror}") from None
    expected = ("Expected format is one line of space separated headers, one line of space separated "
                "column specs.")
    if not lines:
        raise CommandError(f"invalid template, missing header line. {expected}")
    if len(lines) < 2:
        raise CommandError(f"invalid template, missing spec line. {expected}")
    headers, specs = lines[0].split(), lines[1].split()
    if len(headers) != len(specs):
        raise CommandError(f"number of headers ({len(headers)}) and field specifications ({len(specs)}) don't match")
    return [_column(h, s) for h, s in zip(headers, specs)]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _cell(path: JSONPath, obj: Dict[str, Any]) -> str:
    try:
        values = path.find(obj)
    except JSONPathError as exc:
        raise CommandError(str(exc)) from None
    if not values or not values[0]:
        return "<none>"
    # fmt.Sprint of each value (maps as map[k:v]), terminal escapes neutralised as kubectl does
    text = ",".join(v if isinstance(v, str) else _go_v(v) for results in values for v in results)
    return text if text.isprintable() else _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


def custom_columns_table(objects: Sequence[Dict[str, Any]], columns: Sequence[Column],
                         no_headers: bool = False) -> str:
    """One table for every object (whatever its kind), the header once."""
    rows: List[List[str]] = [] if no_headers else [[header for header, _ in columns]]
    try:
        rows.extend([_cell(path, obj) for _, path in columns] for obj in objects)
    except CommandError:
        if rows:
            sys.stdout.write(table(rows))
        raise
    return table(rows)


def _less(x: Any, y: Any, expression: str) -> bool:
    if isinstance(x, bool) or isinstance(y, bool) or type(x) is not type(y) and not (
            isinstance(x, (int, float)) and isinstance(y, (int, float))):
        if isinstance(x, bool) and isinstance(y, bool):
            return (not x) and y
        raise CommandError(f"Field {expression} in [][][]reflect.Value is an unsortable type: "
                           f"interface, err: unsortable type: {_go_kind(x)}")
    if isinstance(x, str):
        return bool(x.encode() < y.encode())  # byte order, as kubectl: 10.96.0.21 before 10.96.0.9
    if isinstance(x, (int, float)):
        return bool(x < y)
    raise CommandError(f"Field {expression} in [][][]reflect.Value is an unsortable type: interface, "
                       f"err: unsortable type: {_go_kind(x)}")


def _go_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def sort_objects(objects: Sequence[Any], expression: str, key: Any = None) -> List[Any]:
    """``--sort-by=EXPR``: by the first value the expression finds in each object, ascending
    (strings in byte order, numbers by value); objects where it finds nothing go first.
    ``key`` picks the object out of each item (default: the item itself). The sort is stable."""
    try:
        path = JSONPath(relaxed_expression(expression))
    except JSONPathError as exc:
        raise CommandError(str(exc)) from None
    shown = relaxed_expression(expression)
    pick = key or (lambda item: item)

    def first(item: Any) -> Tuple[bool, Any]:
        try:
            values = path.find(pick(item))
        except JSONPathError as exc:
            raise CommandError(str(exc)) from None
        if not values or not values[0]:
            return False, None
        return True, values[0][0]

    keyed = [(first(item), item) for item in objects]
    if len(keyed) <= 12:
        return [item for _, item in _go_small_sort(keyed, shown)]

    def compare(a: Tuple[Tuple[bool, Any], Any], b: Tuple[Tuple[bool, Any], Any]) -> int:
        (has_a, va), (has_b, vb) = a[0], b[0]
        if not has_a or not has_b:
            return 0 if has_a == has_b else (-1 if not has_a else 1)
        if _less(va, vb, shown):
            return -1
        if _less(vb, va, shown):
            return 1
        return 0

    return [item for _, item in sorted(keyed, key=functools.cmp_to_key(compare))]


def _go_small_sort(keyed: List[Tuple[Tuple[bool, Any], Any]], shown: str) -> List[Tuple[Tuple[bool, Any], Any]]:
    """Go's ``sort.Sort`` on up to 12 items (an insertion sort) with kubectl's ``Less``, in which
    an object without the field is less than any other, even than another without it: the
    order kubectl prints when some objects lack the field."""
    items = list(keyed)

    def less(a: Tuple[bool, Any], b: Tuple[bool, Any]) -> bool:
        if not a[0]:
            return True
        if not b[0]:
            return False
        return _less(a[1], b[1], shown)

    for i in range(1, len(items)):
        j = i
        while j > 0 and less(items[j][0], items[j - 1][0]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
    return items
