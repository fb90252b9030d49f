"""``fastcidr label`` / ``annotate`` (issue 13 item 4): kubectl's messages, the --overwrite rule,
--all / -l, --list, and the write going through the Cluster (the object changes in the store)."""
from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Callable

import pytest

from fastcidr import cli
from tests.helpers import Result

Run = Callable[..., Result]


@pytest.fixture
def run(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("FASTCIDR_STORE", str(tmp_path / "fastcidr.db"))

    def invoke(command: Any) -> Result:
        argv = command.split() if isinstance(command, str) else list(command)
        capsys.readouterr()
        status = cli.main(argv)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    assert invoke("init --service-cluster-ip-range 10.96.0.0/28").status == 0
    for name in ("web", "db"):
        assert invoke(f"create service clusterip {name} --tcp 80").status == 0
    return invoke


def test_label_sets_changes_and_removes_with_kubectls_messages(run: Run) -> None:
    assert run("label svc web tier=front") == (0, "service/web labeled\n", "")
    assert run("label svc web tier=back") == (
        1, "", "error: 'tier' already has a value (front), and --overwrite is false\n")
    assert run("label svc web tier=front") == (0, "service/web not labeled\n", "")
    assert run("label svc web tier=back --overwrite") == (0, "service/web labeled\n", "")
    assert run("get svc web -o jsonpath={.metadata.labels.tier}").out == "back"
    assert run("label svc web tier-") == (0, "service/web unlabeled\n", "")
    assert run("label svc web tier-") == (0, 'label "tier" not found.\nservice/web not labeled\n', "")
    assert run("get svc web -o jsonpath={.metadata.labels}").out == '{"app":"web"}'


def test_label_refusals(run: Run) -> None:
    assert run("label svc web") == (1, "", "error: at least one label update is required\n")
    assert run("label svc web a=1 a-") == (
        1, "", "error: can not both modify and remove a label in the same command\n")
    assert run(["label", "svc", "web", "a=x y"]).err.startswith('error: invalid label value: "a=x y": a valid label')
    assert run("label svc a=1") == (1, "", "error: resource(s) were provided, but no name was specified\n")
    assert run("label svc --all -l app a=1") == (
        1, "", "error: cannot set --all and --selector at the same time\n")
    assert run("label svc nothere a=1") == (1, "", 'Error from server (NotFound): services "nothere" not found\n')
    assert run("get svc -l a") == (0, "", "No resources found in default namespace.\n")


def test_label_all_selector_list_dry_run_and_name_output(run: Run) -> None:
    assert run("label svc --all team=x") == (
        0, "service/db labeled\nservice/kubernetes labeled\nservice/web labeled\n", "")
    assert run("label svc -l app=web team-") == (0, "service/web unlabeled\n", "")
    assert run("label svc web c=1 --dry-run=client") == (0, "service/web labeled (dry run)\n", "")
    assert run("label svc web --list") == (0, "app=web\n", "")
    assert run("label svc/web svc/db -o name w=1") == (0, "service/web\nservice/db\n", "")
    assert run("get svc -l w=1,team=x -o name").out == "service/db\n"
    assert run("label servicecidr kubernetes net=main") == (
        0, "servicecidr.networking.k8s.io/kubernetes labeled\n", "")
    assert run("get servicecidr -l net=main -o name").out == "servicecidr.networking.k8s.io/kubernetes\n"


def test_annotate(run: Run) -> None:
    assert run("annotate svc web note=hi") == (0, "service/web annotated\n", "")
    assert run("annotate svc web note=hi") == (
        1, "", "error: --overwrite is false but found the following declared annotation(s): "
               "'note' already has a value (hi)\n")
    assert run("annotate svc web note=x --overwrite") == (0, "service/web annotated\n", "")
    assert run("get svc web -o jsonpath={.metadata.annotations.note}").out == "x"
    assert run("annotate svc web note-") == (0, "service/web annotated\n", "")
    assert run("annotate svc web note-") == (0, "service/web annotated\n", "")
    assert run("annotate svc web") == (1, "", "error: at least one annotation update is required\n")
