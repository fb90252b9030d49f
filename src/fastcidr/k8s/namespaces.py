"""Namespaces, as kube-apiserver shows them: ``default`` and ``kube-system`` always exist; others
are created through the API (kept in the store under ``meta/namespaces/<name>``, see
:mod:`fastcidr.k8s.layout`) or exist because Services live in them. Deleting one deletes its
Services first, as the namespace controller does.

Namespace objects are wire dicts (there is no Namespace class: fastcidr only lists and names them).

>>> namespace_object("web", "2026-01-01T00:00:00Z")["status"]
{'phase': 'Active'}
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Dict, List, Optional

from ..errors import AlreadyExistsError, ConflictError, ForbiddenError, ValidationError
from ..store.base import Create, Delete, Put, Store, TxnConflict
from . import layout
from .resources import NAMESPACES

__all__ = ["SYSTEM_NAMESPACES", "namespace_object", "stored_namespaces", "create_namespace", "update_namespace",
           "delete_namespace"]

#: The namespaces that always exist (kube-apiserver creates them at start).
SYSTEM_NAMESPACES = ("default", "kube-system")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def namespace_object(name: str, created: str, resource_version: str = "1") -> Dict[str, Any]:
    """The Namespace ``name`` as kube-apiserver shows it (uid derived from the name)."""
    return {
        "apiVersion": NAMESPACES.api_version, "kind": NAMESPACES.kind,
        "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"namespace/{name}")),
                     "resourceVersion": resource_version, "creationTimestamp": created,
                     "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def with_revision(value: Dict[str, Any], revision: int) -> Dict[str, Any]:
    """A stored Namespace with its ``resourceVersion`` (copying what is changed: stored values
    are shared with the store)."""
    data = dict(value)
    metadata = data["metadata"] = dict(data.get("metadata") or {})
    metadata["resourceVersion"] = str(revision)
    return data


def stored_namespaces(store: Store) -> Dict[str, Dict[str, Any]]:
    """The Namespaces created through the API, by name."""
    records, _ = store.list(layout.META)
    found = {}
    for record in records:
        if record.key.startswith(layout.NAMESPACE_PREFIX) and isinstance(record.value, dict):
            found[record.key[len(layout.NAMESPACE_PREFIX):]] = with_revision(record.value, record.revision)
    return found


def list_namespaces(store: Store, service_namespaces: Dict[str, Optional[str]], started: str,
                    default_created: Optional[str]) -> List[Dict[str, Any]]:
    """Every Namespace, by name: the system ones (created with the ``kubernetes`` ServiceCIDR, or at
    ``started``), the stored ones, and those of Services (``service_namespaces``: namespace → the
    creation time of its oldest Service)."""
    names: Dict[str, Optional[Dict[str, Any]]] = {n: None for n in SYSTEM_NAMESPACES}
    names.update(stored_namespaces(store))
    for ns in service_namespaces:
        names.setdefault(ns, None)
    items = []
    for name in sorted(names):
        stored = names[name]
        if stored is not None:
            items.append(stored)
            continue
        ts = (default_created or started) if name in SYSTEM_NAMESPACES else (service_namespaces.get(name) or started)
        items.append(namespace_object(name, ts))
    return items


def create_namespace(store: Store, existing: List[str], name: str, created: str,
                     labels: Optional[Dict[str, str]] = None, annotations: Optional[Dict[str, str]] = None,
                     dry_run: bool = False) -> Dict[str, Any]:
    """Create a Namespace (``ValidationError`` for a bad name, ``AlreadyExistsError``)."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise ValidationError([(
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
            "alphanumeric characters or '-', and must start and end with an alphanumeric "
            "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")], kind=NAMESPACES.kind, name=name)
    if name in existing:
        raise AlreadyExistsError(NAMESPACES.qualified, name)
    obj = namespace_object(name, created)
    obj["metadata"]["uid"] = str(uuid.uuid4())
    for field, value in (("labels", labels), ("annotations", annotations)):
        if value:
            obj["metadata"].setdefault(field, {}).update(value)
    del obj["metadata"]["resourceVersion"]
    if dry_run:
        return obj
    try:
        revision = store.commit([Create(layout.META, layout.namespace_key(name), obj)])
    except ConflictError:
        raise AlreadyExistsError(NAMESPACES.qualified, name) from None
    return with_revision(obj, revision)


def update_namespace(store: Store, current: Dict[str, Any], new: Dict[str, Any],
                     dry_run: bool = False) -> Dict[str, Any]:
    """Replace a Namespace's labels, annotations and finalizers (what ``kubectl label ns`` and
    ``annotate ns`` change); name, uid, creation time and status stay. A ``resourceVersion``
    that is not the current one raises ``ConflictError``. A Namespace that existed only
    implicitly (a system one, or one of Services) is stored from now on."""
    meta_now = current.get("metadata") or {}
    name = str(meta_now.get("name") or "")
    meta_new = new.get("metadata") or {}
    wanted = meta_new.get("resourceVersion")
    if wanted and str(wanted) != str(meta_now.get("resourceVersion")):
        raise ConflictError(f'Operation cannot be fulfilled on {NAMESPACES.qualified} "{name}": the object '
                            "has been modified; please apply your changes to the latest version and try again")
    metadata: Dict[str, Any] = {k: v for k, v in meta_now.items() if k != "resourceVersion"}
    spec_now: Dict[str, Any] = dict(current.get("spec") or {})
    obj: Dict[str, Any] = {
        "apiVersion": NAMESPACES.api_version, "kind": NAMESPACES.kind, "metadata": metadata,
        "spec": spec_now, "status": dict(current.get("status") or {}),
    }
    labels = dict(meta_new.get("labels") or {})
    labels["kubernetes.io/metadata.name"] = name  # the apiserver always sets it
    metadata["labels"] = labels
    if meta_new.get("annotations"):
        metadata["annotations"] = dict(meta_new["annotations"])
    else:
        metadata.pop("annotations", None)
    for field in ("finalizers", "ownerReferences"):
        if meta_new.get(field):
            metadata[field] = list(meta_new[field])
        else:
            metadata.pop(field, None)
    spec = new.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("finalizers"), list):
        spec_now["finalizers"] = list(spec["finalizers"])
    if dry_run:
        return with_revision(obj, int(meta_now.get("resourceVersion") or 0))
    key = layout.namespace_key(name)
    record = store.get(layout.META, key)
    try:
        if record is None:
            revision = store.commit([Create(layout.META, key, obj)])
        else:
            revision = store.commit([Put(layout.META, key, obj, expect=record.revision)])
    except (TxnConflict, ConflictError):
        raise ConflictError(f'Operation cannot be fulfilled on {NAMESPACES.qualified} "{name}": the object '
                            "has been modified; please apply your changes to the latest version and "
                            "try again") from None
    return with_revision(obj, revision)


def check_deletable(name: str) -> None:
    if name in SYSTEM_NAMESPACES:
        raise ForbiddenError(f'{NAMESPACES.qualified} "{name}" is forbidden: this namespace may not be deleted',
                             resource=NAMESPACES.plural, name=name)


def delete_namespace(store: Store, name: str) -> None:
    """Forget a stored Namespace (its Services are deleted by the caller first)."""
    store.commit([Delete(layout.META, layout.namespace_key(name))])
