"""``-o go-template=TEMPLATE``: the part of Go's text/template that kubectl users write, run on
the JSON form of objects as kubectl runs it (missing keys print ``<no value>``, values print as
Go's ``fmt`` prints them, maps in key order).

Supported: text, ``{{.a.b}}``, ``{{.}}``, ``$``, variables (``{{$x := .a}}``, ``range $i, $e :=``),
pipes (``|``), parentheses with field chains (``{{(index .items 0).metadata.name}}``), string
(``"..."``, raw ````...````), number and boolean literals, ``if`` / ``else if`` / ``else``,
``range`` (lists, maps by key, integers) / ``else``, ``with`` / ``else``, comments, the trim markers
``{{-`` and ``-}}``, and the functions ``and or not len index print printf println eq ne lt le gt ge``
plus kubectl's ``base64decode`` and ``exists``. Errors carry Go's and kubectl's texts.

>>> render_template('{{range .items}}{{.metadata.name}} {{end}}', {"items": [{"metadata": {"name": "a"}}]})
'a '
"""
from __future__ import annotations

import base64
import re
from typing import Any, Dict, List, Optional, Tuple

from .jsonpath import JSONPathError, _compare, _go_json, _go_quote, _go_v, _unquote, go_type_name
from .kubectl_errors import CommandError

__all__ = ["render_template", "TemplateError"]


class TemplateError(Exception):
    pass


class _NoValue:
    """The zero reflect.Value a missing map key gives: prints ``<no value>``, is false."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()
_KEYWORDS = ("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue")
_FUNCS = ("and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le",
          "gt", "ge", "base64decode", "exists", "html", "js", "urlquery", "slice", "call")
_TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()|,])
""", re.X)


def _text(value: Any) -> str:
    """``fmt.Fprint`` of a value."""
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, str):
        return value
    return _go_v(value)


def _truth(value: Any) -> bool:
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


# -- parsing -------------------------------------------------------------------------------------

class _Action:
    def __init__(self, source: str, pos: int) -> None:
        self.pos = pos  # offset of the action's body in the template
        self.tokens: List[Tuple[str, str, int]] = []
        i = 0
        while i < len(source):
            match = _TOKEN_RE.match(source, i)
            if match is None:
                raise TemplateError(f"unexpected {_go_quote(source[i])} in command")
            kind = match.lastgroup or ""
            if kind != "space":
                self.tokens.append((kind, match.group(), pos + i))
            i = match.end()


def _split(template: str) -> List[Tuple[str, str, int]]:
    """Text and actions (``("text", s, pos)`` / ``("action", body, pos)``), trim markers applied."""
    parts: List[Tuple[str, str, int]] = []
    i = 0
    while True:
        start = template.find("{{", i)
        if start < 0:
            parts.append(("text", template[i:], i))
            break
        text = template[i:start]
        body_start = start + 2
        if template.startswith("{{- ", start) or template.startswith("{{-\t", start) or \
                template.startswith("{{-\n", start):
            text = text.rstrip(" \t\r\n")
            body_start += 1
        parts.append(("text", text, i))
        if template.startswith("/*", body_start) or template.startswith("/*", body_start + 1):
            close = template.find("*/", body_start)
            end = template.find("}}", close if close >= 0 else body_start)
            if close < 0 or end < 0:
                raise TemplateError("unclosed comment")
            i = end + 2
            continue
        end = body_start
        quote = ""
        while end < len(template):
            char = template[end]
            if quote:
                if char == "\\" and quote == '"':
                    end += 2
                    continue
                if char == quote:
                    quote = ""
            elif char in "\"`":
                quote = char
            elif template.startswith("}}", end):
                break
            elif char == "\n" and not quote:
                pass
            end += 1
        if end >= len(template):
            raise TemplateError("unclosed action")
        body = template[body_start:end]
        after = end + 2
        if body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-"):
            body = body[:-1]
            while after < len(template) and template[after] in " \t\r\n":
                after += 1
        parts.append(("action", body, body_start))
        i = after
    return [p for p in parts if not (p[0] == "text" and p[1] == "")]


Node = Tuple[Any, ...]


