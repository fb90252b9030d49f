"""A small kopf operator for the end-to-end test (tests/test_kopf_operator.py): it tracks the
Services labelled ``tracked=yes`` in files under ``$TRACKER_DIR``. The delete handler makes kopf
put its finalizer on each Service, so a deletion waits until the handler has run."""
from __future__ import annotations

import os
import pathlib

import kopf

OUT = pathlib.Path(os.environ["TRACKER_DIR"])
SELECTOR = {"tracked": "yes"}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.watching.server_timeout = 10
    settings.persistence.finalizer = "tracker.example.com/finalizer"


@kopf.on.create("v1", "services", labels=SELECTOR)
def created(name: str, spec: kopf.Spec, body: kopf.Body, logger: kopf.Logger, **_: object) -> None:
    (OUT / f"created-{name}").write_text(str(spec.get("clusterIP", "")))
    logger.info(f"tracking {name}")
    # a core/v1 Event about the Service, posted by kopf in the background
    kopf.info(body, reason="Tracked", message=f"tracking {name} at {spec.get('clusterIP')}")


@kopf.on.update("v1", "services", labels=SELECTOR, field="metadata.labels")
def relabelled(name: str, new: object, **_: object) -> None:
    (OUT / f"updated-{name}").write_text(repr(sorted((new or {}).items())))  # type: ignore[attr-defined]


@kopf.on.delete("v1", "services", labels=SELECTOR)
def deleted(name: str, meta: kopf.Meta, **_: object) -> None:
    # the Service is still there, marked for deletion, until this handler returns
    (OUT / f"deleted-{name}").write_text(str(meta.get("deletionTimestamp")))
