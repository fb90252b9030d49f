"""Decode the Kubernetes protobuf envelope of a core/v1 Service (what `kubectl create service` POSTs).

kubectl's typed clientset sends `Content-Type: application/vnd.kubernetes.protobuf` and never retries
with JSON, so the server needs this decoder. Only the protobuf wire format is needed (no schema
compiler): the body is the magic ``k8s\\0`` then a ``runtime.Unknown`` message
``{1: TypeMeta{1 apiVersion, 2 kind}, 2: raw object bytes, 3: contentEncoding, 4: contentType}``.
The gogo-generated encoder always writes empty strings and zero integers, so empty means unset.
Unknown fields are skipped.

>>> body = MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(2, _ld(1, _ld(1, b"x")))
>>> decode_object(body)
{'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'x'}}
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

__all__ = ["MAGIC", "ProtobufError", "decode_object", "iter_fields"]

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf envelope of a supported kind."""


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def iter_fields(data: bytes) -> Iterator[Tuple[int, int, Any]]:
    """Yield ``(field_number, wire_type, value)``: an int for varints and fixed-width fields,
    ``bytes`` for length-delimited ones."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: Any
        if number == 0:
            raise ProtobufError("field number 0")
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
        elif wire_type == 1:
            if pos + 8 > end:
                raise ProtobufError("truncated fixed64")
            value = int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > end:
                raise ProtobufError("truncated length-delimited field")
            value = bytes(data[pos : pos + length])
            pos += length
        elif wire_type == 5:
            if pos + 4 > end:
                raise ProtobufError("truncated fixed32")
            value = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError("invalid UTF-8 in a string field") from exc


def _int32(value: Any) -> int:
    if not isinstance(value, int):
        raise ProtobufError("expected a varint")
    value &= 0xFFFFFFFFFFFFFFFF
    if value >= 1 << 63:  # negative int32/int64 values are sign-extended to 64 bits
        value -= 1 << 64
    return value


def _map_entry(value: Any) -> Tuple[str, str]:
    key = val = ""
    for number, _wt, v in iter_fields(_bytes(value)):
        if number == 1:
            key = _text(v)
        elif number == 2:
            val = _text(v)
    return key, val


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected an embedded message")
    return value


# A schema maps field number -> (json name, kind). Kinds: "str", "int", "bool", "map",
# "strs" (repeated string), or a (sub-schema, repeated) pair for embedded messages.
Schema = Dict[int, Tuple[str, Any]]

_INT_OR_STRING = "intorstring"

_OBJECT_META: Schema = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    5: ("uid", "str"),
    6: ("resourceVersion", "str"),
    7: ("generation", "int"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    14: ("finalizers", "strs"),
}
_SERVICE_PORT: Schema = {
    1: ("name", "str"),
    2: ("protocol", "str"),
    3: ("port", "int"),
    4: ("targetPort", _INT_OR_STRING),
    5: ("nodePort", "int"),
    6: ("appProtocol", "str"),
}
_SESSION_AFFINITY_CONFIG: Schema = {1: ("clientIP", ({1: ("timeoutSeconds", "int")}, False))}
_SERVICE_SPEC: Schema = {
    1: ("ports", (_SERVICE_PORT, True)),
    2: ("selector", "map"),
    3: ("clusterIP", "str"),
    4: ("type", "str"),
    5: ("externalIPs", "strs"),
    7: ("sessionAffinity", "str"),
    8: ("loadBalancerIP", "str"),
    9: ("loadBalancerSourceRanges", "strs"),
    10: ("externalName", "str"),
    11: ("externalTrafficPolicy", "str"),
    12: ("healthCheckNodePort", "int"),
    13: ("publishNotReadyAddresses", "bool"),
    14: ("sessionAffinityConfig", (_SESSION_AFFINITY_CONFIG, False)),
    17: ("ipFamilyPolicy", "str"),
    18: ("clusterIPs", "strs"),
    19: ("ipFamilies", "strs"),
    20: ("allocateLoadBalancerNodePorts", "bool"),
    21: ("loadBalancerClass", "str"),
    22: ("internalTrafficPolicy", "str"),
}
_SERVICE: Schema = {1: ("metadata", (_OBJECT_META, False)), 2: ("spec", (_SERVICE_SPEC, False))}
_NAMESPACE: Schema = {1: ("metadata", (_OBJECT_META, False))}

_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"), 4: ("version", "str"),
    5: ("resource", "str"), 6: ("subresource", "str"), 7: ("name", "str"),
}
_SELF_SUBJECT_ACCESS_REVIEW: Schema = {
    1: ("metadata", (_OBJECT_META, False)),
    2: ("spec", ({1: ("resourceAttributes", (_RESOURCE_ATTRIBUTES, False)),
                  2: ("nonResourceAttributes", ({1: ("path", "str"), 2: ("verb", "str")}, False))},
                 False)),
}

# Kinds this server accepts in protobuf (kubectl's typed clientset commands: create service,
# create namespace, auth can-i, auth whoami).
_SCHEMAS: Dict[Tuple[str, str], Schema] = {
    ("v1", "Service"): _SERVICE,
    ("v1", "Namespace"): _NAMESPACE,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _SELF_SUBJECT_ACCESS_REVIEW,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", (_OBJECT_META, False))},
}

def _int_or_string(value: Any) -> Any:
    kind = 0
    int_val = 0
    str_val = ""
    for number, _wt, v in iter_fields(_bytes(value)):
        if number == 1:
            kind = _int32(v)
        elif number == 2:
            int_val = _int32(v)
        elif number == 3:
            str_val = _text(v)
    return str_val if kind == 1 else int_val


def _decode_message(data: bytes, schema: Schema) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for number, wire_type, value in iter_fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind = spec
        if kind == "str":
            text = _text(value)
            if text:
                out[name] = text
        elif kind == "int":
            number_value = _int32(value)
            if number_value:
                out[name] = number_value
        elif kind == "bool":
            out[name] = bool(_int32(value))
        elif kind == "map":
            key, val = _map_entry(value)
            out.setdefault(name, {})[key] = val
        elif kind == "strs":
            out.setdefault(name, []).append(_text(value))
        elif kind == _INT_OR_STRING:
            out[name] = _int_or_string(value)
        else:
            sub_schema, repeated = kind
            decoded = _decode_message(_bytes(value), sub_schema)
            if repeated:
                out.setdefault(name, []).append(decoded)
            elif decoded:
                out[name] = decoded
    return out


def decode_object(body: bytes) -> Dict[str, Any]:
    """Decode a ``k8s\\0`` protobuf envelope into the object's JSON (wire dict) form.

    Raises :class:`ProtobufError` for a foreign or damaged body or an unsupported kind."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, _wt, value in iter_fields(body[len(MAGIC) :]):
        if number == 1:
            for sub_number, _swt, sub_value in iter_fields(_bytes(value)):
                if sub_number == 1:
                    api_version = _text(sub_value)
                elif sub_number == 2:
                    kind = _text(sub_value)
        elif number == 2:
            raw = _bytes(value)
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    schema = _SCHEMAS.get((api_version, kind))
    if schema is None:
        raise ProtobufError(f"protobuf is not supported for {api_version}/{kind}".strip("/"))
    obj: Dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_decode_message(raw, schema))
    return obj


# -- encoding helpers, used by the tests and the doctest to build bodies by hand --------------


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _vi(number: int, value: int) -> bytes:
    """A varint field."""
    return _varint(number << 3) + _varint(value)

