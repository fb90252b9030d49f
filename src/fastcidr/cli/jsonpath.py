"""kubectl's JSONPath (``-o jsonpath=``, ``custom-columns``, ``--sort-by``), behaving as
k8s.io/client-go's ``util/jsonpath`` does on the JSON form of objects.

The grammar is kubectl's, not the JSONPath RFC's: fields ``.a.b`` (``\\.`` escapes a dot in a
key), ``['key']``, ``[*]``, indexes and slices ``[i]``, ``[-1]``, ``[a:b:step]``, unions ``[0,2]``,
recursive descent ``..name``, filters ``[?(@.x>1)]`` / ``[?(@.name=="a")]`` / ``[?(@.x)]`` (one
comparison: kubectl has no ``&&`` or ``||`` and refuses them with "unrecognized character in
action"), ``{range EXPR}...{end}`` and quoted literals such as ``{"\\n"}``. Missing keys print
nothing (kubectl's ``get`` allows them); maps and lists print as compact JSON; the errors carry
kubectl's texts ("array index out of bounds: index 5, length 4", "unterminated array", ...).
Where kubectl walks a map in Go's random order (``*`` and ``..`` over a map), keys go in sorted order.

>>> jsonpath('{.items[*].metadata.name}', {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]})
'a b'
>>> jsonpath('{.items[?(@.n>1)].name}', {"items": [{"n": 1, "name": "x"}, {"n": 2, "name": "y"}]})
'y'
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, List, Tuple

from .kubectl_errors import CommandError

__all__ = ["JSONPath", "JSONPathError", "JSONPathParseError", "jsonpath", "relaxed_expression",
           "parse_error_text", "execute_error_text", "go_sharp_v", "render", "render_output", "is_template"]


class JSONPathError(CommandError):
    """A template that fails on the object (kubectl: ``Error executing template: ...``)."""


class JSONPathParseError(JSONPathError):
    """A template that cannot be parsed (kubectl: ``error parsing jsonpath ...``)."""


_EOF = ""
_SLICE_RE = re.compile(r"^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$")
_DICT_KEY_RE = re.compile(r"^'([^']*)'$")
_FILTER_RE = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_TERMINATORS = frozenset(" \t\r\n.,[]$@{}") | {_EOF}

# A parsed node is a tuple whose first item names its type:
# ("list", [nodes]) ("text", s) ("field", name) ("ident", name) ("int", n) ("float", x)
# ("bool", b) ("wildcard",) ("recursive",) ("union", [lists]) ("filter", left, right, op)
# ("array", ((known, value, derived), (known, value, derived), (known, value, derived)))
Node = Tuple[Any, ...]


def _is_alnum(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdigit()


def _go_rune(char: str) -> str:
    """Go's ``%#U``: ``U+0026 '&'``."""
    code = ord(char)
    text = f"U+{code:04X}"
    if unicodedata.category(char)[0] not in ("C", "Z") or char == " ":
        text += f" '{char}'"
    return text


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(text: str) -> str:
    """Go's ``UnquoteExtend``: a double- or single-quoted string with Go's escapes."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "\"'":
        raise ValueError("invalid syntax")
    quote, body = text[0], text[1:-1]
    out: List[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == quote:
            raise ValueError("invalid syntax")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        esc = body[i + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == quote:
            out.append(esc)
            i += 2
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif esc in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


class _Parser:
    """kubectl's template parser (client-go ``jsonpath/parser.go``), as loops over the text."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.root: List[Node] = []

    def parse(self) -> List[Node]:
        while True:
            brace = self.input.find("{", self.pos)
            if brace < 0:
                self.pos = len(self.input)
                if self.pos > self.start:
                    self.root.append(("text", self._consume()))
                return self.root
            self.pos = brace
            if self.pos > self.start:
                self.root.append(("text", self._consume()))
            self.pos += 1
            self._consume()
            action: List[Node] = []
            self.root.append(("list", action))
            self._inside_action(action)

    def _consume(self) -> str:
        value = self.input[self.start:self.pos]
        self.start = self.pos
        return value

    def _next(self) -> str:
        if self.pos >= len(self.input):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.input[self.pos - 1]

    def _backup(self) -> None:
        self.pos -= self.width

    def _peek(self) -> str:
        char = self._next()
        self._backup()
        return char

    def _inside_action(self, cur: List[Node]) -> None:
        while True:
            rest = self.input[self.pos:self.pos + 3]
            if rest.startswith("}"):
                self.pos += 1
                self._consume()
                return
            if rest.startswith("[?("):
                self._filter(cur)
                continue
            if rest.startswith(".."):
                self._recursive(cur)
                continue
            char = self._next()
            if char == _EOF or char in "\r\n":
                raise JSONPathParseError("unclosed action")
            if char == " " or char in "@$":
                self._consume()
            elif char == "[":
                self._array(cur)
            elif char in "\"'":
                self._quote(cur, char)
            elif char == ".":
                self._field(cur)
            elif char in "+-" or char.isdigit():
                self._backup()
                self._number(cur)
            elif _is_alnum(char):
                self._backup()
                self._identifier(cur)
            else:
                raise JSONPathParseError(f"unrecognized character in action: {_go_rune(char)}")

    def _identifier(self, cur: List[Node]) -> None:
        while self._next() not in _TERMINATORS:
            pass
        self._backup()
        value = self._consume()
        cur.append(("bool", value == "true") if value in ("true", "false") else ("ident", value))

    def _recursive(self, cur: List[Node]) -> None:
        if cur and cur[-1][0] == "recursive":
            raise JSONPathParseError("invalid multiple recursive descent")
        self.pos += 2
        self._consume()
        cur.append(("recursive",))
        if _is_alnum(self._peek() or " "):
            self._field(cur)

    def _number(self, cur: List[Node]) -> None:
        if self._peek() in ("+", "-"):
            self._next()
        while True:
            char = self._next()
            if char != "." and not (char and char.isdigit()):
                self._backup()
                break
        value = self._consume()
        if re.fullmatch(r"[+-]?[0-9]+", value):
            cur.append(("int", int(value)))
            return
        try:
            cur.append(("float", float(value)))
        except ValueError:
            raise JSONPathParseError(f"cannot parse number {value}") from None

    def _array(self, cur: List[Node]) -> None:
        while True:
            char = self._next()
            if char == _EOF or char == "\n":
                raise JSONPathParseError("unterminated array")
            if char == "]":
                break
        text = self._consume()[1:-1]
        if text == "*":
            text = ":"
        parts = text.split(",")
        if len(parts) > 1:
            cur.append(("union", [_parse_action(f"[{part.strip(' ')}]") for part in parts]))
            return
        key = _DICT_KEY_RE.match(text)
        if key:
            cur.extend(_parse_action(f".{key.group(1)}"))
            return
        match = _SLICE_RE.match(text)
        if match is None:
            raise JSONPathParseError(f"invalid array index {text}")
        groups = list(match.groups(default=""))
        params: List[Tuple[bool, int, bool]] = []
        for i in range(3):
            value = groups[i]
            if value:
                if i > 0:
                    value = value[1:]
                if i > 0 and value == "":
                    params.append((False, 0, False))
                    continue
                if not re.fullmatch(r"[+-]?[0-9]+", value):
                    raise JSONPathParseError(f"array index {value} is not a number")
                params.append((True, int(value), False))
            elif i == 1:
                params.append((True, params[0][1] + 1, True))
            else:
                params.append((False, 0, False))
        cur.append(("array", tuple(params)))

    def _filter(self, cur: List[Node]) -> None:
        self.pos += 3
        self._consume()
        begin = end = False
        pair = ""
        while True:
            char = self._next()
            if char == _EOF or char == "\n":
                raise JSONPathParseError("unterminated filter")
            if char in "\"'":
                if not begin:
                    begin, pair = True, char
                    continue
                if self.input[self.pos - 2] != "\\" and char == pair:
                    end = True
            elif char == ")" and begin == end:
                break
        if self._next() != "]":
            raise JSONPathParseError("unclosed array expect ]")
        text = self._consume()[:-2]
        match = _FILTER_RE.match(text)
        if match is None:
            cur.append(("filter", _parse_action(text), [], "exists"))
        else:
            cur.append(("filter", _parse_action(match.group(1)), _parse_action(match.group(3)),
                        match.group(2)))

    def _quote(self, cur: List[Node], end: str) -> None:
        while True:
            char = self._next()
            if char == _EOF or char == "\n":
                raise JSONPathParseError("unterminated quoted string")
            if char == end and self.input[self.pos - 2] != "\\":
                break
        value = self._consume()
        try:
            cur.append(("text", _unquote(value)))
        except ValueError as exc:
            raise JSONPathParseError(f"unquote string {value} error {exc}") from None

    def _field(self, cur: List[Node]) -> None:
        self._consume()
        while True:
            char = self._next()
            if char == "\\":
                self._next()
            elif char in _TERMINATORS:
                self._backup()
                break
        value = self._consume()
        cur.append(("wildcard",) if value == "*" else ("field", value.replace("\\", "")))


