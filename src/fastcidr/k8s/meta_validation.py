"""apimachinery's ObjectMeta validation, for every kind: label keys and values, annotation keys
and their total size, finalizer names, ownerReferences, and the fields an update may not change
(uid, name) or may not add to (finalizers of an object being deleted). Messages are
``field.Error.ErrorBody()`` as upstream prints them.

>>> validate_labels({"app": "a b"})  # doctest: +ELLIPSIS
[('metadata.labels', 'Invalid value: "a b": a valid label must be an empty string or consist of ...')]
>>> validate_finalizers(["foo"])
[('metadata.finalizers', 'Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified')]
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence

from .validation import FieldErrors, dns1123_subdomain_errors, go_string_slice, invalid

__all__ = ["validate_labels", "validate_annotations", "validate_finalizers", "validate_owner_references",
           "validate_object_meta", "validate_object_meta_update", "qualified_name_errors",
           "TOTAL_ANNOTATION_SIZE_LIMIT"]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_QUALIFIED_SHAPE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character")
_QUALIFIED_NAME_MSG = (f"{_QUALIFIED_SHAPE} (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                       "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def qualified_name_errors(value: str) -> List[str]:
    """``validation.IsQualifiedName``: an optional DNS-subdomain prefix and ``/``, then a name
    of at most 63 characters."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        msgs: List[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        msgs = []
        if not prefix:
            msgs.append("prefix part must be non-empty")
        else:
            msgs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return ["a qualified name " + _QUALIFIED_NAME_MSG.replace(
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
            "subdomain prefix and '/' (e.g. 'example.com/MyName')")]
    if not name:
        msgs.append("name part must be non-empty")
    elif len(name) > 63:
        msgs.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME.match(name):
        msgs.append("name part " + _QUALIFIED_NAME_MSG)
    return msgs


def validate_labels(labels: Dict[str, str], path: str = "metadata.labels") -> FieldErrors:
    errors: FieldErrors = []
    for key, value in labels.items():
        errors.extend(invalid(path, key, m) for m in qualified_name_errors(str(key)))
        value = "" if value is None else str(value)
        if len(value) > 63:
            errors.append(invalid(path, value, "must be no more than 63 characters"))
        if not _LABEL_VALUE.match(value):
            errors.append(invalid(path, value, _LABEL_VALUE_MSG))
    return errors


def validate_annotations(annotations: Dict[str, str], path: str = "metadata.annotations") -> FieldErrors:
    errors: FieldErrors = []
    total = 0
    for key, value in annotations.items():
        errors.extend(invalid(path, key, m) for m in qualified_name_errors(str(key).lower()))
        total += len(str(key).encode()) + len(("" if value is None else str(value)).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append((path, f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"))
    return errors


def validate_finalizers(finalizers: Sequence[str], path: str = "metadata.finalizers") -> FieldErrors:
    errors: FieldErrors = []
    for name in finalizers:
        msgs = qualified_name_errors(str(name))
        if msgs:
            errors.extend(invalid(path, name, m) for m in msgs)
        elif "/" not in name and name not in _STANDARD_FINALIZERS:
            errors.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errors


def validate_owner_references(refs: Sequence[Dict[str, Any]], path: str = "metadata.ownerReferences") -> FieldErrors:
    errors: FieldErrors = []
    controllers = 0
    for ref in refs:
        api_version = str(ref.get("apiVersion") or "")
        if not api_version:
            errors.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            errors.append(invalid(f"{path}.kind", str(ref.get("kind") or ""), "kind must not be empty"))
        if not ref.get("name"):
            errors.append(invalid(f"{path}.name", str(ref.get("name") or ""), "name must not be empty"))
        if not ref.get("uid"):
            errors.append(invalid(f"{path}.uid", str(ref.get("uid") or ""), "uid must not be empty"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        errors.append(invalid(path, refs and "[...]", "Only one reference can have Controller set to true"))
    return errors


def validate_object_meta(obj: Any) -> FieldErrors:
    """Labels, annotations, finalizers and ownerReferences of ``obj`` (name checks stay with
    each kind's validation)."""
    errors: FieldErrors = []
    if obj.labels:
        errors.extend(validate_labels(obj.labels))
    if obj.annotations:
        errors.extend(validate_annotations(obj.annotations))
    if obj.owner_references:
        errors.extend(validate_owner_references(obj.owner_references))
    if obj.finalizers:
        errors.extend(validate_finalizers(obj.finalizers))
    return errors


def validate_object_meta_update(new: Any, old: Any) -> FieldErrors:
    """What an update may not do to ObjectMeta: change ``uid`` (an empty one means "keep"),
    add finalizers to an object being deleted; plus the create checks."""
    errors = validate_object_meta(new)
    if new.uid and old.uid and new.uid != old.uid:
        errors.append(invalid("metadata.uid", new.uid, "field is immutable"))
    if old.deletion_timestamp is not None:
        added = [f for f in new.finalizers if f not in old.finalizers]
        if added:
            errors.append(("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is "
                           f"being deleted, found new finalizers {go_string_slice(added)}"))
    return errors

