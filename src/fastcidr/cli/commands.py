"""The commands: argument parsing and one function per command (each returns the exit status)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
)

from ..errors import FastCIDRError, NotFoundError, StoreError, StoreNotFoundError
from ..k8s import resources
from ..k8s import validation
from ..k8s.printers import format_labels
from ..k8s.resources import (
    IPADDRESSES,
    OBJECT_KINDS,
    SERVICECIDRS,
    SERVICES,
    ResourceType,
)
from ..k8s.selectors import (
    Requirement,
    SelectorError,
    matches_labels,
    parse_label_selector,
)
from ..k8s.view import StoreView
from .describe import (
    _address_order,
    _event_dict,
    _regards,
    describe_ip_address,
    describe_service,
    describe_service_cidr,
)
from .columns import custom_columns_table, parse_custom_columns, parse_custom_columns_file, sort_objects
from .jsonpath import is_template, render_output
from .kubectl_errors import (
    CommandError,
    ServerSideError,
    _field_errors,
    server_error_text,
    status_message,
)
from .manifests import _read_source, _subset, parse_manifests
from .output import table, to_json, to_yaml

if TYPE_CHECKING:
    from ..k8s.cluster import Cluster


ENV_STORE = "FASTCIDR_STORE"


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


_Opened = TypeVar("_Opened")

_INIT_HINT = "run 'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to create one"


_EMPTY_STORE_HINT = ("hint: this store holds no service cluster IP range yet: run "
                     "'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to set it up")


def _no_store(exc: StoreNotFoundError) -> CommandError:
    return CommandError(f"{exc}: nothing was created; {_INIT_HINT}, or check --store / ${ENV_STORE}")


def open_view(args: argparse.Namespace) -> StoreView:
    """The store of a read-only command; a store that does not exist is an error (and stays so)."""
    return open_existing(args, StoreView)


def open_existing(args: argparse.Namespace, opener: Callable[[str], _Opened]) -> _Opened:
    """``opener`` on the command's store URL, which must name a store that exists (the CLI's
    errors for one that does not, or for a URL that cannot be understood)."""
    url = resolve_store(getattr(args, "store", None), create=False)
    try:
        return opener(url)
    except StoreNotFoundError as exc:
        raise _no_store(exc) from None
    except ValueError as exc:  # a store URL that cannot be understood
        raise CommandError(str(exc)) from None


Resource = ResourceType  # (the registry's type, by the name the commands use)


def lookup_resource(name: str) -> Resource:
    res = resources.lookup(name)
    if res is None:
        raise CommandError(f'the server doesn\'t have a resource type "{name}"')
    return res


def _resource_of_kind(kind: str) -> Optional[Resource]:
    res = resources.by_kind(kind)
    return res if res in OBJECT_KINDS else None


class _Parser(argparse.ArgumentParser):
    """argparse that fails like kubectl: ``error: ...`` on stderr, exit status 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


_OUTPUTS = ("json", "yaml", "name", "wide")


