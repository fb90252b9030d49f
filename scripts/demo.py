#!/usr/bin/env python3
"""The Kubernetes "Extend Service IP Ranges" walkthrough, run with ``fastcidr`` instead of a cluster.

    make demo                  # creates .venv, builds the core, runs this
    .venv/bin/python scripts/demo.py [--keep]

Every step is the documentation's shell command with ``kubectl`` replaced by ``fastcidr``, run
through ``bash`` against a throw-away SQLite store (``FASTCIDR_STORE`` points at a temporary
file, removed at the end unless ``--keep``). Each command is printed after ``$``, followed by what
it printed (stdout and stderr, in order). ``jq`` is used when installed; otherwise a small Python
stand-in answers the one filter the walkthrough needs (``jq -r .spec.clusterIP``).

The exit status is 0 when every step behaved as the documentation says (including the two steps
that must fail: the full range and the final NotFound), 1 otherwise.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The seed document's steps: (command, exit status the document shows).
STEPS: List[Tuple[str, str, int]] = [
    ("The control plane keeps a ServiceCIDR named 'kubernetes' for --service-cluster-ip-range "
     "(here a /28, so the range fills up quickly).",
     "fastcidr init --service-cluster-ip-range 10.96.0.0/28", 0),
    ("", "fastcidr get servicecidr", 0),
    ("The 'kubernetes' Service takes the first address of the range...",
     "fastcidr get service kubernetes", 0),
    ("...and owns the matching IPAddress object.", "fastcidr get ipaddress 10.96.0.1", 0),
    ("The documentation's cluster (kubeadm) also runs kube-dns on the range's 10th address; "
     "add it so the numbers below match the documentation.",
     "fastcidr create service clusterip kube-dns --tcp 53 --clusterip 10.96.0.10 -n kube-system", 0),
    ("A /28 holds 14 addresses; 'kubernetes' and 'kube-dns' have two, so the 13th Service finds "
     "the range full.",
     'for i in $(seq 1 13); do fastcidr create service clusterip "test-$i" --tcp 80 -o json '
     "| jq -r .spec.clusterIP; done", 0),
    ("Add room with a second ServiceCIDR.",
     "cat <<EOF | fastcidr apply -f -\n"
     "apiVersion: networking.k8s.io/v1\n"
     "kind: ServiceCIDR\n"
     "metadata:\n"
     "  name: newcidr1\n"
     "spec:\n"
     "  cidrs:\n"
     "  - 10.96.0.0/24\n"
     "EOF", 0),
    ("New Services take addresses from the new range.",
     'for i in $(seq 13 16); do fastcidr create service clusterip "test-$i" --tcp 80 -o json '
     "| jq -r .spec.clusterIP; done", 0),
    ("Deleting a ServiceCIDR that still holds Service addresses leaves it Terminating.",
     "fastcidr delete servicecidr newcidr1 --wait=false", 0),
    ("The finalizer and the Ready=False/Terminating condition say why.",
     "fastcidr get servicecidr newcidr1 -o yaml", 0),
    ("", "fastcidr describe servicecidr newcidr1", 0),
    ("Remove the Services that use it...",
     'for i in $(seq 13 16); do fastcidr delete service "test-$i" ; done', 0),
    ("...and the ServiceCIDR is gone.", "fastcidr get servicecidr newcidr1", 1),
]

# What `jq -r .spec.clusterIP` does, for machines without jq.
JQ_STANDIN = r'''
jq() {
  if [ "$1" = "-r" ] && [ "$2" = ".spec.clusterIP" ]; then
    "$FASTCIDR_DEMO_PYTHON" -c 'import json,sys
data = sys.stdin.read()
if data.strip():
    print(json.loads(data).get("spec", {}).get("clusterIP") or "null")'
  else
    echo "demo: jq is not installed and only 'jq -r .spec.clusterIP' is emulated" >&2; return 2
  fi
}
'''

FASTCIDR_STANDIN = r'''
fastcidr() { "$FASTCIDR_DEMO_PYTHON" -m fastcidr "$@"; }
'''


def run(command: str, env: dict) -> Tuple[int, str]:
    preamble = ""
    if shutil.which("jq", path=env["PATH"]) is None:
        preamble += JQ_STANDIN
    if shutil.which("fastcidr", path=env["PATH"]) is None:
        preamble += FASTCIDR_STANDIN
    proc = subprocess.run(["bash", "-c", preamble + command], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout


def main(argv: List[str]) -> int:
    keep = "--keep" in argv
    workdir = tempfile.mkdtemp(prefix="fastcidr-demo-")
    store = os.path.join(workdir, "fastcidr.db")
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["FASTCIDR_STORE"] = store
    env["FASTCIDR_DEMO_PYTHON"] = sys.executable
    src = os.path.join(ROOT, "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    print(f"# fastcidr walkthrough (Kubernetes 'Extend Service IP Ranges'), store: {store}")
    print("# kubectl is replaced by fastcidr; no cluster is needed.\n")
    failures = 0
    try:
        for note, command, expected in STEPS:
            if note:
                print(f"# {note}")
            print("$ " + command)
            status, output = run(command, env)
            sys.stdout.write(output)
            if status != expected:
                failures += 1
                print(f"# !! exit status {status}, the documentation expects {expected}")
            print()
            sys.stdout.flush()
    finally:
        if keep:
            print(f"# store kept: FASTCIDR_STORE={shlex.quote(store)}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print(f"# {failures} step(s) did not behave as documented")
        return 1
    print("# every step behaved as the Kubernetes documentation describes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
