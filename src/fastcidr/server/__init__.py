"""A Kubernetes-API-compatible HTTP server over a :class:`fastcidr.Cluster` (API.md "Server")."""
from __future__ import annotations
