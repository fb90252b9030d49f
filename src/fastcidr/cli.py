"""``fastcidr``: a kubectl-like command line over a fastcidr store (API.md "Command line").

It speaks kubectl: the same verbs, nouns and flags for ServiceCIDRs, IPAddresses and Services, the
same table layout (Go's tabwriter), AGE format (``HumanDuration``), ``-o json|yaml|name|wide|jsonpath=``
output and error texts (``Error from server (NotFound): ...``, ``The ServiceCIDR "x" is invalid: ...``),
on stdout/stderr with kubectl's exit status (0, or 1 on any error). The state lives in a store chosen by
``--store URL`` or ``FASTCIDR_STORE``, by default the SQLite file
``$XDG_DATA_HOME/fastcidr/fastcidr.db`` (``~/.local/share/fastcidr/fastcidr.db``).

Writes go through a ``Cluster`` (the controllers run inside each write); ``get`` reads the store
directly, because opening a ``Cluster`` rebuilds its allocation index first. Start-up matters for
a command line, so the Kubernetes layer, the stores and PyYAML are imported only by the commands
that need them, and only the parser of the command given is built.

>>> print(human_duration(7 * 60 + 30))
7m30s
>>> print(tabwrite("NAME\\tCIDRS\\tAGE\\nkubernetes\\t10.96.0.0/28\\t17d\\n"), end="")
NAME         CIDRS          AGE
kubernetes   10.96.0.0/28   17d
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence, Tuple

from .errors import FastCIDRError, NotFoundError, StoreError, StoreNotFoundError
from .k8s import resources
from .k8s.printers import age, format_labels, human_duration, parse_timestamp
from .k8s.resources import IPADDRESSES, OBJECT_KINDS, SERVICECIDRS, SERVICES, ResourceType
from .k8s.selectors import Requirement, SelectorError, matches_labels, parse_label_selector
from .k8s.view import StoreView

if TYPE_CHECKING:
    from .k8s.cluster import Cluster

__all__ = ["main", "human_duration", "tabwrite", "table", "default_store_path", "resolve_store",
           "to_json", "to_yaml", "jsonpath"]

ENV_STORE = "FASTCIDR_STORE"


# --------------------------------------------------------------------------------------------
# Where the state lives


def default_store_path() -> str:
    """``$XDG_DATA_HOME/fastcidr/fastcidr.db``, i.e. ``~/.local/share/fastcidr/fastcidr.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "fastcidr", "fastcidr.db")


def resolve_store(flag: Optional[str], *, create: bool = True) -> str:
    """``--store`` wins over ``FASTCIDR_STORE``, which wins over the default SQLite file (whose
    folder is made only for a command that may ``create`` the store)."""
    if flag:
        return flag
    env = os.environ.get(ENV_STORE)
    if env:
        return env
    path = default_store_path()
    if create:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


_INIT_HINT = "run 'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to create one"


_EMPTY_STORE_HINT = ("hint: this store holds no service cluster IP range yet: run "
                     "'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to set it up")


def _no_store(exc: StoreNotFoundError) -> CommandError:
    return CommandError(f"{exc}: nothing was created; {_INIT_HINT}, or check --store / ${ENV_STORE}")


