"""Field descriptions of the kinds fastcidr serves (ServiceCIDR, IPAddress, Service): one table
for ``fastcidr explain`` (and for an OpenAPI document of the same fields, should a server want
one). Descriptions are fastcidr's own wording of what each field means (docs/behaviour.md).

A field is a :class:`Field`: its type as ``kubectl explain`` prints it (``string``, ``integer``,
``boolean``, ``Object``, ``[]string``, ``map[string]string``, ``[]ServicePort``...), a
description, whether it is required, and its sub-fields for an object (or a list of objects).

>>> field_at("Service", ["spec", "ports", "port"]).type
'integer'
>>> sorted(KINDS["ServiceCIDR"].fields)
['apiVersion', 'kind', 'metadata', 'spec', 'status']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

__all__ = ["Field", "KINDS", "field_at", "FieldNotFound"]


@dataclass(frozen=True)
class Field:
    type: str
    description: str
    fields: Dict[str, "Field"] = field(default_factory=dict)
    required: bool = False
    enum: Sequence[str] = ()


class FieldNotFound(LookupError):
    """A path that names no field (``explain`` prints kubectl's error)."""


def _s(description: str, required: bool = False, enum: Sequence[str] = ()) -> Field:
    return Field("string", description, required=required, enum=enum)


_API_VERSION = _s("The version of the schema this object is written in (group/version, or only "
                  "the version for the core group); the server converts other versions to it.")
_KIND = _s("The kind of object this is (the REST resource it belongs to, in CamelCase). The "
           "server infers it from the endpoint when a client leaves it out.")

_OWNER_REFERENCE = Field("[]OwnerReference", "Objects this one depends on: when every owner is "
                         "gone, the garbage collector deletes this object.", {
                             "apiVersion": _s("The API version of the owner.", True),
                             "kind": _s("The kind of the owner.", True),
                             "name": _s("The name of the owner.", True),
                             "uid": _s("The uid of the owner.", True),
                             "controller": Field("boolean", "Whether the owner is the managing controller."),
                             "blockOwnerDeletion": Field("boolean", "Whether the owner waits for this "
                                                         "object to go before it is deleted in the foreground."),
                         })

OBJECT_META = Field("ObjectMeta", "Standard object metadata: name, namespace, labels, annotations, "
                    "and what the server records about the object.", {
    "name": _s("The object's name, unique per kind (per namespace for namespaced kinds). Set on "
               "create; cannot be changed."),
    "generateName": _s("A prefix from which the server makes a unique name when no name is given."),
    "namespace": _s("The namespace of a namespaced object (Services); empty for cluster-scoped "
                    "kinds (ServiceCIDR, IPAddress)."),
    "uid": _s("A value the server gives the object on creation, unique in time and space; it is "
              "never reused."),
    "resourceVersion": _s("An opaque version of the object, changed on every write; sent back on "
                          "update for optimistic concurrency, and the point a watch starts from."),
    "generation": Field("integer", "A sequence number of the changes to the desired state (spec)."),
    "creationTimestamp": _s("When the server created the object (RFC 3339, UTC)."),
    "deletionTimestamp": _s("When deletion was requested: the object stays, Terminating, until its "
                            "finalizers are removed."),
    "deletionGracePeriodSeconds": Field("integer", "Seconds the object is given to terminate."),
    "labels": Field("map[string]string", "Key/value pairs for organising and selecting objects "
                    "(label selectors, -l)."),
    "annotations": Field("map[string]string", "Key/value pairs for tools and people; not used "
                         "for selection."),
    "ownerReferences": _OWNER_REFERENCE,
    "finalizers": Field("[]string", "Keys that must all be removed before the object is deleted: "
                        "ServiceCIDRs carry networking.k8s.io/service-cidr-finalizer while "
                        "IPAddresses use them."),
    "managedFields": Field("[]ManagedFieldsEntry", "Which manager set which fields (server-side "
                           "apply bookkeeping)."),
})

_CONDITION = Field("[]Condition", "The latest observations of the object's state.", {
    "type": _s("The condition's type, e.g. Ready.", True),
    "status": _s("True, False or Unknown.", True, ("False", "True", "Unknown")),
    "observedGeneration": Field("integer", "The metadata.generation the condition was computed from."),
    "lastTransitionTime": _s("When the status last changed (RFC 3339).", True),
    "reason": _s("A CamelCase reason for the last transition.", True),
    "message": _s("A human-readable explanation of the last transition.", True),
})

SERVICE_CIDR = Field("Object", "ServiceCIDR is a range of IP addresses in CIDR notation (for "
                     "example 10.96.0.0/16 or fd00::/108) from which ClusterIPs are allocated to "
                     "Service objects.", {
    "apiVersion": _API_VERSION,
    "kind": _KIND,
    "metadata": OBJECT_META,
    "spec": Field("ServiceCIDRSpec", "The ranges this ServiceCIDR offers.", {
        "cidrs": Field("[]string", "At most two CIDRs, at most one per IP family (one IPv4, one "
                       "IPv6). Cannot be changed once set, except that a single-family "
                       "ServiceCIDR may gain the other family."),
    }),
    "status": Field("ServiceCIDRStatus", "The observed state: whether the range can be allocated "
                    "from.", {
        "conditions": Field("[]Condition", "Ready is True while the range serves allocations, "
                            "False (reason Terminating) once it is being deleted while "
                            "IPAddresses still use it.", _CONDITION.fields),
    }),
})

_PARENT_REFERENCE = Field("ParentReference", "The object the address is allocated to.", {
    "group": _s("The group of the referent (empty for the core group)."),
    "resource": _s("The resource of the referent, e.g. services.", True),
    "namespace": _s("The namespace of the referent."),
    "name": _s("The name of the referent.", True),
})

IP_ADDRESS = Field("Object", "IPAddress records that one IP address is allocated. Its name is "
                   "the address in canonical form (10.96.0.10, 2001:db8::1); it refers to the "
                   "object (usually a Service) that holds it.", {
    "apiVersion": _API_VERSION,
    "kind": _KIND,
    "metadata": OBJECT_META,
    "spec": Field("IPAddressSpec", "The allocation.", {
        "parentRef": Field(_PARENT_REFERENCE.type, _PARENT_REFERENCE.description,
                           _PARENT_REFERENCE.fields, required=True),
    }),
})

_SERVICE_PORT = Field("[]ServicePort", "The ports the Service exposes.", {
    "name": _s("The port's name, unique within the Service; required when there are several ports."),
    "protocol": _s("TCP, UDP or SCTP; TCP when not given.", enum=("SCTP", "TCP", "UDP")),
    "appProtocol": _s("The application protocol of the port (a hint for implementations)."),
    "port": Field("integer", "The port the Service listens on.", required=True),
    "targetPort": Field("IntOrString", "The port number or named port on the selected Pods; the "
                        "value of port when not given."),
    "nodePort": Field("integer", "The port on each node for NodePort and LoadBalancer Services."),
})

SERVICE = Field("Object", "Service is a named abstraction of a software service: a port the "
                "proxy listens on, a selector of the Pods that serve it, and a ClusterIP "
                "allocated from a ServiceCIDR.", {
    "apiVersion": _API_VERSION,
    "kind": _KIND,
    "metadata": OBJECT_META,
    "spec": Field("ServiceSpec", "The desired behaviour of the Service.", {
        "ports": _SERVICE_PORT,
        "selector": Field("map[string]string", "Pods with these labels receive the traffic."),
        "clusterIP": _s("The Service's IP address (the primary family's): allocated from a "
                        "ServiceCIDR when empty, taken as given when set, None for a headless "
                        "Service. Cannot be changed."),
        "clusterIPs": Field("[]string", "The Service's IP addresses, at most one per family; the "
                            "first equals clusterIP."),
        "type": _s("ClusterIP (the default), NodePort, LoadBalancer or ExternalName.",
                   enum=("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")),
        "ipFamilies": Field("[]string", "The IP families (IPv4, IPv6) of the Service, in the order "
                            "of clusterIPs."),
        "ipFamilyPolicy": _s("SingleStack, PreferDualStack or RequireDualStack.",
                             enum=("PreferDualStack", "RequireDualStack", "SingleStack")),
        "externalIPs": Field("[]string", "Addresses outside the cluster that also reach the Service."),
        "externalName": _s("The DNS name an ExternalName Service stands for."),
        "sessionAffinity": _s("ClientIP or None.", enum=("ClientIP", "None")),
        "internalTrafficPolicy": _s("Cluster or Local.", enum=("Cluster", "Local")),
        "externalTrafficPolicy": _s("Cluster or Local.", enum=("Cluster", "Local")),
        "publishNotReadyAddresses": Field("boolean", "Whether endpoints that are not ready are published."),
        "loadBalancerIP": _s("A requested load balancer address (deprecated)."),
        "loadBalancerClass": _s("The load balancer implementation a LoadBalancer Service asks for."),
        "loadBalancerSourceRanges": Field("[]string", "Client ranges a load balancer lets in."),
        "allocateLoadBalancerNodePorts": Field("boolean", "Whether node ports are allocated for a LoadBalancer Service."),
        "healthCheckNodePort": Field("integer", "The health check node port of a Local-policy LoadBalancer Service."),
        "sessionAffinityConfig": Field("SessionAffinityConfig", "Session affinity settings."),
        "trafficDistribution": _s("How traffic is spread over the endpoints (a preference)."),
    }),
    "status": Field("ServiceStatus", "The observed state of the Service.", {
        "loadBalancer": Field("LoadBalancerStatus", "The load balancer's addresses, if any."),
        "conditions": Field("[]Condition", "Observations of the Service's state.", _CONDITION.fields),
    }),
})

#: every served kind's schema, by kind
KINDS: Dict[str, Field] = {"ServiceCIDR": SERVICE_CIDR, "IPAddress": IP_ADDRESS, "Service": SERVICE}


def field_at(kind: str, path: List[str]) -> Field:
    """The field at ``path`` (``["spec", "ports"]``) of a kind; :class:`FieldNotFound` if none."""
    node: Optional[Field] = KINDS.get(kind)
    if node is None:
        raise FieldNotFound(kind)
    for i, part in enumerate(path):
        node = node.fields.get(part)
        if node is None:
            raise FieldNotFound(".".join(path[:i + 1]))
    return node
