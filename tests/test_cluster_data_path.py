"""The create path of a Service from a manifest: read once, validated once, not rebuilt; a
caller's own Service object is left as it was."""
from __future__ import annotations

import types
from typing import Any, List

import pytest

from fastcidr.k8s import allocation, objects
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.objects import Service


def _manifest(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.7", "ports": [{"port": 80}], "selector": {"app": name}}}


def test_manifest_service_is_read_once_and_validated_once(backend: types.ModuleType,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    built: List[Any] = []
    validated: List[Any] = []
    real_init = Service.__init__
    real_validate = allocation.V.validate_service

    def counting_init(self: Service, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("name"))
        real_init(self, *args, **kwargs)

    def counting_validate(svc: Any) -> Any:
        validated.append(svc.name)
        return real_validate(svc)

    with Cluster("10.96.0.0/28") as cluster:
        monkeypatch.setattr(Service, "__init__", counting_init)
        monkeypatch.setattr(allocation.V, "validate_service", counting_validate)
        created = cluster.create(_manifest("web"))
        monkeypatch.undo()
    assert created.cluster_ip == "10.96.0.7" and created.selector == {"app": "web"}
    assert built == ["web"]  # Service.from_dict, nothing rebuilt after it
    assert validated == ["web"]


def test_a_callers_service_object_is_not_changed(backend: types.ModuleType) -> None:
    mine = objects.Service.from_dict(_manifest("db"))
    before = repr(mine)
    with Cluster("10.96.0.0/28") as cluster:
        created = cluster.create(mine)
        assert created.uid and created.ip_families == ["IPv4"]
        assert repr(mine) == before and mine.uid == "" and mine.ip_families == []
        again = cluster.create(_manifest("db2") | {"spec": {"ports": [{"port": 5432}]}})
        assert again.cluster_ip not in (None, "10.96.0.7") and again.ip_family_policy == "SingleStack"
