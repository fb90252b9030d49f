"""The REST verbs over a :class:`fastcidr.Cluster`, on wire dicts, independent of HTTP.

Everything goes through the Cluster, which serves every kind alike (``get``/``list``/``delete``
by kind, Namespaces) and hands out its store's change log for watches
(``Cluster.changes_since`` / ``wait_for_change``): a watch carries every change, including the
controllers' side effects and other servers' writes on a shared store. The global
``resourceVersion`` is the store revision.
"""
from __future__ import annotations

import base64
import bisect
import copy
import datetime as _dt
import json
import random
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
)

from .. import errors
from ..k8s import validation
from ..k8s.selectors import (
    SelectorError,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from . import patch as patches
from . import status
from .resources import (
    IPADDRESSES,
    NAMESPACES,
    SERVICECIDRS,
    SERVICES,
    ResourceType,
    unknown_fields,
)

if TYPE_CHECKING:
    from ..k8s.cluster import Cluster

__all__ = ["ResourceApi", "ListOptions", "WatchEvent"]


_FIELD_SELECTABLE = {
    SERVICECIDRS.plural: ("metadata.name",),
    IPADDRESSES.plural: ("metadata.name",),
    SERVICES.plural: ("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"),
    NAMESPACES.plural: ("metadata.name", "status.phase"),
    # core/v1 and events.k8s.io/v1 Events (one plural): the fields of both versions
    "events": ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
               "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "type",
               "reportingComponent", "source", "regarding.kind", "regarding.namespace",
               "regarding.name", "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion",
               "regarding.fieldPath", "reportingController"),
    "selfsubjectaccessreviews": (),
    "selfsubjectreviews": (),
}

_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

WatchEvent = Tuple[str, Dict[str, Any]]  # (type, object) with type ADDED/MODIFIED/DELETED/BOOKMARK/ERROR


class ListOptions:
    """The query parameters of a list or watch."""

    def __init__(self, resource: ResourceType, query: Dict[str, str]) -> None:
        self.label_text = query.get("labelSelector") or ""
        self.field_text = query.get("fieldSelector") or ""
        try:
            self.labels = parse_label_selector(query.get("labelSelector"))
            self.fields = parse_field_selector(query.get("fieldSelector"),
                                               _FIELD_SELECTABLE[resource.plural])
        except SelectorError as exc:
            raise status.bad_request(str(exc)) from None
        limit = query.get("limit") or "0"
        if not limit.isdigit():
            raise status.bad_request(f"invalid limit {limit!r}")
        self.limit = int(limit)
        self.continue_token = query.get("continue") or ""
        self.resource_version = query.get("resourceVersion", "")

    def matches(self, obj: Dict[str, Any]) -> bool:
        return matches_labels(self.labels, obj.get("metadata", {}).get("labels")) and \
            matches_fields(self.fields, obj)