def open_view(args: argparse.Namespace) -> StoreView:
    """The store of a read-only command; a store that does not exist is an error (and stays so)."""
    url = resolve_store(getattr(args, "store", None), create=False)
    try:
        return StoreView(url)
    except StoreNotFoundError as exc:
        raise _no_store(exc) from None
    except ValueError as exc:  # a store URL that cannot be understood
        raise CommandError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# Formatting exactly as kubectl does


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc1123z(timestamp: Optional[str]) -> str:
    """Go's ``time.RFC1123Z`` (``Mon, 02 Jan 2006 15:04:05 -0700``), locale-independent."""
    value = parse_timestamp(timestamp)
    if value is None:
        value = datetime(1, 1, 1, tzinfo=timezone.utc)  # Go's zero time, as kubectl prints it
    offset = value.utcoffset() or (value - value)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (
        f"{_DAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} {value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def tabwrite(text: str, minwidth: int = 6, padding: int = 3) -> str:
    """Align tab-separated cells the way Go's ``text/tabwriter`` does (padding with spaces).

    A cell is text terminated by a tab; the text after a line's last tab is not part of any
    column and is never padded, so no line ends in spaces. A column block is a run of consecutive
    lines that all have a cell in that column; its width is ``max(minwidth, widest cell + padding)``.
    kubectl's tables use ``minwidth=6, padding=3``; ``kubectl describe`` uses ``0, 2``.
    """
    trailing_newline = text.endswith("\n")
    body = text[:-1] if trailing_newline else text
    lines = [line.split("\t") for line in body.split("\n")]
    out: List[str] = []
    widths: List[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths):
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    result = "\n".join(out)
    return result + "\n" if trailing_newline else result


def table(rows: Sequence[Sequence[str]]) -> str:
    """kubectl's table: each column as wide as its widest cell plus 3 spaces, last one unpadded."""
    if not rows:
        return ""
    return tabwrite("".join("\t".join(row) + "\n" for row in rows))


def to_json(obj: Any) -> str:
    """kubectl's ``-o json``: 4-space indent, keys sorted, and Go's HTML-safe escapes."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text + "\n"


def to_yaml(obj: Any) -> str:
    """kubectl's ``-o yaml``: keys sorted, block style, and strings that would read back as
    something else (``"False"``, timestamps, ``""``) in double quotes, as go-yaml writes them."""
    return _yaml_module().dump(obj, Dumper=_kubectl_dumper(), default_flow_style=False, sort_keys=True,
                               allow_unicode=True, width=80)


def _yaml_module() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # only the YAML paths pay for PyYAML
    except ImportError:
        raise CommandError("YAML needs PyYAML: pip install 'fastcidr[yaml]' (JSON works without it)") from None
    return yaml


_DUMPER: List[Any] = []


def _kubectl_dumper() -> Any:
    """A SafeDumper whose strings are quoted as go-yaml quotes them (built on first use)."""
    if _DUMPER:
        return _DUMPER[0]
    yaml = _yaml_module()

    def represent_str(dumper: Any, data: str) -> Any:
        style = None
        if "\n" in data:
            style = "|"
        elif dumper.resolve(yaml.ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":
            style = '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    dumper: Any = type("KubectlDumper", (yaml.SafeDumper,), {})
    dumper.add_representer(str, represent_str)
    _DUMPER.append(dumper)
    return dumper


# --------------------------------------------------------------------------------------------
# Resources: how each kind is named, listed and printed


Resource = ResourceType  # (the registry's type, by the name the commands use)


def lookup_resource(name: str) -> Resource:
    res = resources.lookup(name)
    if res is None:
        raise CommandError(f'the server doesn\'t have a resource type "{name}"')
    return res


def _resource_of_kind(kind: str) -> Optional[Resource]:
    res = resources.by_kind(kind)
    return res if res in OBJECT_KINDS else None


# --------------------------------------------------------------------------------------------
# Errors as kubectl prints them


class CommandError(Exception):
    """A client-side error: printed as ``error: <message>``, exit status 1."""


def _field_errors(exc: BaseException) -> List[str]:
    errors = getattr(exc, "errors", None)
    if not errors:
        return [str(exc)]
    return [f"{field}: {message}" if field else str(message) for field, message in errors]


def go_aggregate(messages: Sequence[str]) -> str:
    """Go's ``utilerrors.Aggregate`` text: the one message, or ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def status_message(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None) -> str:
    """The ``message`` of the Kubernetes ``Status`` the apiserver would have answered with."""
    reason = getattr(exc, "reason", "InternalError")
    if reason == "Invalid" and (kind or getattr(exc, "kind", None)):
        kind = getattr(exc, "kind", None) or kind
        name = getattr(exc, "name", None) or name
        return f'{kind} "{name}" is invalid: {go_aggregate(_field_errors(exc))}'
    if reason == "InternalError":
        return f"Internal error occurred: {exc}"
    return str(exc)


def server_error_text(exc: BaseException, kind: Optional[str] = None, name: Optional[str] = None,
                      source: Optional[str] = None, verb: str = "creating") -> str:
    """What kubectl prints for an error Status (``cmdutil.StandardErrorMessage``).

    Invalid (422) is rebuilt from the details as ``The <Kind> "<name>" is invalid: ...`` (one
    ``* field: message`` line per cause when there are several); every other reason is
    ``Error from server (<Reason>): <message>``, with ``error when <verb> "<file>": `` before the
    message when the object came from a file (``apply -f``).
    """
    if isinstance(exc, StoreError):
        return f"error: {exc}"
    reason = getattr(exc, "reason", "InternalError")
    if reason == "Invalid":
        kind = getattr(exc, "kind", None) or kind
        name = getattr(exc, "name", None) or name
        head = f'The {kind} "{name}" is invalid' if (kind or name) else "The request is invalid"
        causes = _field_errors(exc)
        if len(causes) == 1:
            return f"{head}: {causes[0]}"
        return f"{head}: \n" + "\n".join(f"* {cause}" for cause in causes)
    message = status_message(exc, kind, name)
    if source is not None:
        message = f'error when {verb} "{source}": {message}'
    return f"Error from server ({reason}): {message}"


# --------------------------------------------------------------------------------------------
# Argument parsing


class _Parser(argparse.ArgumentParser):
    """argparse that fails like kubectl: ``error: ...`` on stderr, exit status 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


_OUTPUTS = ("json", "yaml", "name", "wide")


def _output_format(value: str) -> str:
    value = value[1:] if value.startswith("=") else value  # `-o=json`, as kubectl's flag parser allows
    if value in _OUTPUTS or value.startswith("jsonpath="):
        return value
    if value == "jsonpath":
        raise argparse.ArgumentTypeError("template format specified but no template given")
    raise argparse.ArgumentTypeError(
        f'unable to match a printer suitable for the output format "{value}", '
        f"allowed formats are: json,jsonpath,name,wide,yaml")


# --------------------------------------------------------------------------------------------
# -o jsonpath=TEMPLATE: the part of kubectl's JSONPath that scripts use


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


def _bool_flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole command tree, or (``only``) the top level and that one command: argparse
    translates every help text through gettext as it builds a parser, and building all of
    them costs more start-up time than the rest of ``fastcidr get`` together."""
    store_flag = _Parser(add_help=False)
    store_flag.add_argument(
        "--store", default=argparse.SUPPRESS, metavar="URL",
        help=f"where the state lives: a SQLite path, sqlite:///path or etcd://host:port/prefix "
             f"(default: ${ENV_STORE}, else {default_store_path()})")

    parser = _Parser(
        prog="fastcidr",
        description="kubectl for Service CIDRs, without a cluster: ServiceCIDRs, IPAddresses and "
                    "ClusterIP Services on an embedded store.")
    parser.add_argument("--store", default=None, metavar="URL",
                        help=f"store URL (default: ${ENV_STORE}, else {default_store_path()})")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[store_flag])

    def namespace_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--namespace", default=None, help="namespace (Services only; default: default)")

    if only in (None, "init"):
        p = add("init", "Record the service cluster IP range and create the default 'kubernetes' "
                        "ServiceCIDR and Service.")
        p.add_argument("--service-cluster-ip-range", required=True, metavar="CIDR[,CIDR]")
        p.set_defaults(func=cmd_init)

    if only in (None, "get"):
        p = add("get", "Display one or many resources (servicecidr, ipaddress, service).")
        p.add_argument("args", nargs="+", metavar="TYPE[,TYPE] [NAME...] | TYPE/NAME...")
        p.add_argument("-o", "--output", type=_output_format, default=None, help="json|yaml|name|wide")
        p.add_argument("--no-headers", action="store_true", help="omit the table header")
        namespace_flag(p)
        p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
        p.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                       help="label selector: key=value, key!=value, key, !key, key in (a,b), key notin (a,b) "
                       "(comma-separated, ANDed)")
        p.add_argument("--show-labels", action="store_true", help="add a LABELS column")
        p.set_defaults(func=cmd_get)

    if only in (None, "create"):
        p = add("create", "Create a ServiceCIDR or a ClusterIP Service, or the objects of a file.")
        p.add_argument("-f", "--filename", action="append", default=[], metavar="FILE|-",
                       help="create the objects in a YAML or JSON file (AlreadyExists if present)")
        p.set_defaults(func=cmd_create_files)
        create = p.add_subparsers(dest="what", metavar="servicecidr|service", parser_class=_Parser)
        create.required = False
        q = create.add_parser("servicecidr", help="create a ServiceCIDR", parents=[store_flag])
        q.add_argument("name")
        q.add_argument("--cidrs", required=True, metavar="CIDR[,CIDR]")
        q.add_argument("-o", "--output", type=_output_format, default=None)
        q.add_argument("--dry-run", type=_dry_run, nargs="?", const="client", default="none",
                       help="client: print the object only; server: validate, keep nothing")
        q.set_defaults(func=cmd_create_servicecidr)
        q = create.add_parser("service", aliases=["svc"], help="create a Service", parents=[store_flag])
        svc_types = q.add_subparsers(dest="service_type", metavar="clusterip", parser_class=_Parser)
        svc_types.required = True
        r = svc_types.add_parser("clusterip", help="create a ClusterIP Service", parents=[store_flag])
        r.add_argument("name")
        r.add_argument("--tcp", action="append", default=[], metavar="PORT[:TARGET]",
                       help="port pairs, repeatable or comma-separated")
        r.add_argument("--clusterip", default=None, metavar="IP", help="a specific cluster IP, or None (headless)")
        r.add_argument("-o", "--output", type=_output_format, default=None)
        r.add_argument("--dry-run", type=_dry_run, nargs="?", const="client", default="none",
                       help="client: print the object only; server: validate and allocate, keep nothing")
        namespace_flag(r)
        r.set_defaults(func=cmd_create_service)

    if only in (None, "apply"):
        p = add("apply", "Create or update objects from a file or stdin (YAML or JSON).")
        p.add_argument("-f", "--filename", action="append", required=True, metavar="FILE|-")
        namespace_flag(p)
        # kubectl's apply knobs: validation is always the server's, and there is one field manager
        p.add_argument("--validate", default="strict", help=argparse.SUPPRESS)
        p.add_argument("--server-side", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--force-conflicts", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--field-manager", default=None, help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_apply)

    if only in (None, "delete"):
        p = add("delete", "Delete resources by name; does not wait for finalizers.")
        p.add_argument("args", nargs="*", metavar="TYPE NAME... | TYPE/NAME...")
        p.add_argument("-f", "--filename", action="append", default=[], metavar="FILE|-",
                       help="delete the objects named in a YAML or JSON file")
        namespace_flag(p)
        p.add_argument("--wait", type=_bool_flag, nargs="?", const=True, default=False,
                       help="accepted for kubectl compatibility; fastcidr never waits for finalizers")
        p.add_argument("--ignore-not-found", type=_bool_flag, nargs="?", const=True, default=False)
        p.add_argument("--all", action="store_true", help="delete every object of the type")
        # kubectl's deletion knobs; a fastcidr deletion is immediate and never cascades
        p.add_argument("--now", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--force", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--grace-period", type=int, default=-1, help=argparse.SUPPRESS)
        p.add_argument("--cascade", default="background", help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_delete)

    if only in (None, "describe"):
        p = add("describe", "Show details of a ServiceCIDR (conditions, finalizers and the addresses "
                            "that block its deletion), an IPAddress or a Service.")
        p.add_argument("args", nargs="+", metavar="TYPE [NAME...]")
        namespace_flag(p)
        p.set_defaults(func=cmd_describe)

    if only in (None, "import"):
        p = add("import", "Load what 'kubectl get servicecidr,ipaddress,services -A -o json' printed.")
        p.add_argument("-f", "--filename", required=True, metavar="DUMP.json|-")
        p.set_defaults(func=cmd_import)

    if only in (None, "version"):
        p = add("version", "Print the fastcidr version and which core is in use.")
        p.set_defaults(func=cmd_version)

    if only in (None, "bench"):
        p = add("bench", "A few seconds of fastcidr against the peers installed here.")
        p.add_argument("--seconds", type=float, default=0.15, help="time budget per measurement")
        p.set_defaults(func=cmd_bench)

    if only in (None, "serve"):
        p = sub.add_parser("serve", add_help=False,  # --help belongs to the server's own parser
                           help="Serve the Kubernetes API over the store (see 'fastcidr serve --help').")
        p.add_argument("serve_args", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_serve)

    return parser