def _parse_action(text: str) -> List[Node]:
    """The nodes of one action's text (``parseAction``: parsed as ``{text}``, first action kept)."""
    root = _Parser("{" + text + "}").parse()
    first = root[0]
    return first[1] if first[0] == "list" else []


# -- Go's view of JSON values ------------------------------------------------------------------

def go_type_name(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value, for the JSONPath and Go-template error texts.
    Anything that is not a map, bool, number or string (a null, a missing value) has always been
    shown as the list type by the templates' printf; the JSONPath errors never see a null."""
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "[]interface {}"


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (shortest digits, exponent form outside 1e-4 .. 1e21)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exp = int(exp_text or 0) + len(whole.lstrip("0")) - 1 if whole.strip("0") else \
        int(exp_text or 0) - (len(frac) - len(frac.lstrip("0"))) - 1
    digits = digits.rstrip("0") or "0"
    if digits == "0":
        return sign + "0"
    if exp < -4 or exp >= 21:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return sign + "0." + "0" * (-exp - 1) + digits
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return sign + digits[:exp + 1] + "." + digits[exp + 1:]


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (``%q``)."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[char])
        elif unicodedata.category(char)[0] == "C" or (unicodedata.category(char)[0] == "Z" and char != " "):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def go_sharp_v(value: Any) -> str:
    """Go's ``%#v`` of a JSON value as kubectl's unstructured objects hold it."""
    if isinstance(value, dict):
        return "map[string]interface {}{" + ", ".join(
            f"{_go_quote(str(k))}:{go_sharp_v(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp_v(v) for v in value) + "}"
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _go_quote(str(value))


def _go_v(value: Any) -> str:
    """Go's ``%v``."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_v(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_json(value: Any) -> str:
    """Go's ``json.Marshal``: compact, keys sorted, HTML characters escaped."""
    text = json.dumps(_json_floats(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _json_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _json_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return value


def _children(value: Any) -> List[Any]:
    """What ``*`` and ``..`` visit below a value: a map's values (sorted keys), a list's items,
    a string's bytes (as Go indexes a string)."""
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value.encode("utf-8"))
    return []


_INT_KIND, _FLOAT_KIND, _STRING_KIND, _BOOL_KIND = range(4)


def _basic_kind(value: Any) -> int:
    if isinstance(value, bool):
        return _BOOL_KIND
    if isinstance(value, int):
        return _INT_KIND
    if isinstance(value, float):
        return _FLOAT_KIND
    if isinstance(value, str):
        return _STRING_KIND
    raise JSONPathError("invalid type for comparison")


def _compare(op: str, left: Any, right: Any) -> bool:
    """Go template's ``eq``/``ne``/``lt``/``le``/``gt``/``ge`` on two basic values."""
    if op not in ("==", "!=", "<", ">", "<=", ">="):
        raise JSONPathError(f"unrecognized filter operator {op}")
    k1, k2 = _basic_kind(left), _basic_kind(right)
    if k1 != k2:
        raise JSONPathError("incompatible types for comparison")
    if op in ("==", "!="):
        return (left == right) == (op == "==")
    if k1 == _BOOL_KIND:
        raise JSONPathError("invalid type for comparison")
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


class JSONPath:
    """One parsed template; :meth:`execute` runs it over a JSON document (missing keys allowed)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.nodes = _Parser(template).parse()

    def execute(self, document: Any) -> str:
        out: List[str] = []
        for results in self.find(document):
            out.append(" ".join(_go_json(v) if isinstance(v, (dict, list)) else self._text(v) for v in results))
        return "".join(out)

    def find(self, document: Any) -> List[List[Any]]:
        """The values each top-level node produced, in order (what custom-columns reads)."""
        full: List[List[Any]] = []
        self._run(self.nodes, document, full)
        return full

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, str):
            return value
        return _go_v(value)

    @staticmethod
    def _keyword(node: Node) -> str:
        """``range`` / ``end`` when an action starts with that keyword, else ""."""
        if node[0] == "list" and node[1] and node[1][0][0] == "ident" and node[1][0][1] in ("range", "end"):
            return str(node[1][0][1])
        return ""

    def _run(self, nodes: List[Node], data: Any, full: List[List[Any]]) -> None:
        """``{range X}BODY{end}`` runs BODY once per value of X (not at all when X has none) and
        carries on after ``{end}`` with the outer object; a range without an end runs to the end
        of the template; an ``{end}`` without a range is kubectl's error."""
        i = 0
        while i < len(nodes):
            node = nodes[i]
            keyword = self._keyword(node)
            if keyword == "end":
                raise JSONPathError("not in range, nothing to end")
            if keyword != "range":
                full.append(self._walk([data], node))
                i += 1
                continue
            depth, j = 1, i + 1
            while j < len(nodes):
                inner = self._keyword(nodes[j])
                depth += 1 if inner == "range" else -1 if inner == "end" else 0
                if depth == 0:
                    break
                j += 1
            values = self._walk([data], ("list", node[1][1:]))
            for value in values:
                self._run(nodes[i + 1:j], value, full)
            i = j + 1

    def _walk(self, values: List[Any], node: Node) -> List[Any]:
        kind = node[0]
        if kind == "list":
            for sub in node[1]:
                if sub[0] == "field":  # (the common step, inlined: custom-columns walk every row)
                    name = sub[1]
                    values = [v[name] for v in values if isinstance(v, dict) and name in v]
                else:
                    values = self._walk(values, sub)
            return values
        if kind == "field":
            name = node[1]
            return [v[name] for v in values if isinstance(v, dict) and name in v]
        if kind == "text":
            return [node[1]]
        if kind in ("int", "float", "bool"):
            return [node[1]] * len(values)
        if kind == "wildcard":
            return [c for v in values if v is not None for c in _children(v)]
        if kind == "recursive":
            return self._recursive(values)
        if kind == "union":
            out: List[Any] = []
            for sub in node[1]:
                out.extend(self._walk(values, ("list", sub)))
            return out
        if kind == "array":
            return self._array(values, node[1])
        if kind == "filter":
            return self._filter(values, node)
        return self._identifier(values, node[1])

    @staticmethod
    def _identifier(values: List[Any], name: str) -> List[Any]:
        if name == "range":  # (a range not at the start of its action ranges over its input)
            return values
        if name == "end":
            return []
        raise JSONPathError(f"unrecognized identifier {name}")

    def _recursive(self, values: List[Any]) -> List[Any]:
        out: List[Any] = []
        # depth-first, a value before what is below it (client-go's order), without recursion
        stack: List[Any] = list(reversed(values))
        while stack:
            value = stack.pop()
            if value is None:
                continue
            children = _children(value)
            if children:
                out.append(value)
                stack.extend(reversed(children))
        return out

    @staticmethod
    def _array(values: List[Any], params: Tuple[Tuple[bool, int, bool], ...]) -> List[Any]:
        out: List[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise JSONPathError(f"{go_type_name(value)} is not array or slice")
            length = len(value)
            (known0, start, _), (known1, stop, derived1), (known2, step, _) = params
            if not known0:
                start = 0
            if start < 0:
                start += length
            if not known1:
                stop = length
            if stop < 0 or (stop == 0 and derived1):
                stop += length
            if stop == start:
                return out
            if start >= length or start < 0:
                raise JSONPathError(f"array index out of bounds: index {start}, length {length}")
            if stop > length or stop < 0:
                raise JSONPathError(f"array index out of bounds: index {stop - 1}, length {length}")
            if start > stop:
                raise JSONPathError(f"starting index {start} is greater than ending index {stop}")
            if known2 and step <= 0:
                raise JSONPathError("step must be > 0")
            out.extend(value[start:stop:step if known2 else 1])
        return out

    def _filter(self, values: List[Any], node: Node) -> List[Any]:
        _, left_nodes, right_nodes, op = node
        out: List[Any] = []
        for value in values:
            if not isinstance(value, list):
                shown = "<invalid reflect.Value>" if value is None else _go_v(value)
                raise JSONPathError(f"{shown} is not array or slice and cannot be filtered")
            for item in value:
                if op == "exists":
                    try:
                        if self._walk([item], ("list", left_nodes)):
                            out.append(item)
                    except JSONPathError:
                        pass
                    continue
                lefts = self._walk([item], ("list", left_nodes))
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise JSONPathError("can only compare one element at a time")
                rights = self._walk([item], ("list", right_nodes))
                if not rights:
                    continue
                if len(rights) > 1:
                    raise JSONPathError("can only compare one element at a time")
                if _compare(op, lefts[0], rights[0]):
                    out.append(item)
        return out


def jsonpath(template: str, document: Any) -> str:
    """Run a kubectl JSONPath template over a document (raises :class:`JSONPathError`)."""
    return JSONPath(template).execute(document)


def parse_error_text(template: str, exc: BaseException) -> str:
    """kubectl's message for a template it cannot parse."""
    return f"error parsing jsonpath {template}, {exc}\n"


def execute_error_text(template: str, exc: BaseException, document: Any) -> str:
    """kubectl's message for a template that fails on the object (with its debugging dump)."""
    return (f"error executing jsonpath {_go_quote(template)}: Error executing template: {exc}. "
            f"Printing more information for debugging the template:\n\ttemplate was:\n\t\t{template}\n"
            f"\tobject given to jsonpath engine was:\n\t\t{go_sharp_v(document)}\n\n\n")


_RELAXED_RE = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed_expression(expression: str) -> str:
    """kubectl's ``RelaxedJSONPathExpression`` (custom-columns, --sort-by): ``a.b``, ``.a.b``,
    ``{a.b}`` and ``{.a.b}`` all mean ``{.a.b}``."""
    if not expression:
        return expression
    match = _RELAXED_RE.match(expression)
    if match is None:
        raise JSONPathParseError("unexpected path string, expected a 'name1.name2' or '.name1.name2' "
                                 "or '{name1.name2}' or '{.name1.name2}'")
    return "{." + (match.group(1) or match.group(2)) + "}"


def render(template: str, document: Any) -> str:
    """``-o jsonpath=TEMPLATE`` as kubectl prints it, or a CommandError with kubectl's text."""
    try:
        path = JSONPath(template)
    except JSONPathError as exc:
        raise CommandError(parse_error_text(template, exc)) from None
    try:
        return path.execute(document)
    except JSONPathError as exc:
        raise CommandError(execute_error_text(template, exc, document)) from None


TEMPLATE_OUTPUTS = ("jsonpath=", "jsonpath-as-json=", "jsonpath-file=")


def is_template(output: Any) -> bool:
    """Whether ``-o`` names a JSONPath template (``jsonpath=`` or ``jsonpath-as-json=``)."""
    return isinstance(output, str) and output.startswith(TEMPLATE_OUTPUTS)


def render_output(output: str, document: Any) -> str:
    """``-o jsonpath=T``, ``-o jsonpath-file=FILE`` or ``-o jsonpath-as-json=T`` (each node's
    results as an indented JSON array, as kubectl prints them)."""
    kind, _, template = output.partition("=")
    if kind == "jsonpath-file":  # the template is the file's text, as it is
        try:
            with open(template, encoding="utf-8") as handle:
                kind, template = "jsonpath", handle.read()
        except OSError as exc:
            why = "no such file or directory" if isinstance(exc, FileNotFoundError) else exc.strerror
            raise CommandError(f"error reading --template {template}, open {template}: {why}") from None
    if kind == "jsonpath":
        return render(template, document)
    try:
        path = JSONPath(template)
    except JSONPathError as exc:
        raise CommandError(parse_error_text(template, exc)) from None
    try:
        results = path.find(document)
    except JSONPathError as exc:
        raise CommandError(execute_error_text(template, exc, document)) from None
    out = []
    for values in results:
        text = json.dumps(_json_floats(values), indent=4, sort_keys=True, ensure_ascii=False)
        for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
            text = text.replace(char, escape)
        out.append(text + "\n")
    return "".join(out)
