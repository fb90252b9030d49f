#!/usr/bin/env bash
# Installs what the tests need beyond Python: etcd (Debian's etcd-server), jq, openssl and,
# on x86_64, the aarch64 cross compiler.
# Idempotent; a no-op when both are present. Needs root (or sudo) for apt-get.
set -euo pipefail
# kubectl (>= 1.31, for ServiceCIDR/IPAddress) ships with this project's machine image; Debian's own
# kubernetes-client is 1.20 and too old, so nothing is installed here: the server tests fail (not skip)
# under CI=true when it is missing.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-tools: kubectl not found; the kubectl tests will fail (put kubectl >= 1.31 on PATH)" >&2
fi

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # test certificates for etcd over TLS
# the core's C must also compile for 64-bit ARM (the aarch64 wheels): tests/test_portability.py
if [ "$(uname -m)" = x86_64 ]; then
  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "install-tools: installing ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null

