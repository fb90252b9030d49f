"""Service IP family policy (Kubernetes' ``initIPFamilyFields``), as a pure function.

Given what a Service asks for (requested cluster IPs, ``ipFamilies``, ``ipFamilyPolicy``, whether
it has a selector) and the families the cluster is configured for, :func:`resolve_families` says
which policy and families the Service gets and its requested addresses in canonical form, or
raises ``ValidationError`` with Kubernetes' field errors. It reads and changes nothing else.

>>> resolve_families("web", [], [], None, has_selector=True, configured=["IPv4", "IPv6"])
Families(policy='SingleStack', families=['IPv4'], cluster_ips=[])
>>> resolve_families("web", ["fd00::10"], [], "PreferDualStack", has_selector=True, configured=["IPv4", "IPv6"])
Families(policy='PreferDualStack', families=['IPv6', 'IPv4'], cluster_ips=['fd00::10'])
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

from . import validation as V

__all__ = ["Families", "resolve_families"]


class Families(NamedTuple):
    policy: str
    families: List[str]
    #: the requested cluster IPs in canonical form, or ``["None"]`` for a headless Service
    cluster_ips: List[str]


def _other(family: str) -> str:
    return "IPv6" if family == "IPv4" else "IPv4"


def resolve_families(name: str, requested: Sequence[str], ip_families: Sequence[str], policy: Optional[str], *,
                     has_selector: bool, configured: Sequence[str]) -> Families:
    """The policy, families and canonical requested addresses of a (validated) non-ExternalName
    Service named ``name`` on a cluster configured for ``configured`` (range order)."""
    if not requested and not ip_families and policy is None and configured:
        # the usual Service asks for nothing: single stack on the first configured family
        return Families("SingleStack", [configured[0]], [])
    headless = bool(requested) and requested[0] == "None"
    selectorless = not has_selector
    if policy is None:
        policy = "RequireDualStack" if headless and selectorless else "SingleStack"
    families = list(ip_families)
    errors: V.FieldErrors = []
    if policy == "SingleStack":
        if len(requested) == 2:
            errors.append(V.invalid("spec.ipFamilyPolicy", policy,
                                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
        if len(families) == 2:
            errors.append(V.invalid("spec.ipFamilyPolicy", policy,
                                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
    cluster_ips: List[str] = ["None"] if headless else []
    if not headless:
        for i, ip in enumerate(requested):
            parsed = V.parse_ip_sloppy(ip)
            assert parsed is not None  # validated before
            family, value = parsed[0], parsed[1]
            cluster_ips.append(V.format_ipv4(value) if family == 4 else V.format_ipv6(value))
            if i >= len(families):
                fam = "IPv4" if family == 4 else "IPv6"
                if fam not in configured:
                    errors.append(V.invalid(f"spec.clusterIPs[{i}]", list(requested),
                                            f"{fam} is not configured on this cluster"))
                else:
                    families.append(fam)
    V.check(errors, "Service", name)
    if headless and selectorless:
        if not families:
            families.append(configured[0] if configured else "IPv4")
        if len(families) < 2 and policy != "SingleStack":
            families.append(_other(families[0]))
        return Families(policy, families, cluster_ips)
    if policy == "RequireDualStack" and len(configured) < 2:
        errors.append(V.invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"))
    for i, fam in enumerate(families):
        if fam not in configured:
            errors.append(V.invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
    if not families and not configured:
        errors.append(V.invalid("spec.ipFamilies[0]", "IPv4", "not configured on this cluster"))
    V.check(errors, "Service", name)
    if not families:
        families.append(configured[0])
    if policy != "SingleStack" and len(families) == 1 and len(configured) == 2:
        families.append(_other(families[0]))
    return Families(policy, families, cluster_ips)