def _parse(template: str) -> List[Node]:
    """A list of nodes: ("text", s) ("out", action) ("if", [(action, body)...], else)
    ("range", action, body, else) ("with", action, body, else)."""
    parts = _split(template)
    pos = 0

    def block(stop: Tuple[str, ...]) -> Tuple[List[Node], str, Optional[_Action]]:
        nonlocal pos
        nodes: List[Node] = []
        while pos < len(parts):
            kind, body, at = parts[pos]
            pos += 1
            if kind == "text":
                nodes.append(("text", body))
                continue
            action = _Action(body, at)
            if not action.tokens:
                raise TemplateError("missing value for command")
            first = action.tokens[0]
            word = first[1] if first[0] == "ident" else ""
            if word in ("end", "else"):
                if word not in stop:
                    raise TemplateError(f"unexpected {{{{{word}}}}}")
                return nodes, word, action
            if word in ("if", "with", "range"):
                action.tokens = action.tokens[1:]
                body_nodes, ended, tail = block(("end", "else"))
                branches = [(action, body_nodes)]
                else_nodes: List[Node] = []
                while ended == "else":
                    assert tail is not None
                    if word == "if" and len(tail.tokens) > 1 and tail.tokens[1][1] == "if":
                        tail.tokens = tail.tokens[2:]
                        more, ended, next_tail = block(("end", "else"))
                        branches.append((tail, more))
                        tail = next_tail
                        continue
                    else_nodes, ended, tail = block(("end",))
                if word == "if":
                    nodes.append(("if", branches, else_nodes))
                else:
                    nodes.append((word, action, body_nodes, else_nodes))
                continue
            if word in _KEYWORDS:
                raise TemplateError(f"{word} is not supported")
            if first[0] == "ident" and word not in _FUNCS and word not in ("true", "false", "nil"):
                raise TemplateError(f'function "{word}" not defined')
            nodes.append(("out", action))
        if stop:
            raise TemplateError("unexpected EOF")
        return nodes, "", None

    nodes, _, _ = block(())
    return nodes


# -- execution -----------------------------------------------------------------------------------