def _version() -> str:
    try:
        from . import __version__, BACKEND

        return f"fastcidr {__version__} ({BACKEND} core)"
    except Exception:  # pragma: no cover - a broken core must not break --version
        return "fastcidr"


# --------------------------------------------------------------------------------------------
# The cluster behind the commands


def open_cluster(args: argparse.Namespace, service_cluster_ip_range: Optional[str] = None, *,
                 read_only: bool = False) -> "Cluster":
    """The Cluster of a command; ``read_only``: the store must exist already (it is not created)."""
    from .k8s.cluster import Cluster

    url = resolve_store(getattr(args, "store", None), create=not read_only)
    try:
        if read_only:
            from .store.urls import open_store

            open_store(url, create=False).close()
        return Cluster(service_cluster_ip_range, store=url)
    except StoreNotFoundError as exc:
        raise _no_store(exc) from None
    except FastCIDRError:
        raise
    except ValueError as exc:  # a store URL that cannot be understood
        raise CommandError(str(exc)) from None


def _objects_of(cluster: Any, res: Resource, namespace: Optional[str]) -> List[Dict[str, Any]]:
    """Every object of one kind as wire dicts, in the apiserver's order (by key)."""
    if res is SERVICECIDRS:
        items = [o.to_dict() for o in cluster.list_service_cidrs()]
        items.sort(key=lambda o: o["metadata"]["name"])
    elif res is IPADDRESSES:
        items = [o.to_dict() for o in cluster.list_ip_addresses()]
        items.sort(key=lambda o: o["metadata"]["name"])
    else:
        items = [o.to_dict() for o in cluster.list_services(namespace)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    return items


def _object(cluster: Any, res: Resource, name: str, namespace: str) -> Dict[str, Any]:
    if res is SERVICECIDRS:
        return cluster.get_service_cidr(name).to_dict()
    if res is IPADDRESSES:
        return cluster.get_ip_address(name).to_dict()
    return cluster.get_service(name, namespace).to_dict()


def _not_found(res: Resource, name: str) -> FastCIDRError:
    return NotFoundError(res.qualified, name)


def _parse_targets(words: Sequence[str]) -> List[Tuple[Resource, Optional[str]]]:
    """``TYPE[,TYPE] [NAME...]`` or ``TYPE/NAME...`` → (resource, name or None for all)."""
    if "/" in words[0]:
        targets: List[Tuple[Resource, Optional[str]]] = []
        for word in words:
            kind, sep, name = word.partition("/")
            if not sep or not name:
                raise CommandError(
                    "there is no need to specify a resource type as a separate argument when "
                    "passing arguments in resource/name form (e.g. 'fastcidr get resource/<resource_name>' "
                    "instead of 'fastcidr get resource resource/<resource_name>'")
            targets.append((lookup_resource(kind), name))
        return targets
    kinds = [lookup_resource(k) for k in words[0].split(",") if k]
    if not kinds:
        raise CommandError("you must specify the type of resource")
    if len(words) == 1:
        return [(res, None) for res in kinds]
    if len(kinds) > 1:
        return [(res, name) for res in kinds for name in words[1:]]
    return [(kinds[0], name) for name in words[1:]]


def _namespace(args: argparse.Namespace) -> str:
    return getattr(args, "namespace", None) or "default"


def _out(text: str) -> None:
    sys.stdout.write(text)


def _exit_status(errors: Sequence[str]) -> int:
    """Print the errors kubectl collected while it went on with the rest: 1 if there were any."""
    for line in errors:
        _err(line)
    return 1 if errors else 0


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


# --------------------------------------------------------------------------------------------
# Commands. Each returns the exit status.


def _recorded_range(url: str) -> Optional[List[str]]:
    """The range a store holds before ``init`` (None: no store, or none recorded)."""
    try:
        with StoreView(url) as view:
            return view.recorded_range()
    except (StoreNotFoundError, ValueError):
        return None


def cmd_init(args: argparse.Namespace) -> int:
    """Record the range, as kube-apiserver does when it starts with ``--service-cluster-ip-range``,
    and say what that did: a ``kubernetes`` ServiceCIDR that disagrees with the range is left alone
    (Warning ``KubernetesDefaultServiceCIDRInconsistent``), single → dual stack with the same
    primary is upgraded, and a Terminating one is not called ready."""
    wanted = [c.strip() for c in args.service_cluster_ip_range.split(",") if c.strip()]
    cidrs = ",".join(wanted)
    if not cidrs:
        raise CommandError("--service-cluster-ip-range needs at least one CIDR")
    store = resolve_store(getattr(args, "store", None))
    before = _recorded_range(store)
    try:
        cluster = open_cluster(args, cidrs)
    except FastCIDRError as exc:
        if isinstance(exc, StoreError):
            raise
        # a bad flag value, which the apiserver would refuse at start-up
        raise CommandError(f"invalid --service-cluster-ip-range {cidrs!r}: "
                           + "; ".join(_field_errors(exc))) from None
    with cluster:
        try:
            default: Optional[Any] = cluster.get_service_cidr("kubernetes")
        except NotFoundError:
            default = None
        warnings = [e for e in cluster.events() if e.reason == "KubernetesDefaultServiceCIDRInconsistent"]
    if before is None:
        _out(f"service-cluster-ip-range {cidrs} recorded in {store}\n")
    elif before == wanted:
        _out(f"service-cluster-ip-range {cidrs} already recorded in {store}\n")
    else:
        _out(f"service-cluster-ip-range changed from {','.join(before)} to {cidrs} in {store}\n")
    name = f"{SERVICECIDRS.qualified_singular}/kubernetes"
    if default is None:
        _out(f"{name} not created yet\n")
    elif default.terminating:
        _out(f"{name} is Terminating ({', '.join(default.cidrs)}): IPAddresses still use it; it is "
             f"recreated from the range once they are gone\n")
    else:
        if before is not None and before != wanted and default.cidrs == wanted:
            _out(f"{name} upgraded to dual-stack {cidrs}\n")
        _out(f"{name} ready\n" if default.ready else f"{name} not ready\n")
    for event in warnings:
        _err(f"Warning: {event.reason}: {event.message}; the existing ServiceCIDR is left as it is "
             "(as kube-apiserver does on a restart with a new range): delete it to have it recreated")
    return 0


def parse_selector(text: Optional[str]) -> List[Requirement]:
    """``-l``: kubectl's label selector (equality- and set-based), or a CommandError."""
    try:
        return parse_label_selector(text)
    except SelectorError:
        raise CommandError(f'unable to parse requirement: invalid label selector "{text}"') from None


def cmd_get(args: argparse.Namespace) -> int:
    targets = _parse_targets(args.args)
    selector = parse_selector(args.selector)
    if args.selector and any(name is not None for _, name in targets):
        raise CommandError("name cannot be provided when a selector is specified")
    output = args.output
    namespace = _namespace(args)
    all_namespaces = bool(args.all_namespaces)
    now = datetime.now(timezone.utc)
    errors: List[str] = []
    found: List[Tuple[Resource, Dict[str, Any]]] = []
    listed_kinds: List[Resource] = []
    named = any(name is not None for _, name in targets)
    with open_view(args) as cluster:
        initialised = cluster.initialised
        for res, name in targets:
            if name is None:
                listed_kinds.append(res)
                ns = None if (all_namespaces or not res.namespaced) else namespace
                found.extend((res, obj) for obj in _objects_of(cluster, res, ns)
                             if matches_labels(selector, (obj.get("metadata") or {}).get("labels")))
                continue
            try:
                found.append((res, _object(cluster, res, name, namespace)))
            except FastCIDRError as exc:
                if getattr(exc, "reason", "") == "Invalid":  # a malformed name is simply not there
                    exc = _not_found(res, name)
                errors.append(server_error_text(exc))

    if output in ("json", "yaml") or (output or "").startswith("jsonpath="):
        single = len(targets) == 1 and named
        if single and found:
            document: Any = found[0][1]
        elif single:
            document = None
        else:
            document = {"apiVersion": "v1", "items": [obj for _, obj in found], "kind": "List",
                        "metadata": {"resourceVersion": ""}}
        if document is not None and output == "json":
            _out(to_json(document))
        elif document is not None and output == "yaml":
            _out(to_yaml(document))
        elif document is not None:
            try:
                _out(jsonpath(output.split("=", 1)[1], document))
            except JSONPathError as exc:
                raise CommandError(f"error executing jsonpath {output.split('=', 1)[1]!r}: {exc}") from None
    elif output == "name":
        for res, obj in found:
            _out(f"{res.qualified_singular}/{obj['metadata']['name']}\n")
    else:
        _print_tables(found, targets, wide=(output == "wide"), no_headers=args.no_headers,
                      all_namespaces=all_namespaces, now=now, show_labels=args.show_labels)
        if not found and not errors and not named:
            if any(r.namespaced for r in listed_kinds) and not all_namespaces:
                _err(f"No resources found in {namespace} namespace.")
            else:
                _err("No resources found")
            if not initialised:
                _err(_EMPTY_STORE_HINT)
    return _exit_status(errors)


def _print_tables(found: Sequence[Tuple[Resource, Dict[str, Any]]],
                  targets: Sequence[Tuple[Resource, Optional[str]]], *, wide: bool,
                  no_headers: bool, all_namespaces: bool, now: datetime, show_labels: bool = False) -> None:
    kinds: List[Resource] = []
    for res, _ in targets:
        if res not in kinds:
            kinds.append(res)
    with_kind = len(kinds) > 1
    first = True
    for res in kinds:
        objects = [obj for r, obj in found if r is res]
        if not objects:
            continue
        with_namespace = all_namespaces and res.namespaced
        rows: List[List[str]] = []
        if not no_headers:
            header = res.headings(wide) + (["LABELS"] if show_labels else [])
            rows.append((["NAMESPACE"] if with_namespace else []) + header)
        for obj in objects:
            cells = res.cells(obj, wide, now)
            if show_labels:
                cells.append(format_labels((obj.get("metadata") or {}).get("labels")))
            if with_kind:
                cells[0] = f"{res.qualified_singular}/{cells[0]}"
            if with_namespace:
                cells.insert(0, obj["metadata"].get("namespace", ""))
            rows.append(cells)
        if not first:
            _out("\n")
        first = False
        _out(table(rows))


def _load_files(paths: Sequence[str], verb: str) -> List[Tuple[Dict[str, Any], str]]:
    work: List[Tuple[Dict[str, Any], str]] = []
    for path in paths:
        text, source = _read_source(path)
        work.extend((doc, source) for doc in parse_manifests(text, source))
    if not work:
        raise CommandError(f"no objects passed to {verb}")
    return work


def _each_manifest(work: Sequence[Tuple[Dict[str, Any], str]], args: argparse.Namespace,
                   failures: List[str]) -> Iterator[Tuple[Resource, Dict[str, Any], str, str]]:
    """Each document as (kind, document, name, source), its namespace defaulted from ``-n``; a
    document of no known kind is added to ``failures`` and the others still go through, as kubectl
    does."""
    for doc, source in work:
        try:
            res = _manifest_resource(doc, source)
        except CommandError as exc:
            failures.append(f"error: {exc}")
            continue
        meta = doc.setdefault("metadata", {})
        if res.namespaced:
            meta.setdefault("namespace", getattr(args, "namespace", None) or "default")
        yield res, doc, meta.get("name", ""), source


def cmd_create_files(args: argparse.Namespace) -> int:
    """``create -f FILE``: like apply, but an object that exists is an AlreadyExists error."""
    if not args.filename:
        raise CommandError("must specify one of -f and -k, or a subcommand (servicecidr, service)")
    work = _load_files(args.filename, "create")
    failures: List[str] = []
    with open_cluster(args) as cluster:
        for res, doc, name, source in _each_manifest(work, args, failures):
            try:
                cluster.create(doc)
            except FastCIDRError as exc:
                failures.append(server_error_text(exc, kind=res.kind, name=name, source=source))
                continue
            _out(f"{res.qualified_singular}/{name} created\n")
    return _exit_status(failures)


def cmd_version(args: argparse.Namespace) -> int:
    _out(_version() + "\n")
    return 0


def cmd_create_servicecidr(args: argparse.Namespace) -> int:
    cidrs = [c for c in args.cidrs.split(",") if c != ""]
    if args.dry_run == "client":  # what kubectl builds before sending it
        obj: Dict[str, Any] = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                               "metadata": {"creationTimestamp": None, "name": args.name},
                               "spec": {"cidrs": cidrs}, "status": {}}
    else:
        with open_cluster(args) as cluster:
            try:
                obj = cluster.create_service_cidr(args.name, cidrs,
                                                  dry_run=args.dry_run == "server").to_dict()
            except FastCIDRError as exc:
                _err(server_error_text(exc, kind="ServiceCIDR", name=args.name))
                return 1
    _print_written(SERVICECIDRS, obj, args.output, _DRY_RUN_VERB[args.dry_run])
    return 0


