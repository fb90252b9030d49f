"""``fastcidr``: a kubectl-like command line over a fastcidr store (docs/api.md "Command line").

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
import os
import sys
from typing import Optional, Sequence

from ..errors import FastCIDRError
from ..k8s.printers import age, human_duration  # noqa: F401
from ..k8s.resources import IPADDRESSES, SERVICECIDRS, SERVICES  # noqa: F401
from .commands import (  # noqa: F401
    ENV_STORE,
    _err,
    _parse_tcp,
    build_parser,
    cmd_serve,
    default_store_path,
    lookup_resource,
    open_cluster,
    resolve_store,
    service_manifest,
)
from .describe import describe_ip_address, describe_service, describe_service_cidr  # noqa: F401
from .jsonpath import JSONPathError, jsonpath  # noqa: F401
from .kubectl_errors import (  # noqa: F401
    CommandError,
    ServerSideError,
    go_aggregate,
    server_error_text,
    status_message,
)
from .manifests import parse_manifests  # noqa: F401
from .output import rfc1123z, table, tabwrite, to_json, to_yaml  # noqa: F401

__all__ = ["main", "human_duration", "tabwrite", "table", "default_store_path", "resolve_store",
           "to_json", "to_yaml", "jsonpath"]


_COMMANDS = ("init", "get", "create", "apply", "delete", "describe", "import", "version", "bench", "serve",
             "top", "label", "annotate", "completion", "explain")


def _command_word(argv: Sequence[str]) -> Optional[str]:
    """The command named in ``argv`` (after the global options), or None when help or an
    unknown command needs the whole tree."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--store":
            i += 2
        elif word.startswith("--store=") or _is_verbose_flag(word):
            i += 1
        elif word in _COMMANDS:
            return word
        else:
            return None
    return None


def _is_verbose_flag(word: str) -> bool:
    return word == "--verbose" or (len(word) > 1 and word[0] == "-" and set(word[1:]) == {"v"})


def _serve_argv(argv: Sequence[str]) -> Optional[argparse.Namespace]:
    """``[--store URL] serve ARGS...``: everything after ``serve`` belongs to the server's own
    parser (argparse would otherwise claim ``--help`` and other options for itself)."""
    store = None
    verbose = 0
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--store" and i + 1 < len(argv):
            store, i = argv[i + 1], i + 2
        elif word.startswith("--store="):
            store, i = word.split("=", 1)[1], i + 1
        elif _is_verbose_flag(word):
            verbose, i = verbose + (word.count("v") if word.startswith("-v") else 1), i + 1
        elif word == "serve":
            return argparse.Namespace(func=cmd_serve, store=store, verbose=verbose,
                                      serve_args=list(argv[i + 1:]))
        else:
            return None
    return None


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
    verbose = getattr(args, "verbose", 0)
    if verbose:
        from .._log import configure_cli

        configure_cli(verbose)
    try:
        return int(args.func(args))
    except CommandError as exc:
        _err(str(exc) if isinstance(exc, ServerSideError) else f"error: {exc}")
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
    finally:
        if verbose:
            from .._log import unconfigure_cli

            unconfigure_cli()



if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
