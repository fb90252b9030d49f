"""The self reviews kubectl asks for: ``SelfSubjectAccessReview`` (``kubectl auth can-i``:
everything is allowed, as for a member of ``system:masters``) and ``SelfSubjectReview``
(``kubectl auth whoami``: one fixed user). Nothing is stored; a create answers at once
(docs/serve.md "Authentication and authorization reviews").
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from . import status
from .resources import SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS, ResourceType

__all__ = ["ReviewsApi", "USER", "GROUPS"]

#: who every client is to this server (it has one administrator)
USER = "fastcidr-admin"
GROUPS = ("system:masters", "system:authenticated")


class ReviewsApi:
    """``create`` of the two review kinds (the only verb they have)."""

    def create(self, resource: ResourceType, namespace: Optional[str], body: Any, *,
               dry_run: bool = False, field_validation: str = "Warn") -> Tuple[Dict[str, Any], List[str]]:
        if not isinstance(body, dict):
            raise status.bad_request(f"the body of the request was not a valid {resource.kind}")
        kind = body.get("kind") or resource.kind
        if kind != resource.kind:
            raise status.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        review: Dict[str, Any] = {"kind": resource.kind, "apiVersion": resource.api_version,
                                  "metadata": {"creationTimestamp": None}}
        if resource is SELF_SUBJECT_ACCESS_REVIEWS:
            spec = body.get("spec")
            if not isinstance(spec, dict) or not (spec.get("resourceAttributes") or
                                                  spec.get("nonResourceAttributes")):
                raise status.invalid(resource, "", [
                    ("spec.resourceAttributes",
                     "Invalid value: \"null\": exactly one of nonResourceAttributes or "
                     "resourceAttributes must be specified")])
            review["spec"] = copy.deepcopy(spec)
            review["status"] = {"allowed": True, "reason": f"{USER} is a member of system:masters"}
        elif resource is SELF_SUBJECT_REVIEWS:
            review["status"] = {"userInfo": {"username": USER, "groups": list(GROUPS)}}
        else:
            raise status.not_found_path()
        return review, []