def _print_written(res: Resource, obj: Dict[str, Any], output: Optional[str], verb: str) -> None:
    name = obj["metadata"]["name"]
    if output == "json":
        _out(to_json(obj))
    elif output == "yaml":
        _out(to_yaml(obj))
    elif output == "name":
        _out(f"{res.qualified_singular}/{name}\n")
    elif output and output.startswith("jsonpath="):
        try:
            _out(jsonpath(output.split("=", 1)[1], obj))
        except JSONPathError as exc:
            raise CommandError(f"error executing jsonpath {output.split('=', 1)[1]!r}: {exc}") from None
    else:
        _out(f"{res.qualified_singular}/{name} {verb}\n")


def _dry_run(value: str) -> str:
    if value not in ("none", "client", "server"):
        raise argparse.ArgumentTypeError(
            f'Invalid dry-run value ({value}). Must be "none", "server", or "client".')
    return value


_DRY_RUN_VERB = {"none": "created", "client": "created (dry run)", "server": "created (server dry run)"}


def _parse_tcp(specs: Sequence[str]) -> List[Dict[str, Any]]:
    """kubectl's ``--tcp``: ``PORT`` or ``PORT:TARGET``; the port is named after the spec."""
    ports = []
    for spec in (s for item in specs for s in item.split(",") if s):
        port_text_, _, target_text = spec.partition(":")
        try:
            port = int(port_text_)
        except ValueError:
            raise CommandError(f'strconv.Atoi: parsing "{port_text_}": invalid syntax') from None
        target: Any = port
        if target_text:
            target = int(target_text) if target_text.isdigit() else target_text
        ports.append({"name": spec.replace(":", "-"), "port": port, "protocol": "TCP",
                      "targetPort": target})
    return ports