class _Exec:
    def __init__(self, template: str, root: Any) -> None:
        self.template = template
        self.root = root
        self.out: List[str] = []
        self.scopes: List[Dict[str, Any]] = [{"$": root}]

    def fail(self, pos: int, context: str, message: str) -> TemplateError:
        line = self.template.count("\n", 0, pos) + 1
        col = pos - (self.template.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: output:{line}:{col}: executing "output" at <{context}>: {message}')

    def run(self, nodes: List[Node], dot: Any) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                self.out.append(node[1])
            elif kind == "out":
                value, declared = self.pipeline(node[1], dot)
                if not declared:
                    self.out.append(_text(value))
            elif kind == "if":
                for action, body in node[1]:
                    value, _ = self.pipeline(action, dot)
                    if _truth(value):
                        self.run(body, dot)
                        break
                else:
                    self.run(node[2], dot)
            elif kind == "with":
                value, _ = self.pipeline(node[1], dot)
                self.run(node[2] if _truth(value) else node[3], value if _truth(value) else dot)
            else:
                self.range(node, dot)

    def range(self, node: Node, dot: Any) -> None:
        action: _Action = node[1]
        names: List[str] = []
        tokens = list(action.tokens)
        if any(t[0] == "declare" for t in tokens):
            at = next(i for i, t in enumerate(tokens) if t[0] == "declare")
            names = [t[1] for t in tokens[:at] if t[0] == "var"]
            action = _Action("", action.pos)
            action.tokens = tokens[at + 1:]
        value, _ = self.pipeline(action, dot)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is NO_VALUE or value is None:
            items = []
        else:
            raise self.fail(action.pos, self._source(action), f"range can't iterate over {_text(value)}")
        if not items:
            self.run(node[3], dot)
            return
        for key, element in items:
            scope: Dict[str, Any] = {}
            if len(names) == 1:
                scope[names[0]] = element
            elif len(names) >= 2:
                scope[names[0]], scope[names[1]] = key, element
            self.scopes.append(scope)
            try:
                self.run(node[2], element)
            finally:
                self.scopes.pop()

    def _source(self, action: _Action) -> str:
        return " ".join(t[1] for t in action.tokens)

    def pipeline(self, action: _Action, dot: Any) -> Tuple[Any, bool]:
        tokens = action.tokens
        binding = ""  # "declare" ($x := ...) or "assign" ($x = ...)
        target = None
        if len(tokens) >= 2 and tokens[0][0] == "var" and tokens[1][0] in ("declare", "assign"):
            target, binding, tokens = tokens[0][1], tokens[1][0], tokens[2:]
        commands: List[List[Tuple[str, str, int]]] = [[]]
        depth = 0
        for tok in tokens:
            if tok[1] == "|" and depth == 0:
                commands.append([])
                continue
            depth += 1 if tok[1] == "(" else -1 if tok[1] == ")" else 0
            commands[-1].append(tok)
        value: Any = NO_VALUE
        piped = False
        for command in commands:
            if not command:
                raise TemplateError("missing value for command")
            value = self.command(command, dot, value if piped else None, piped)
            piped = True
        if target is not None:
            if binding == "declare":
                self.scopes[-1][target] = value
            else:
                for scope in reversed(self.scopes):
                    if target in scope:
                        scope[target] = value
                        break
            return value, True
        return value, False

    def command(self, tokens: List[Tuple[str, str, int]], dot: Any, piped: Any, has_pipe: bool) -> Any:
        operands = self.operands(tokens, dot)
        head_kind, head, pos = tokens[0]
        if head_kind == "ident" and head in _FUNCS:
            args = [v for v, _ in operands[1:]] + ([piped] if has_pipe else [])
            try:
                return _call(head, args)
            except TemplateError as exc:
                context = " ".join(t[1] for t in tokens)
                raise self.fail(pos, context, f"error calling {head}: {exc}") from None
        if head_kind == "ident" and head == "nil":
            raise self.fail(pos, "nil", "nil is not a command")
        if len(operands) > 1 or has_pipe:
            context = " ".join(t[1] for t in tokens)
            raise self.fail(pos, context, f"can't give argument to non-function {tokens[0][1]}")
        return operands[0][0]

    def operands(self, tokens: List[Tuple[str, str, int]], dot: Any) -> List[Tuple[Any, int]]:
        out: List[Tuple[Any, int]] = []
        i = 0
        while i < len(tokens):
            kind, text, pos = tokens[i]
            if text == "(":
                depth, j = 1, i + 1
                while j < len(tokens) and depth:
                    depth += 1 if tokens[j][1] == "(" else -1 if tokens[j][1] == ")" else 0
                    j += 1
                inner = _Action("", pos)
                inner.tokens = tokens[i + 1:j - 1]
                value, _ = self.pipeline(inner, dot)
                i = j
                if i < len(tokens) and tokens[i][0] == "field" and tokens[i][2] == tokens[i - 1][2] + 1:
                    value = self.fields(value, tokens[i][1], tokens[i][2], tokens[i][1])
                    i += 1
                out.append((value, pos))
                continue
            if kind == "field":
                out.append((self.fields(dot, text, pos, text), pos))
            elif kind == "dot":
                out.append((dot, pos))
            elif kind == "var":
                name, _, chain = text.partition(".")
                value = NO_VALUE
                for scope in reversed(self.scopes):
                    if name in scope:
                        value = scope[name]
                        break
                else:
                    raise TemplateError(f"undefined variable: {name}")
                if chain:
                    value = self.fields(value, "." + chain, pos + len(name), text)
                out.append((value, pos))
            elif kind == "string":
                try:
                    out.append((_unquote(text), pos))
                except ValueError:
                    raise TemplateError(f"unquote: invalid syntax {text}") from None
            elif kind == "raw":
                out.append((text[1:-1], pos))
            elif kind == "number":
                plain = text.replace("_", "")
                try:
                    out.append((int(plain, 0), pos))
                except ValueError:
                    out.append((float(plain), pos))
            elif kind == "ident" and text in ("true", "false"):
                out.append((text == "true", pos))
            elif kind == "ident":
                out.append((text, pos))  # a function name (called by command)
            else:
                raise TemplateError(f"unexpected {text!r} in operand")
            i += 1
        return out

    def fields(self, value: Any, chain: str, pos: int, context: str) -> Any:
        names = chain.split(".")[1:]
        # Go reports a chain at its second field (where the parser starts the chain node)
        report = pos + len(names[0]) + 1 if len(names) > 1 else pos
        for name in names:
            if value is NO_VALUE or value is None:
                return NO_VALUE
            if not isinstance(value, dict):
                raise self.fail(report, context, f"can't evaluate field {name} in type interface {{}}")
            value = value.get(name, NO_VALUE)
        return value


def _call(name: str, args: List[Any]) -> Any:
    if name == "len":
        (value,) = args
        if isinstance(value, (str, list, dict)):
            return len(value.encode() if isinstance(value, str) else value)
        kind = "int" if isinstance(value, int) and not isinstance(value, bool) else type(value).__name__
        raise TemplateError(f"len of type {kind}")
    if name == "index":
        value, *keys = args
        for key in keys:
            if isinstance(value, dict):
                value = value.get(key, NO_VALUE)
            elif isinstance(value, list):
                if not isinstance(key, int) or not 0 <= key < len(value):
                    raise TemplateError(f"index out of range: {key}")
                value = value[key]
            elif value is NO_VALUE or value is None:
                raise TemplateError("index of untyped nil")
            else:
                raise TemplateError(f"can't index item of type {type(value).__name__}")
        return value
    if name == "not":
        return not _truth(args[0])
    if name == "and":
        for value in args:
            if not _truth(value):
                return value
        return args[-1]
    if name == "or":
        for value in args:
            if _truth(value):
                return value
        return args[-1]
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        op = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[name]
        try:
            if name == "eq":
                return any(_compare("==", args[0], other) for other in args[1:])
            return _compare(op, args[0], args[1])
        except JSONPathError as exc:
            raise TemplateError(str(exc)) from None
    if name == "print":
        return _sprint(args)
    if name == "println":
        return " ".join(_text(a) for a in args) + "\n"
    if name == "printf":
        return _sprintf(args[0], args[1:])
    if name == "base64decode":
        try:
            return base64.b64decode(str(args[0])).decode("utf-8", "replace")
        except ValueError as exc:
            raise TemplateError(str(exc)) from None
    if name == "exists":
        value, *keys = args
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return False
            value = value[key]
        return True
    raise TemplateError(f"{name} is not supported")


def _sprint(args: List[Any]) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _text(arg)
    return out


_VERB_RE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(fmt: Any, args: List[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use: %s %v %d %q %f %t %x %%."""
    values = list(args)

    def verb(match: "re.Match[str]") -> str:
        flags, width, precision, kind = match.groups()
        if kind == "%":
            return "%"
        if not values:
            return f"%!{kind}(MISSING)"
        value = values.pop(0)
        if kind in ("s", "v"):
            text = _text(value)
            if precision is not None and kind == "s":
                text = text[:int(precision)]
        elif kind == "d":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"%!d({go_type_name(value)}={_text(value)})"
            text = str(value)
        elif kind == "q":
            text = _go_quote(_text(value))
        elif kind == "f":
            text = f"{float(value):.{int(precision) if precision else 6}f}"
        elif kind == "t":
            text = "true" if value is True else "false" if value is False else f"%!t({_text(value)})"
        elif kind == "x":
            text = format(value, "x") if isinstance(value, int) else _text(value).encode().hex()
        else:
            text = _text(value)
        if width:
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width), "0" if "0" in flags else " ")
        return text

    out = _VERB_RE.sub(verb, str(fmt))
    if values:
        out += "%!(EXTRA " + ", ".join(f"{go_type_name(v)}={_text(v)}" for v in values) + ")"
    return out


def render_template(template: str, document: Any) -> str:
    """Run a Go template over a JSON document (raises :class:`TemplateError`)."""
    runner = _Exec(template, document)
    runner.run(_parse(template), document)
    return "".join(runner.out)


def render_output(template: str, document: Any, out: Any) -> None:
    """``-o go-template=T`` as kubectl prints it: the output, or on an execution error what was
    written so far and kubectl's debugging text on stdout, and a CommandError for stderr."""
    try:
        nodes = _parse(template)
    except TemplateError as exc:
        raise CommandError(f"error parsing template {template}, template: output:1: {exc}\n") from None
    runner = _Exec(template, document)
    try:
        runner.run(nodes, document)
    except TemplateError as exc:
        out.write("".join(runner.out))
        out.write(f"Error executing template: {exc}. Printing more information for debugging the template:\n"
                  f"\ttemplate was:\n\t\t{template}\n\traw data was:\n\t\t{_go_json(document)}\n"
                  f"\tobject given to template engine was:\n\t\t{_go_v(document)}\n\n")
        raise CommandError(f"error executing template {_go_quote(template)}: {exc}") from None
    out.write("".join(runner.out))