def _output_format(value: str) -> str:
    value = value[1:] if value.startswith("=") else value  # `-o=json`, as kubectl's flag parser allows
    if value in _OUTPUTS or value.startswith(("jsonpath=", "jsonpath-as-json=", "jsonpath-file=",
                                              "custom-columns=", "custom-columns-file=", "go-template=")):
        return value
    if value == "jsonpath":
        raise argparse.ArgumentTypeError("template format specified but no template given")
    if value in ("custom-columns", "custom-columns-file"):
        return value + "="  # kubectl's error comes from the printer, not from the flag parser
    raise argparse.ArgumentTypeError(
        f'unable to match a printer suitable for the output format "{value}", '
        f"allowed formats are: custom-columns,custom-columns-file,go-template,json,jsonpath,"
        f"jsonpath-as-json,jsonpath-file,name,wide,yaml")


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
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log to stderr what the library does: -v for INFO, -vv for DEBUG")
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
        p.add_argument("--sort-by", default=None, metavar="JSONPATH",
                       help="sort by the value of a field, e.g. '{.metadata.name}' or .spec.clusterIP")
        p.add_argument("-w", "--watch", action="store_true",
                       help="after listing, watch for changes and print them until interrupted")
        p.add_argument("--watch-only", action="store_true",
                       help="print only the changes, not the current objects")
        p.add_argument("--output-watch-events", action="store_true",
                       help="with -o json/yaml, print each change as a watch event")
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

    if only in (None, "label", "annotate"):
        from .labels import add_parsers

        add_parsers(add, namespace_flag)

    if only in (None, "completion"):
        from .completion import cmd_completion

        p = add("completion", "Print a shell completion script: source <(fastcidr completion bash).")
        p.add_argument("shell", metavar="bash|zsh")
        p.set_defaults(func=cmd_completion)

    if only in (None, "explain"):
        from .explain import cmd_explain

        p = add("explain", "Describe the fields of a kind: explain servicecidr, explain svc.spec.ports.")
        p.add_argument("target", metavar="TYPE[.FIELD.PATH]")
        p.add_argument("--recursive", action="store_true", help="print every field below, names and types only")
        p.add_argument("--api-version", default=None, help="the group/version to explain (only v1 is served)")
        p.set_defaults(func=cmd_explain)

    if only in (None, "top"):
        from .top import cmd_top

        p = add("top", "Show how many addresses each ServiceCIDR has in use and free.")
        p.add_argument("resource", metavar="servicecidr|scidr")
        p.add_argument("name", nargs="*", help="only these ServiceCIDRs")
        p.add_argument("--no-headers", action="store_true", help="omit the table header")
        p.set_defaults(func=cmd_top)

    if only in (None, "version"):
        p = add("version", "Print the fastcidr version and which core is in use.")
        p.set_defaults(func=cmd_version)

    if only in (None, "bench"):
        p = add("bench", "A few seconds of fastcidr against the peers installed here.")
        p.add_argument("--seconds", type=float, default=0.15, help="time budget per measurement")
        p.set_defaults(func=cmd_bench)

    from .store_commands import add_store_commands, print_store_warnings

    print_store_warnings()  # a record a listing skips: one "warning: ..." line on stderr
    if only is None:  # fastcidr store inspect|remove (cli/store_commands.py)
        add_store_commands(sub, store_flag)

    if only in (None, "serve"):
        p = sub.add_parser("serve", add_help=False,  # --help belongs to the server's own parser
                           help="Serve the Kubernetes API over the store (see 'fastcidr serve --help').")
        p.add_argument("serve_args", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_serve)

    return parser


def _version() -> str:
    try:
        from .. import BACKEND, __version__

        return f"fastcidr {__version__} ({BACKEND} core)"
    except Exception:  # pragma: no cover - a broken core must not break --version
        return "fastcidr"


def open_cluster(args: argparse.Namespace, service_cluster_ip_range: Optional[str] = None, *,
                 read_only: bool = False) -> "Cluster":
    """The Cluster of a command; ``read_only``: the store must exist already (it is not created)."""
    from ..k8s.cluster import Cluster, paused_collector

    url = resolve_store(getattr(args, "store", None), create=not read_only)
    try:
        if read_only:
            StoreView(url).close()  # raises StoreNotFoundError, creating nothing
        # an application may pause the collector: a big store's start-up builds many objects
        with paused_collector():
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


def parse_selector(text: Optional[str], res: Optional[Resource] = None) -> List[Requirement]:
    """``-l``: a label selector as the apiserver parses it. kubectl leaves the parsing to the
    server and prints its 400 with the resource it listed, so a bad selector prints
    ``Error from server (BadRequest): Unable to find "/v1, Resource=services" that match label
    selector "...", field selector "": <apimachinery's message>``."""
    try:
        return parse_label_selector(text)
    except SelectorError as exc:
        gvr = f"{res.group}/{res.version}, Resource={res.plural}" if res is not None else "resources"
        raise ServerSideError(f'Error from server (BadRequest): Unable to find "{gvr}" that match label '
                              f'selector "{text}", field selector "": {exc}') from None