def _now_rfc3339(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(resource: ResourceType, namespace: Optional[str], name: str) -> str:
    return f"{namespace}/{name}" if resource.namespaced else name


class ResourceApi:
    """The verbs of every served resource over one Cluster. Thread-safe as the Cluster is."""

    def __init__(self, cluster: "Cluster") -> None:
        self.cluster = cluster
        self._started = _dt.datetime.now(_dt.timezone.utc)
        self._lock = threading.Lock()
        # recent paginated listings: (resource, namespace, selectors) -> (revision, items, keys)
        self._snapshots: Dict[Tuple[Any, ...], Tuple[int, List[Dict[str, Any]], List[Tuple[str, str]]]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def now(self) -> _dt.datetime:
        clock = getattr(self.cluster, "clock", None)
        if callable(clock):
            try:
                value = clock()
                if isinstance(value, _dt.datetime):
                    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
            except Exception:  # a broken clock must not break reads
                pass
        return _dt.datetime.now(_dt.timezone.utc)

    def current_revision(self) -> int:
        return self.cluster.current_revision()

    def _wire(self, resource: ResourceType, obj: Any) -> Dict[str, Any]:
        """An object from the Cluster as the wire dict clients get."""
        data = obj.to_dict() if hasattr(obj, "to_dict") else copy.deepcopy(obj)
        data.setdefault("apiVersion", resource.api_version)
        data.setdefault("kind", resource.kind)
        metadata = data.setdefault("metadata", {})
        if not metadata.get("resourceVersion"):
            revision = self.cluster.revision_of(resource, metadata.get("name", ""), metadata.get("namespace"))
            metadata["resourceVersion"] = str(revision if revision is not None else self.current_revision())
        # kube-apiserver reports the grace period of a deletion in progress (0 for finalizers)
        if metadata.get("deletionTimestamp") and "deletionGracePeriodSeconds" not in metadata:
            metadata["deletionGracePeriodSeconds"] = 0
        return data

    @staticmethod
    def _store_key(resource: ResourceType, obj: Dict[str, Any]) -> str:
        meta = obj.get("metadata", {})
        return _key(resource, meta.get("namespace"), meta.get("name", ""))

    def _from_change(self, resource: ResourceType, value: Dict[str, Any], revision: int) -> Dict[str, Any]:
        # stored values are shared with the store (and other readers): copy what is changed
        # here, the top level and metadata; nothing downstream mutates the rest
        data = dict(value)
        data.setdefault("apiVersion", resource.api_version)
        data.setdefault("kind", resource.kind)
        metadata = data["metadata"] = dict(data.get("metadata") or {})
        metadata["resourceVersion"] = str(revision)
        if metadata.get("deletionTimestamp") and "deletionGracePeriodSeconds" not in metadata:
            metadata["deletionGracePeriodSeconds"] = 0
        return data

    def _call(self, resource: ResourceType, name: str, fn: Callable[[], Any], *,
              creating_service: bool = False) -> Any:
        try:
            return fn()
        except status.ApiError:
            raise
        except errors.InvalidAddressError as exc:
            if resource is IPADDRESSES and not creating_service:
                raise status.not_found(resource, name) from None
            raise status.from_exception(exc, resource, name) from None
        except errors.FastCIDRError as exc:
            raise status.from_exception(exc, resource, name,
                                        creating_service=creating_service) from None

    # -- verbs ---------------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: Optional[str], name: str) -> Dict[str, Any]:
        obj = self._call(resource, name, lambda: self.cluster.get(resource, name, namespace))
        if resource is NAMESPACES:
            return obj  # type: ignore[no-any-return]  # a wire dict of its own
        if obj is None:
            raise status.not_found(resource, name)
        return self._wire(resource, obj)

    def _list_all(self, resource: ResourceType, namespace: Optional[str]) -> List[Dict[str, Any]]:
        objs = self._call(resource, "", lambda: self.cluster.list(resource, namespace))
        if resource is NAMESPACES:
            return objs  # type: ignore[no-any-return]  # wire dicts of their own
        return [self._wire(resource, o) for o in objs]

    def list(self, resource: ResourceType, namespace: Optional[str],
             options: ListOptions) -> Tuple[List[Dict[str, Any]], str, str, Optional[int]]:
        """Items, the list's resourceVersion, the continue token ("" = last page) and the
        remaining item count."""
        def sort_key(o: Dict[str, Any]) -> Tuple[str, str]:
            meta = o.get("metadata", {})
            return (meta.get("namespace", ""), meta.get("name", ""))

        start: Optional[Tuple[str, str]] = None
        token_revision = None
        if options.continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(options.continue_token.encode()))
                start = (str(token["ns"]), str(token["name"]))
                token_revision = int(token["rv"])
            except Exception:
                raise status.bad_request("continue key is not valid: illegal base64 data") from None
        # A paginated list (kubectl asks for 500 at a time) is served from the snapshot its
        # first page was cut from, as the apiserver does: consistent pages, and O(page) each.
        snapshot_key = (resource.plural, namespace, options.label_text, options.field_text)
        with self._lock:
            cached = self._snapshots.get(snapshot_key)
        if start is not None and cached is not None and cached[0] == token_revision:
            revision, items, keys = cached
        else:
            before = self.current_revision()
            items = [o for o in self._list_all(resource, namespace) if options.matches(o)]
            revision = max([before] + [int(o["metadata"].get("resourceVersion") or 0) for o in items])
            items.sort(key=sort_key)
            keys = [sort_key(o) for o in items]
            if options.limit and len(items) > options.limit:
                with self._lock:
                    self._snapshots[snapshot_key] = (revision, items, keys)
                    while len(self._snapshots) > 8:
                        self._snapshots.pop(next(iter(self._snapshots)))
        if start is not None:
            items = items[bisect.bisect_right(keys, start):]
        continue_token = ""
        remaining: Optional[int] = None
        if options.limit and len(items) > options.limit:
            remaining = len(items) - options.limit
            items = items[: options.limit]
            last = sort_key(items[-1])
            continue_token = base64.urlsafe_b64encode(
                json.dumps({"ns": last[0], "name": last[1], "rv": revision}).encode()).decode()
        return items, str(revision), continue_token, remaining

    # -- writes --------------------------------------------------------------------------------

    def _check_body(self, resource: ResourceType, namespace: Optional[str], body: Any,
                    url_name: Optional[str], field_validation: str) -> Tuple[Dict[str, Any], List[str]]:
        """Common checks of a create/update body; returns the body and any warnings."""
        if not isinstance(body, dict):
            raise status.bad_request(f"the body of the request was not a valid {resource.kind}")
        # bodies are freshly decoded per request: only the levels changed here are copied
        body = dict(body)
        if isinstance(body.get("metadata"), dict):
            body["metadata"] = dict(body["metadata"])
        kind = body.get("kind") or resource.kind
        api_version = body.get("apiVersion") or resource.api_version
        if kind != resource.kind or api_version not in (resource.api_version,):
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({resource.api_version})"
                if kind == resource.kind else
                f"{kind} in version \"{api_version.rpartition('/')[2]}\" cannot be handled as a {resource.kind}: "
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        body["kind"], body["apiVersion"] = kind, api_version
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise status.bad_request("metadata must be an object")
        if resource.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request")
            metadata["namespace"] = namespace
        if url_name is not None and metadata.get("name") and metadata["name"] != url_name:
            raise status.bad_request(
                f"the name of the object ({metadata['name']}) does not match the name on the URL ({url_name})")
        if url_name is not None:
            metadata.setdefault("name", url_name)
        warnings: List[str] = []
        unknown = unknown_fields(body, resource.schema)
        if unknown and field_validation == "Strict":
            detail = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise status.bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                f"{resource.kind}: strict decoding error: {detail}")
        if unknown and field_validation != "Ignore":
            warnings = [f'unknown field "{u}"' for u in unknown]
        if unknown:  # Warn and Ignore drop them, as the apiserver does: never stored, warned once
            body = _pruned(body, resource.schema)
        return body, warnings

    def create(self, resource: ResourceType, namespace: Optional[str], body: Any, *,
               dry_run: bool = False, field_validation: str = "Warn") -> Tuple[Dict[str, Any], List[str]]:
        body, warnings = self._check_body(resource, namespace, body, None, field_validation)
        metadata = body["metadata"]
        if not metadata.get("name"):
            if metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + "".join(
                    random.choice(_GENERATE_ALPHABET) for _ in range(5))
            else:
                raise status.invalid(resource, "", [
                    ("metadata.name", "Required value: name or generateName is required")])
        name = metadata["name"]
        for field in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            metadata.pop(field, None)  # set by the server, as the apiserver does
        if resource is NAMESPACES:
            meta = body["metadata"]
            created = self._call(resource, name, lambda: self.cluster.create_namespace(
                name, labels=meta.get("labels"), annotations=meta.get("annotations"), dry_run=dry_run))
            return created, warnings
        if resource is SERVICECIDRS or resource is SERVICES:
            body.pop("status", None)  # status is written through the status subresource
        if resource is SERVICES:
            _require_service_ports(body, name)
        obj = self._call(resource, name, lambda: self.cluster.create(body, dry_run=dry_run),
                         creating_service=resource is SERVICES)
        return self._wire(resource, obj), warnings

    def update(self, resource: ResourceType, namespace: Optional[str], name: str, body: Any, *,
               subresource: str = "", dry_run: bool = False,
               field_validation: str = "Warn", patched: bool = False) -> Tuple[Dict[str, Any], List[str]]:
        body, warnings = self._check_body(resource, namespace, body, name, field_validation)
        if resource is NAMESPACES:
            if subresource:
                raise status.not_found_path()
            updated = self._call(resource, name,
                                 lambda: self.cluster.update_namespace(body, dry_run=dry_run))
            return updated, warnings
        current = self.get(resource, namespace, name)
        sent_uid = body["metadata"].get("uid")
        if not patched and sent_uid and sent_uid != current["metadata"].get("uid"):
            # a PUT's uid is a precondition (a patch that changes it is a field error instead)
            raise status.conflict(resource, name, f"Precondition failed: UID in precondition: {sent_uid}, "
                                                  f"UID in object meta: {current['metadata'].get('uid', '')}")
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = body.get("status", {})
            if body["metadata"].get("resourceVersion"):
                merged["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
        else:
            merged = body
            if "status" in current:
                merged["status"] = current["status"]
            else:
                merged.pop("status", None)
            # fields only the server sets survive an update that omits them (finalizers do
            # not: a PUT replaces them, as on the apiserver)
            for field in ("uid", "creationTimestamp", "deletionTimestamp"):
                if field in current["metadata"] and field not in merged["metadata"]:
                    merged["metadata"][field] = current["metadata"][field]
            # (so a Service cannot lose all its ports either, e.g. to {"spec": null})
            if resource is SERVICES:
                _require_service_ports(merged, name, current)
        if subresource == "status" and resource not in (SERVICECIDRS, SERVICES):
            return current, warnings  # no writable status for the other kinds here
        update = self.cluster.update_status if subresource == "status" else self.cluster.update
        # a dry run goes through the same validation and transitions, committing nothing
        obj = self._call(resource, name, lambda: update(merged, dry_run=True) if dry_run else update(merged))
        return self._wire(resource, obj), warnings

    def patch(self, resource: ResourceType, namespace: Optional[str], name: str,
              content_type: str, patch_body: Any, *, subresource: str = "", dry_run: bool = False,
              field_validation: str = "Warn") -> Tuple[Dict[str, Any], bool, List[str]]:
        """Returns the patched object, whether it was created (apply patch), and warnings."""
        patch_type = _PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise status.unsupported_media_type(content_type)
        try:
            current: Optional[Dict[str, Any]] = self.get(resource, namespace, name)
        except status.ApiError as exc:
            if exc.code != 404 or patch_type != "apply":
                raise
            current = None
        if current is None:  # server-side apply of a new object: create it
            obj, warnings = self.create(resource, namespace, patch_body, dry_run=dry_run,
                                        field_validation=field_validation)
            return obj, True, warnings
        try:
            if patch_type == "merge":
                patched = patches.json_merge_patch(current, patch_body)
            elif patch_type == "strategic":
                patched = patches.strategic_merge_patch(current, patch_body)
            elif patch_type == "json":
                patched = patches.json_patch(current, patch_body)
            else:  # apply: a merge of the applied configuration, without field ownership
                patched = patches.json_merge_patch(current, patch_body)
        except patches.PatchError as exc:
            raise ApiUnprocessable(resource, name, str(exc)) from None
        if not isinstance(patched, dict):
            raise status.bad_request("the patch did not produce an object")
        patched.setdefault("metadata", {})
        if "resourceVersion" not in (patch_body.get("metadata") or {} if isinstance(patch_body, dict) else {}):
            patched["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        obj, warnings = self.update(resource, namespace, name, patched, subresource=subresource,
                                    dry_run=dry_run, field_validation=field_validation, patched=True)
        return obj, False, warnings

    def delete(self, resource: ResourceType, namespace: Optional[str], name: str, *,
               dry_run: bool = False, preconditions: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        if resource is NAMESPACES:
            if preconditions:
                _check_preconditions(resource, name, self.get(resource, namespace, name), preconditions)
            return self._call(resource, name,  # type: ignore[no-any-return]
                              lambda: self.cluster.delete_namespace(name, dry_run=dry_run))
        current = self.get(resource, namespace, name)
        if preconditions:
            _check_preconditions(resource, name, current, preconditions)
        if dry_run:
            if (resource is SERVICECIDRS or current["metadata"].get("finalizers")) \
                    and not current["metadata"].get("deletionTimestamp"):
                current["metadata"]["deletionTimestamp"] = _now_rfc3339(self.now())
                current["metadata"]["deletionGracePeriodSeconds"] = 0
            return current
        if resource is SERVICECIDRS:
            result = self._call(resource, name, lambda: self.cluster.delete(resource, name))
            if result is not None:
                return self._wire(resource, result)
            # gone at once: report the object as it was when its deletion was recorded
            current["metadata"].setdefault("deletionTimestamp", _now_rfc3339(self.now()))
            current["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            return current
        kept = self._call(resource, name, lambda: self.cluster.delete(resource, name, namespace))
        if kept is not None:  # finalizers hold it: it stays, marked for deletion
            return self._wire(resource, kept)
        return current

    # -- watch ---------------------------------------------------------------------------------

    def watch(self, resource: ResourceType, namespace: Optional[str], options: ListOptions, *,
              timeout: float, bookmarks: bool, stop: threading.Event,
              clock: Callable[[], float], initial_events: bool = False) -> Iterator[WatchEvent]:
        """Events after ``options.resource_version`` (or synthetic ADDED events for the current
        state when it is empty or "0", or when ``initial_events`` asks for them: the watch-list
        protocol, which ends them with an ``initial-events-end`` BOOKMARK) until ``timeout``
        seconds pass or ``stop`` is set. Yields ("", {}) heartbeats while idle, so the caller
        can notice a closed connection."""
        deadline = clock() + timeout
        rv_text = options.resource_version
        prefix = f"{namespace}/" if resource.namespaced and namespace else ""
        kind = resource.plural  # (only the Namespaces created through the API have events)
        # With a label selector an object can enter or leave the selection: like kube-apiserver,
        # the watch then says ADDED or DELETED, which needs the set of keys selected so far.
        track = bool(options.labels)
        selected: Set[str] = set()
        if rv_text in ("", "0") or initial_events:
            items, list_rv, _, _ = self.list(resource, namespace, _unlimited(options))
            if track:
                selected = {self._store_key(resource, item) for item in items}
            if rv_text in ("", "0") or initial_events:
                for item in items:
                    yield "ADDED", item
            if initial_events:
                yield "BOOKMARK", {
                    "kind": resource.kind, "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": list_rv,
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}
            revision = int(list_rv)
        else:
            if not rv_text.isdigit():
                raise status.bad_request(f"invalid resource version {rv_text!r}")
            revision = int(rv_text)
            if track:  # objects unchanged since that revision are as they were then
                selected = {key for key, value, rev in self.cluster.stored(resource)
                            if rev <= revision and key.startswith(prefix)
                            and options.matches(self._from_change(resource, value, rev))}
        next_bookmark = clock() + 30.0
        while not stop.is_set():
            now = clock()
            if now >= deadline:
                return
            try:
                changes, current = self.cluster.changes_since(revision)
            except errors.Compacted:
                body = status.expired(
                    f"too old resource version: {revision} ({self.current_revision()})").body
                yield "ERROR", body
                return
            for change in changes:
                revision = change.revision
                if change.kind != kind or not change.key.startswith(prefix):
                    continue
                if change.value is None:
                    continue
                obj = self._from_change(resource, change.value, change.revision)
                matches = options.matches(obj)
                if track:
                    was_selected = change.key in selected
                    if change.type != "DELETE" and matches:
                        selected.add(change.key)
                        yield ("MODIFIED" if was_selected and not change.created else "ADDED"), obj
                    elif was_selected:
                        selected.discard(change.key)
                        yield "DELETED", obj
                    continue
                if not matches:
                    continue
                if change.type == "DELETE":
                    yield "DELETED", obj
                else:
                    yield ("ADDED" if change.created else "MODIFIED"), obj
            revision = max(revision, current)
            if bookmarks and now >= next_bookmark:
                next_bookmark = now + 30.0
                yield "BOOKMARK", {"kind": resource.kind, "apiVersion": resource.api_version,
                                   "metadata": {"resourceVersion": str(revision)}}
            wait = max(0.0, min(0.5, deadline - clock()))
            if not self.cluster.wait_for_change(revision, wait):
                yield "", {}


def _pruned(value: Any, schema: Any) -> Any:
    """``value`` without the fields ``schema`` does not know (copied where something goes)."""
    if schema == "any" or schema == "map" or value is None:
        return value
    if isinstance(schema, tuple) and schema[0] == "list":
        return [_pruned(item, schema[1]) for item in value] if isinstance(value, list) else value
    if isinstance(schema, dict) and isinstance(value, dict):
        return {k: _pruned(v, schema[k]) for k, v in value.items() if k in schema}
    return value


def _require_service_ports(body: Dict[str, Any], name: str, current: Optional[Dict[str, Any]] = None) -> None:
    """Upstream refuses a Service that needs a cluster IP but has no ports (the library's
    ``create_service`` allows one; a request is a manifest and is held to upstream's rule)."""
    refused = validation.service_manifest_errors(body, current)
    if refused:
        raise status.invalid(SERVICES, name, refused)


def _check_preconditions(resource: ResourceType, name: str, current: Dict[str, Any],
                         preconditions: Dict[str, Any]) -> None:
    """DeleteOptions.preconditions: a uid or resourceVersion that is not the object's is a
    409 Conflict with upstream's text."""
    meta = current.get("metadata") or {}
    uid = preconditions.get("uid")
    if uid is not None and str(uid) != str(meta.get("uid") or ""):
        raise status.conflict(resource, name, f"Precondition failed: UID in precondition: {uid}, "
                                              f"UID in object meta: {meta.get('uid') or ''}")
    rv = preconditions.get("resourceVersion")
    if rv is not None and str(rv) != str(meta.get("resourceVersion") or ""):
        raise status.conflict(resource, name, f"Precondition failed: ResourceVersion in precondition: {rv}, "
                                              f"ResourceVersion in object meta: {meta.get('resourceVersion') or ''}")


def _unlimited(options: ListOptions) -> ListOptions:
    clone = copy.copy(options)
    clone.limit = 0
    clone.continue_token = ""
    return clone


def ApiUnprocessable(resource: ResourceType, name: str, message: str) -> status.ApiError:  # noqa: N802
    """A patch that cannot be applied: 422, as kube-apiserver answers."""
    return status.ApiError(422, status.status_body(
        422, "Invalid", f'{resource.qualified_kind} "{name}" is invalid: {message}',
        {"name": name, "group": resource.group, "kind": resource.kind,
         "causes": [{"reason": "FieldValueInvalid", "message": message}]} if resource.group else
        {"name": name, "kind": resource.kind,
         "causes": [{"reason": "FieldValueInvalid", "message": message}]}))