def service_manifest(name: str, namespace: str, ports: List[Dict[str, Any]],
                     cluster_ip: Optional[str]) -> Dict[str, Any]:
    """The Service ``kubectl create service clusterip`` sends."""
    spec: Dict[str, Any] = {"ports": ports, "selector": {"app": name}, "type": "ClusterIP"}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"labels": {"app": name}, "name": name, "namespace": namespace},
            "spec": spec}


def cmd_create_service(args: argparse.Namespace) -> int:
    ports = _parse_tcp(args.tcp)
    if not ports and args.clusterip != "None":
        raise CommandError("at least one tcp port specifier must be provided")
    namespace = _namespace(args)
    manifest = service_manifest(args.name, namespace, ports, args.clusterip)
    if args.dry_run == "client":  # what kubectl builds before sending it
        obj = json.loads(json.dumps(manifest))
        obj["metadata"]["creationTimestamp"] = None
        if not args.namespace:
            del obj["metadata"]["namespace"]
        obj["status"] = {"loadBalancer": {}}
    else:
        with open_cluster(args) as cluster:
            try:
                obj = _create_service(cluster, manifest, dry_run=args.dry_run == "server")
            except FastCIDRError as exc:
                _err(f"error: failed to create ClusterIP service: "
                     f"{status_message(exc, kind='Service', name=args.name)}")
                return 1
    _print_written(SERVICES, obj, args.output, _DRY_RUN_VERB[args.dry_run])
    return 0


def _create_service(cluster: Any, manifest: Dict[str, Any], dry_run: bool = False) -> Dict[str, Any]:
    meta, spec = manifest["metadata"], manifest["spec"]
    cluster_ip = spec.get("clusterIP")
    return cluster.create_service(
        meta["name"], meta.get("namespace", "default"), cluster_ip=cluster_ip, dry_run=dry_run,
        ports=spec.get("ports"), service_type=spec.get("type", "ClusterIP"),
        selector=spec.get("selector"), labels=meta.get("labels")).to_dict()


# ---- apply


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


def _manifest_resource(doc: Dict[str, Any], source: str) -> Resource:
    kind = doc.get("kind")
    version = doc.get("apiVersion")
    if not kind:
        raise CommandError(f'error validating "{source}": error validating data: kind not set')
    if not version:
        raise CommandError(f'error validating "{source}": error validating data: apiVersion not set')
    res = _resource_of_kind(str(kind))
    group, _, _ = str(version).rpartition("/")
    if res is None or group != res.group:
        raise CommandError(f'resource mapping not found for name: "{(doc.get("metadata") or {}).get("name", "")}" '
                           f'namespace: "" from "{source}": no matches for kind "{kind}" in version "{version}"\n'
                           f"ensure CRDs are installed first")
    return res


