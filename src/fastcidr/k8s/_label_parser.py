"""The label selector grammar as k8s.io/apimachinery's ``labels.Parse`` reads it: its lexer
(identifiers, ``in``/``notin``, the operators ``= == != ! > < ( ) ,``), its parser and its
error texts, and its checks of keys (qualified names) and values (label values, Gt/Lt integers).

>>> parse("app=web,tier in (b, a),!legacy,n>1")
[('app', '=', ('web',)), ('tier', 'in', ('a', 'b')), ('legacy', '!', ()), ('n', '>', ('1',))]
>>> parse("app=web=x")
Traceback (most recent call last):
...
ValueError: found '=', expected: ',' or 'end of string'
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

Requirement = Tuple[str, str, Tuple[str, ...]]

_SPECIAL = set("=!(),><")
_TOKENS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "DEQ", "=": "EQ", ">": "GT", "in": "IN",
           "<": "LT", "!=": "NEQ", "notin": "NOTIN", "(": "OPEN"}
_BINARY = "in, notin, =, ==, !=, gt, lt"
_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_INT64_RE = re.compile(r"^[+-]?[0-9]+$")
_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
             "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
             "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_QUALIFIED_MSG = ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
                  "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                  "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
                  "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                  "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                  "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                  "[a-z0-9])?)*')")
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
              "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
              "'my_value',  or '12345', regex used for validation is "
              "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def _lex(text: str) -> List[Tuple[str, str]]:
    items: List[Tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            items.append(("EOS", ""))
            return items
        if text[i] in _SPECIAL:
            buffer, last = "", None
            while i < n and text[i] in _SPECIAL:
                buffer += text[i]
                if buffer in _TOKENS:
                    last = (_TOKENS[buffer], buffer)
                    i += 1
                elif last is not None:
                    break
                else:
                    i += 1
            if last is None:
                items.append(("ERROR", f"error expected: keyword found '{buffer}'"))
                return items
            items.append(last)
            continue
        j = i
        while j < n and text[j] not in " \t\r\n" and text[j] not in _SPECIAL:
            j += 1
        word = text[i:j]
        items.append((_TOKENS.get(word, "ID") if word in ("in", "notin") else "ID", word))
        i = j


def _qualified_name_errors(key: str) -> List[str]:
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        if len(prefix) > 253:
            return ["prefix part must be no more than 253 characters"]
        if not _SUBDOMAIN_RE.match(prefix):
            return ["prefix part " + _SUBDOMAIN_MSG]
    else:
        return [_QUALIFIED_MSG]
    if not name:
        return ["name part must be non-empty"]
    errors = []
    if len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _NAME_RE.match(name):
        errors.append(_NAME_MSG)
    return errors


def _go_string_list(values: Tuple[str, ...]) -> str:
    return "[]string{" + ", ".join('"' + v + '"' for v in values) + "}"


def _requirement(key: str, op: str, values: Tuple[str, ...]) -> Requirement:
    """``NewRequirement``'s checks of the values."""
    if op in ("in", "notin") and not values:
        raise ValueError(f"values: Invalid value: {_go_string_list(values)}: for 'in', 'notin' operators, "
                         f"values set can't be empty")
    if op in ("=", "!=") and len(values) != 1:
        raise ValueError(f"values: Invalid value: {_go_string_list(values)}: exact-match compatibility "
                         f"requires one single value")
    if op in (">", "<"):
        for i, value in enumerate(values):
            if not _INT64_RE.match(value) or not -(1 << 63) <= int(value) < (1 << 63):
                raise ValueError(f'values[{i}]: Invalid value: "{value}": for \'Gt\', \'Lt\' operators, '
                                 f"the value must be an integer")
        return key, op, values
    for i, value in enumerate(values):
        if len(value) > 63:
            raise ValueError(f'values[{i}]: Invalid value: "{value}": must be no more than 63 characters')
        if not _VALUE_RE.match(value):
            raise ValueError(f'values[{i}]: Invalid value: "{value}": {_VALUE_MSG}')
    return key, op, values


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def _look(self, values: bool = True) -> Tuple[str, str]:
        tok, lit = self.items[min(self.position, len(self.items) - 1)]
        if values and tok in ("IN", "NOTIN"):
            tok = "ID"
        return tok, lit

    def _take(self, values: bool = True) -> Tuple[str, str]:
        item = self._look(values)
        self.position += 1
        return item

    def parse(self) -> List[Requirement]:
        out: List[Requirement] = []
        while True:
            tok, lit = self._look()
            if tok in ("ID", "NOT"):
                try:
                    out.append(self._requirement())
                except ValueError as exc:
                    raise ValueError(f"unable to parse requirement: {exc}") from None
                tok, lit = self._take()
                if tok == "EOS":
                    return out
                if tok == "COMMA":
                    tok2, lit2 = self._look()
                    if tok2 not in ("ID", "NOT"):
                        raise ValueError(f"found '{lit2}', expected: identifier after ','")
                    continue
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            if tok == "EOS":
                return out
            raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op: Optional[str] = None
        tok, lit = self._take()
        if tok == "NOT":
            op = "!"
            tok, lit = self._take()
        if tok != "ID":
            raise ValueError(f"found '{lit}', expected: identifier")
        errors = _qualified_name_errors(lit)
        if errors:
            raise ValueError(f'key: Invalid value: "{lit}": {"; ".join(errors)}')
        key = lit
        if op == "!" or self._look()[0] in ("EOS", "COMMA"):
            # (after "!key" the caller expects "," or the end: "!a=b" fails there, as in apimachinery)
            return key, op or "exists", ()
        tok, lit = self._take(values=False)
        operator = {"IN": "in", "EQ": "=", "DEQ": "=", "GT": ">", "LT": "<", "NOTIN": "notin",
                    "NEQ": "!="}.get(tok)
        if operator is None:
            raise ValueError(f"found '{lit}', expected: {_BINARY}")
        if operator in ("in", "notin"):
            return _requirement(key, operator, self._values())
        tok, lit = self._look()
        if tok in ("EOS", "COMMA"):
            return _requirement(key, operator, ("",))
        tok, lit = self._take()
        if tok != "ID":
            raise ValueError(f"found '{lit}', expected: identifier")
        return _requirement(key, operator, (lit,))

    def _values(self) -> Tuple[str, ...]:
        tok, lit = self._take()
        if tok != "OPEN":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self._look()
        if tok == "CLOSE":
            self._take()
            return ("",)
        if tok not in ("ID", "COMMA"):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        found = set()
        while True:
            tok, lit2 = self._take()
            if tok == "ID":
                found.add(lit2)
                tok2, lit3 = self._look()
                if tok2 == "COMMA":
                    continue
                if tok2 == "CLOSE":
                    break
                raise ValueError(f"found '{lit3}', expected: ',' or ')'")
            elif tok == "COMMA":
                if not found:
                    found.add("")
                tok2, _ = self._look()
                if tok2 == "CLOSE":
                    found.add("")
                    break
                if tok2 == "COMMA":
                    self._take()
                    found.add("")
            else:
                raise ValueError(f"found '{lit2}', expected: ',', or identifier")
        if self._take()[0] != "CLOSE":
            raise ValueError(f"found '{lit}', expected: ')'")
        return tuple(sorted(found))


def parse(text: str) -> List[Requirement]:
    """The requirements of a selector (``ValueError`` with apimachinery's message)."""
    return _Parser(text).parse()
