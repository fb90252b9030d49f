"""``fastcidr top servicecidr``: how full each ServiceCIDR is (``Cluster.stats``), one row each.

>>> print(top_table({"kubernetes": {"cidrs": ["10.96.0.0/28"], "used": 1, "free": 13, "size": 14,
...                                 "utilisation": 1 / 14}}), end="")
NAME         CIDRS          USED   FREE   USED%
kubernetes   10.96.0.0/28   1      13     7%
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List

from .kubectl_errors import CommandError
from .output import table

__all__ = ["percent", "top_table", "cmd_top"]

#: ``top`` shows ServiceCIDRs, by any of their names, or ``scidr``
SHORT_NAME = "scidr"


def percent(utilisation: float) -> str:
    """USED%: whole percent, rounded down (a nearly full range never shows 100% before it is),
    but never 0% once anything is used."""
    if utilisation <= 0:
        return "0%"
    value = int(utilisation * 100)
    return f"{max(value, 1) if utilisation < 1 else 100}%"


def top_table(stats: Dict[str, Dict[str, Any]], no_headers: bool = False) -> str:
    rows: List[List[str]] = [] if no_headers else [["NAME", "CIDRS", "USED", "FREE", "USED%"]]
    for name, figures in stats.items():
        rows.append([name, ",".join(figures["cidrs"]), str(figures["used"]), str(figures["free"]),
                     percent(float(figures["utilisation"]))])
    return table(rows)


def cmd_top(args: argparse.Namespace) -> int:
    from .commands import open_cluster

    from ..k8s.resources import SERVICECIDRS, lookup

    if args.resource.lower() != SHORT_NAME and lookup(args.resource) is not SERVICECIDRS:
        raise CommandError(f'unknown command "{args.resource}" for "fastcidr top": only servicecidr '
                           f"(scidr) usage is shown")
    with open_cluster(args, read_only=True) as cluster:
        if args.name:
            stats = {name: cluster.stats(name) for name in args.name}
        else:
            stats = cluster.stats()
    if not stats:
        sys.stderr.write("No resources found\n")
        return 0
    sys.stdout.write(top_table(stats, args.no_headers))
    return 0