def _subset(wanted: Any, live: Any) -> bool:
    """Whether applying ``wanted`` over ``live`` would change nothing (an empty patch)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(_subset(v, live.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(wanted) == len(live) and all(
            _subset(w, l) for w, l in zip(wanted, live))
    return wanted == live or (wanted in ("", None, {}, []) and live in ("", None, {}, []))


def cmd_apply(args: argparse.Namespace) -> int:
    work = _load_files(args.filename, "apply")
    failures: List[str] = []
    with open_cluster(args) as cluster:
        for res, doc, name, source in _each_manifest(work, args, failures):
            meta = doc["metadata"]
            try:
                live = _object(cluster, res, name, meta.get("namespace") or "default")
            except FastCIDRError:
                live = None
            wanted = {k: v for k, v in doc.items() if k not in ("status",)}
            if live is not None and _subset(
                    {"spec": wanted.get("spec", {}),
                     "metadata": {k: v for k, v in meta.items() if k in ("labels", "annotations")}},
                    live):
                _out(f"{res.qualified_singular}/{name} unchanged\n")
                continue
            try:
                cluster.apply(doc)
            except FastCIDRError as exc:
                failures.append(server_error_text(exc, kind=res.kind, name=name, source=source,
                                                  verb="creating" if live is None else "patching"))
                continue
            _out(f"{res.qualified_singular}/{name} {'created' if live is None else 'configured'}\n")
    return _exit_status(failures)


# ---- delete


def cmd_delete(args: argparse.Namespace) -> int:
    namespace = _namespace(args)
    work: List[Tuple[Resource, str, str]] = []  # (resource, name, namespace)
    if args.filename:
        if args.args:
            raise CommandError("there is no need to specify a resource type as a separate argument "
                               "when passing -f")
        for doc, source in _load_files(args.filename, "delete"):
            res = _manifest_resource(doc, source)
            meta = doc.get("metadata") or {}
            work.append((res, str(meta.get("name", "")), str(meta.get("namespace") or namespace)))
        targets: List[Tuple[Resource, Optional[str]]] = []
    elif not args.args:
        raise CommandError("You must provide one or more resources by argument or filename.")
    else:
        targets = _parse_targets(args.args)
    status = 0
    with open_cluster(args) as cluster:
        if args.all:
            for res, name in targets:
                if name is not None:
                    raise CommandError("name cannot be provided when a selector or --all is specified")
                ns = namespace if res.namespaced else None
                work.extend((res, obj["metadata"]["name"], namespace) for obj in _objects_of(cluster, res, ns))
            if not work:
                _err(f"No resources found in {namespace} namespace." if any(
                    r.namespaced for r, _ in targets) else "No resources found")
        elif any(name is None for _, name in targets):
            raise CommandError("resource(s) were provided, but no name was specified")
        else:
            work.extend((res, name, namespace) for res, name in targets if name is not None)
        for res, name, ns in work:
            try:
                if res is SERVICECIDRS:
                    cluster.delete_service_cidr(name)
                elif res is IPADDRESSES:
                    cluster.delete_ip_address(name)
                else:
                    cluster.delete_service(name, ns)
            except FastCIDRError as exc:
                if getattr(exc, "reason", "") == "Invalid":
                    exc = _not_found(res, name)
                if args.ignore_not_found and getattr(exc, "reason", "") == "NotFound":
                    continue
                _err(server_error_text(exc))
                status = 1
                continue
            _out(f'{res.qualified_singular} "{name}" deleted\n')
    return status


# ---- describe

#: More blocking addresses than this are summarised, so a big range stays readable.
DESCRIBE_ADDRESS_LIMIT = 50


def describe_service_cidr(obj: Dict[str, Any], blocking: Sequence[Dict[str, Any]],
                          events: Sequence[Dict[str, Any]], now: Optional[datetime] = None) -> str:
    """kubectl's ServiceCIDR describer, plus the finalizers, the deletion time and the IPAddresses
    (with their Services) that keep the ServiceCIDR from going away."""
    now = now or datetime.now(timezone.utc)
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    lines.append(f"CIDRs:\t{', '.join((obj.get('spec') or {}).get('cidrs') or [])}")
    finalizers = meta.get("finalizers") or []
    lines.append(f"Finalizers:\t[{' '.join(finalizers)}]" if finalizers else "Finalizers:\t<none>")
    if meta.get("deletionTimestamp"):
        lines.append(f"Deletion Timestamp:\t{rfc1123z(meta['deletionTimestamp'])}")
    conditions = (obj.get("status") or {}).get("conditions") or []
    if conditions:
        lines.append("Status:")
        lines.append("Conditions:")
        lines.append("  Type\tStatus\tLastTransitionTime\tReason\tMessage")
        lines.append("  ----\t------\t------------------\t------\t-------")
        for cond in conditions:
            lines.append(
                f"  {cond.get('type', '')}\t{cond.get('status', '')}\t"
                f"{rfc1123z(cond.get('lastTransitionTime'))}\t{cond.get('reason', '')}\t"
                f"{cond.get('message', '')}")
    text = tabwrite("\n".join(lines) + "\n", minwidth=0, padding=2)
    # New sections flush the writer, as DescribeEvents does, so their columns stand alone.
    if blocking:
        rows = ["Blocking IPAddresses:", "  IP\tService"  , "  --\t-------"]
        for ip in blocking[:DESCRIBE_ADDRESS_LIMIT]:
            ref = (ip.get("spec") or {}).get("parentRef") or {}
            owner = "/".join(x for x in (ref.get("namespace"), ref.get("name")) if x) or "<none>"
            rows.append(f"  {ip['metadata']['name']}\t{owner}")
        if len(blocking) > DESCRIBE_ADDRESS_LIMIT:
            rows.append(f"  ... and {len(blocking) - DESCRIBE_ADDRESS_LIMIT} more")
        text += tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)
    else:
        text += tabwrite("Blocking IPAddresses:\t<none>\n", minwidth=0, padding=2)
    if not events:
        text += tabwrite("Events:\t<none>\n", minwidth=0, padding=2)
    else:
        rows = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
        for event in events:
            rows.append(f"  {event.get('type', '')}\t{event.get('reason', '')}\t"
                        f"{age(event.get('timestamp'), now)}\t{event.get('from', 'fastcidr')}\t"
                        f"{str(event.get('message', '')).strip()}")
        text += tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)
    return text


def _multiline(title: str, values: Dict[str, str], separator: str) -> List[str]:
    if not values:
        return [f"{title}:\t<none>"]
    keys = sorted(values)
    lines = [f"{title}:\t{keys[0]}{separator}{values[keys[0]]}"]
    lines += [f"\t{key}{separator}{values[key]}" for key in keys[1:]]
    return lines


def _event_dict(event: Any) -> Dict[str, Any]:
    if isinstance(event, dict):
        return event
    timestamp = getattr(event, "timestamp", None)
    if isinstance(timestamp, datetime):
        timestamp = timestamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": getattr(event, "type", ""), "reason": getattr(event, "reason", ""),
            "message": getattr(event, "message", ""), "timestamp": timestamp,
            "regarding": getattr(event, "regarding", None)}


def _regards(event: Dict[str, Any], reference: str) -> bool:
    """Whether an event is about the object ``servicecidrs/x``, ``services/ns/name`` or
    ``ipaddresses/ip`` (the ``regarding`` text of fastcidr's events)."""
    ref = event.get("regarding")
    if isinstance(ref, dict):
        parts = [ref.get("resource") or ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", "")]
        ref = "/".join(p for p in parts if p)
    return str(ref or "") == reference


def describe_ip_address(obj: Dict[str, Any], events: Sequence[Dict[str, Any]],
                        now: Optional[datetime] = None) -> str:
    """kubectl's IPAddress describer."""
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    ref = (obj.get("spec") or {}).get("parentRef")
    if ref:
        lines.append("Parent Reference:")
        for title, key in (("Group", "group"), ("Resource", "resource"), ("Namespace", "namespace"),
                           ("Name", "name")):
            lines.append(f"  {title}:\t{ref.get(key, '')}")
    return _with_events("\n".join(lines) + "\n", events, now)


def describe_service(obj: Dict[str, Any], events: Sequence[Dict[str, Any]],
                     now: Optional[datetime] = None) -> str:
    """kubectl's Service describer (no endpoints: fastcidr has no Pods)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    lines.append(f"Selector:\t{format_labels(spec.get('selector'))}")
    lines.append(f"Type:\t{spec.get('type', '')}")
    if spec.get("ipFamilyPolicy"):
        lines.append(f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    lines.append(f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}")
    lines.append(f"IP:\t{spec.get('clusterIP', '')}")
    lines.append(f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}")
    if spec.get("externalIPs"):
        lines.append(f"External IPs:\t{','.join(spec['externalIPs'])}")
    if spec.get("externalName"):
        lines.append(f"External Name:\t{spec['externalName']}")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        protocol = port.get("protocol") or "TCP"
        lines.append(f"Port:\t{name}\t{port.get('port')}/{protocol}")
        lines.append(f"TargetPort:\t{port.get('targetPort', port.get('port'))}/{protocol}")
        if port.get("nodePort"):
            lines.append(f"NodePort:\t{name}\t{port['nodePort']}/{protocol}")
        lines.append("Endpoints:\t<none>")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("internalTrafficPolicy"):
        lines.append(f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}")
    return _with_events("\n".join(lines) + "\n", events, now)


def _with_events(body: str, events: Sequence[Dict[str, Any]], now: Optional[datetime]) -> str:
    """The describer's body and kubectl's Events section, in one tabwriter (kubectl flushes only
    before a non-empty event table)."""
    now = now or datetime.now(timezone.utc)
    if not events:
        return tabwrite(body + "Events:\t<none>\n", minwidth=0, padding=2)
    rows = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    for event in events:
        rows.append(f"  {event.get('type', '')}\t{event.get('reason', '')}\t"
                    f"{age(event.get('timestamp'), now)}\t{event.get('from', 'fastcidr')}\t"
                    f"{str(event.get('message', '')).strip()}")
    return tabwrite(body, minwidth=0, padding=2) + tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)


def _address_order(obj: Dict[str, Any]) -> Tuple[int, int, str]:
    """IPv4 before IPv6, then numerically (10.96.0.9 before 10.96.0.10)."""
    import ipaddress

    name = obj["metadata"]["name"]
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return (9, 0, name)
    return (ip.version, int(ip), name)


def cmd_describe(args: argparse.Namespace) -> int:
    targets = _parse_targets(args.args)
    namespace = _namespace(args)
    status = 0
    chunks: List[str] = []
    with open_cluster(args, read_only=True) as cluster:
        events = [_event_dict(e) for e in cluster.events()]
        for res, name in targets:
            names = [name] if name is not None else [
                o["metadata"]["name"] for o in _objects_of(cluster, res, namespace if res.namespaced else None)]
            for one in names:
                try:
                    obj = _object(cluster, res, one, namespace)
                    if res is SERVICECIDRS:
                        blocking = [ip.to_dict() for ip in cluster.blocking_ip_addresses(one)]
                except FastCIDRError as exc:
                    if getattr(exc, "reason", "") == "Invalid":
                        exc = _not_found(res, one)
                    _err(server_error_text(exc))
                    status = 1
                    continue
                if res is SERVICECIDRS:
                    blocking.sort(key=_address_order)
                    mine = [e for e in events if _regards(e, f"servicecidrs/{one}")]
                    chunks.append(describe_service_cidr(obj, blocking, mine))
                elif res is IPADDRESSES:
                    mine = [e for e in events if _regards(e, f"ipaddresses/{one}")]
                    chunks.append(describe_ip_address(obj, mine))
                else:
                    mine = [e for e in events if _regards(e, f"services/{namespace}/{one}")]
                    chunks.append(describe_service(obj, mine))
    _out("\n\n".join(chunks))
    return status


# ---- import


def cmd_import(args: argparse.Namespace) -> int:
    """Load a ``kubectl get servicecidr,ipaddress,services -A -o json`` dump as it is
    (``Cluster.import_objects``); objects of other kinds are skipped and counted."""
    text, source = _read_source(args.filename)
    items = parse_manifests(text, source)
    counts: Dict[str, int] = {}
    skipped: Dict[str, int] = {}
    for doc in items:
        res = _resource_of_kind(str(doc.get("kind")))
        if res is None:
            skipped[str(doc.get("kind"))] = skipped.get(str(doc.get("kind")), 0) + 1
        else:
            counts[res.plural] = counts.get(res.plural, 0) + 1
    known = [doc for doc in items if _resource_of_kind(str(doc.get("kind"))) is not None]
    with open_cluster(args) as cluster:
        try:
            imported = cluster.import_objects(known)
        except FastCIDRError as exc:
            _err(server_error_text(exc, source=source, verb="importing"))
            return 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    line = f"imported {imported} object{'' if imported == 1 else 's'} from {source}"
    line += f" ({detail})" if detail else ""
    if skipped:
        line += "; skipped " + ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
    _out(line + "\n")
    return 0


# ---- bench


def _calls_for(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds`` (doubling until they do)."""
    import time

    calls = 1
    while calls < 1 << 22:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > seconds:
            break
        calls *= 2
    return calls


def _interleaved_medians(fns: Sequence[Callable[[], Any]], budget: float, rounds: int = 7) -> List[float]:
    """Median ns per call of each function, measured in alternating rounds so that every one sees
    the same moments of a busy machine (their ratios are what the table is about)."""
    import time

    batch = [_calls_for(fn, budget / (rounds * 2)) for fn in fns]
    samples: List[List[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(batch[i]):
                fn()
            samples[i].append((time.perf_counter() - start) / batch[i])
    return [sorted(s)[len(s) // 2] * 1e9 for s in samples]


def bench_rows(budget: float = 0.25) -> List[List[str]]:
    """A short comparison on this machine: fastcidr (compiled and pure) against what a Python
    user would build with the peers installed here (pyroaring, bitarray, netaddr, pytricia).
    Peers that are not installed are left out. Ratios are against the first fastcidr row of each
    operation; ``make bench`` is the real measurement."""
    import random

    from . import _backend

    modules = [("fastcidr", _backend.compiled)] if _backend.compiled is not None else []
    modules.append(("fastcidr, pure Python", _backend.pure))
    size = 1 << 16
    rng = random.Random(1)
    half = rng.sample(range(1, size - 1), size // 2)
    results: List[Tuple[str, str, float]] = []

    candidates: List[Tuple[str, str, Callable[[], Any]]] = []

    def measure(operation: str, label: str, fn: Callable[[], Any]) -> None:
        candidates.append((operation, label, fn))

    def optional(name: str) -> Any:
        import importlib

        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    # 1. churn at half full: release an address and take the next free one
    churn = "release + next address, IPv4 /16 half full"
    for label, module in modules:
        alloc = module.CIDRAllocator("10.0.0.0/16", seed=1)
        for offset in half:
            alloc.allocate(f"10.0.{offset >> 8}.{offset & 255}")

        def step(alloc: Any = alloc) -> None:
            alloc.release(alloc.allocate_next())

        measure(churn, label + " (str)", step)
    pyroaring = optional("pyroaring")
    if pyroaring is not None:
        free = pyroaring.BitMap(range(1, size - 1))
        free.difference_update(pyroaring.BitMap(half))

        def roaring_step() -> None:
            offset = free.min()
            free.remove(offset)
            free.add(offset)

        measure(churn, "pyroaring BitMap min/remove (int)", roaring_step)
    bitarray_mod = optional("bitarray")
    if bitarray_mod is not None:
        used = bitarray_mod.bitarray(size)
        used.setall(0)
        used[0] = used[size - 1] = 1
        for offset in half:
            used[offset] = 1
        start = size // 2

        def bitarray_step() -> None:
            offset = used.find(0, start)
            if offset < 0:
                offset = used.find(0)
            used[offset] = 1
            used[offset] = 0

        measure(churn, "bitarray find (int)", bitarray_step)

    # 2. membership of a given address at half full
    member = "is this address allocated?, IPv4 /16 half full"
    probe = f"10.0.{half[7] >> 8}.{half[7] & 255}"
    for label, module in modules:
        alloc = module.CIDRAllocator("10.0.0.0/16", seed=1)
        for offset in half:
            alloc.allocate(f"10.0.{offset >> 8}.{offset & 255}")
        measure(member, label + " (str)", functools.partial(alloc.has, probe))
    netaddr = optional("netaddr")
    if netaddr is not None:
        pool = netaddr.IPSet(f"10.0.{o >> 8}.{o & 255}" for o in half[:4096])
        measure(member, "netaddr IPSet (str, 4k members)", lambda: probe in pool)

    # 3. which of 1,000 CIDRs holds an address
    match = "longest prefix match, 1,000 CIDRs"
    prefixes = sorted({f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
                       for _ in range(1000)})
    target = prefixes[500].replace(".0/24", ".77")
    for label, module in modules:
        tree = module.PrefixTree()
        for cidr in prefixes:
            tree[cidr] = cidr
        measure(match, label + (" (str)" if "pure" in label else " PrefixTree (str)"),
                functools.partial(tree.longest_match, target))
    pytricia = optional("pytricia")
    if pytricia is not None:
        trie = pytricia.PyTricia()
        for cidr in prefixes:
            trie[cidr] = cidr
        measure(match, "pytricia (str)", lambda: trie.get_key(target))

    operations = list(dict.fromkeys(operation for operation, _, _ in candidates))
    for operation in operations:
        group = [(label, fn) for op, label, fn in candidates if op == operation]
        medians = _interleaved_medians([fn for _, fn in group], budget * len(group))
        results.extend((operation, label, ns) for (label, _), ns in zip(group, medians))
    rows = [["OPERATION", "IMPLEMENTATION", "NS/OP", "VS FASTCIDR"]]
    baseline: Dict[str, float] = {}
    for operation, label, ns in results:
        reference = baseline.setdefault(operation, ns)
        rows.append([operation, label, f"{ns:,.0f}", f"{ns / reference:.2f}x"])
    return rows


def cmd_bench(args: argparse.Namespace) -> int:
    rows = bench_rows(max(0.01, args.seconds))
    _out(table(rows))
    _out("(median of 7 interleaved batches on this machine, call overhead included for everyone; VS FASTCIDR is the\n"
         " time relative to the operation's first fastcidr row, above 1.00x = slower; peers that are not\n"
         " installed are left out; `make bench` is the full benchmark)\n")
    return 0


# ---- serve


def cmd_serve(args: argparse.Namespace) -> int:
    rest = list(args.serve_args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    # `fastcidr --store URL serve` passes the global flag on. Without --store the server uses
    # FASTCIDR_STORE, else a fresh in-memory store: a throw-away API server must not inherit (or
    # fill) the CLI's default database behind the user's back.
    global_store = getattr(args, "store", None)
    if global_store and not any(a == "--store" or a.startswith("--store=") for a in rest):
        rest = ["--store", global_store] + rest
    try:
        from . import server
    except ImportError as exc:
        raise CommandError(f"the API server is not available: {exc}") from None
    result = server.main(rest)
    return int(result or 0)


_COMMANDS = ("init", "get", "create", "apply", "delete", "describe", "import", "version", "bench", "serve")


def _command_word(argv: Sequence[str]) -> Optional[str]:
    """The command named in ``argv`` (after the global options), or None when help or an
    unknown command needs the whole tree."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--store":
            i += 2
        elif word.startswith("--store="):
            i += 1
        elif word in _COMMANDS:
            return word
        else:
            return None
    return None


def _serve_argv(argv: Sequence[str]) -> Optional[argparse.Namespace]:
    """``[--store URL] serve ARGS...``: everything after ``serve`` belongs to the server's own
    parser (argparse would otherwise claim ``--help`` and other options for itself)."""
    store = None
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--store" and i + 1 < len(argv):
            store, i = argv[i + 1], i + 2
        elif word.startswith("--store="):
            store, i = word.split("=", 1)[1], i + 1
        elif word == "serve":
            return argparse.Namespace(func=cmd_serve, store=store, serve_args=list(argv[i + 1:]))
        else:
            return None
    return None


# --------------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; return its exit status (0, or 1 after printing an error to stderr)."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = _serve_argv(words)
    if args is None:
        # kubectl takes names after flags too (`get svc -n prod web`): argparse stops a
        # positional list at the first flag, so the names it left over are put back here.
        parser = build_parser(_command_word(words))
        args, extras = parser.parse_known_args(words)
        if extras:
            if isinstance(getattr(args, "args", None), list) and not any(
                    e.startswith("-") and e != "-" for e in extras):
                args.args.extend(extras)
            else:
                parser.error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        return int(args.func(args))
    except CommandError as exc:
        _err(f"error: {exc}")
        return 1
    except FastCIDRError as exc:
        _err(server_error_text(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`fastcidr get ip | head`): stop quietly, like kubectl.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