def cmd_get(args: argparse.Namespace) -> int:
    targets = _parse_targets(args.args)
    selector = parse_selector(args.selector, targets[0][0])
    if args.selector and any(name is not None for _, name in targets):
        raise CommandError("name cannot be provided when a selector is specified")
    output = args.output
    columns = custom_columns(output)  # a bad spec fails before anything is read, as in kubectl
    namespace = _namespace(args)
    all_namespaces = bool(args.all_namespaces)
    if args.watch or args.watch_only:
        from .watch import watch_get

        return watch_get(args, targets, selector, columns)
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

    if args.sort_by:
        found = sort_objects(found, args.sort_by, key=lambda pair: pair[1])
    if columns is not None:
        if found or not named:  # an empty list still prints the header, as kubectl does
            no_headers = args.no_headers and not output.startswith("custom-columns-file=")  # (kubectl's quirk)
            _out(custom_columns_table([obj for _, obj in found], columns, no_headers))
    elif output in ("json", "yaml") or is_template(output) or (output or "").startswith("go-template="):
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
        elif document is not None and output.startswith("go-template="):
            from .gotemplate import render_output as render_go_template

            render_go_template(output.split("=", 1)[1], document, sys.stdout)
        elif document is not None:
            _out(render_output(output, document))
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


def custom_columns(output: Optional[str]) -> Optional[List[Any]]:
    """The columns of ``-o custom-columns=SPEC`` / ``-o custom-columns-file=FILE``, else None."""
    if output and output.startswith("custom-columns="):
        return parse_custom_columns(output.split("=", 1)[1])
    if output and output.startswith("custom-columns-file="):
        return parse_custom_columns_file(output.split("=", 1)[1])
    return None


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


def _held_to_apiserver_rules(res: Resource, doc: Dict[str, Any], name: str,
                             live: Optional[Dict[str, Any]] = None) -> None:
    """A manifest kubectl would send to kube-apiserver is refused as it refuses it, also where
    the library is more lenient (a Service that needs a cluster IP must have ports)."""
    if res is SERVICES:
        validation.check(validation.service_manifest_errors(doc, live), "Service", name)


def cmd_create_files(args: argparse.Namespace) -> int:
    """``create -f FILE``: like apply, but an object that exists is an AlreadyExists error."""
    if not args.filename:
        raise CommandError("must specify one of -f and -k, or a subcommand (servicecidr, service)")
    work = _load_files(args.filename, "create")
    failures: List[str] = []
    with open_cluster(args) as cluster:
        for res, doc, name, source in _each_manifest(work, args, failures):
            try:
                _held_to_apiserver_rules(res, doc, name)
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
    elif is_template(output):
        _out(render_output(str(output), obj))
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


def _create_service(cluster: "Cluster", manifest: Dict[str, Any], dry_run: bool = False) -> Dict[str, Any]:
    """Create the Service of a manifest: read once into a Service, which is validated once and
    written once (as ``kubectl create service`` sends the manifest to the apiserver)."""
    return cluster.create(manifest, dry_run=dry_run).to_dict()  # type: ignore[no-any-return]


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
                _held_to_apiserver_rules(res, doc, name, live)
                cluster.apply(doc)
            except FastCIDRError as exc:
                failures.append(server_error_text(exc, kind=res.kind, name=name, source=source,
                                                  verb="creating" if live is None else "patching"))
                continue
            _out(f"{res.qualified_singular}/{name} {'created' if live is None else 'configured'}\n")
    return _exit_status(failures)


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
                    chunks.append(describe_service_cidr(obj, blocking, mine, stats=cluster.stats(one)))
                elif res is IPADDRESSES:
                    mine = [e for e in events if _regards(e, f"ipaddresses/{one}")]
                    chunks.append(describe_ip_address(obj, mine))
                else:
                    mine = [e for e in events if _regards(e, f"services/{namespace}/{one}")]
                    chunks.append(describe_service(obj, mine))
    _out("\n\n".join(chunks))
    return status


def cmd_import(args: argparse.Namespace) -> int:
    """Load a ``kubectl get servicecidr,ipaddress,services -A -o json`` dump as it is (see
    :mod:`fastcidr.cli.import_command`)."""
    from .import_command import cmd_import as run

    return run(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_rows  # the peers are imported only for this command

    rows = bench_rows(max(0.01, args.seconds))
    _out(table(rows))
    _out("(median of 7 interleaved batches on this machine, call overhead included for everyone; VS FASTCIDR is the\n"
         " time relative to the operation's first fastcidr row, above 1.00x = slower; peers that are not\n"
         " installed are left out; `make bench` is the full benchmark)\n")
    return 0


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
    if getattr(args, "verbose", 0):  # `fastcidr -v serve`
        rest = ["-v"] + rest
    try:
        from .. import server
    except ImportError as exc:
        raise CommandError(f"the API server is not available: {exc}") from None
    result = server.main(rest)
    return int(result or 0)

