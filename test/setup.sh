#!/usr/bin/env bash
# Sets up everything devloop's tests and demo need on a fresh Debian machine, idempotently:
# npm dependencies, the compiled CLI, the fixtures' base root filesystems, the Docker engine, the
# fixtures' Debian base images (fixtures/images.sh: built once from Debian's packages, then reused),
# and the project's own single-node Kubernetes cluster with its local registry (test/cluster/).
# Prints `export KUBECONFIG=...` for the cluster at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dependencies"
  npm ci --no-audit --no-fund >&2
fi

step "compiling devloop"
npx tsc -p tsconfig.json >&2

step "assembling fixture base images"
bash fixtures/prepare.sh

step "starting the Docker engine"
bash test/cluster/docker-up.sh >&2

step "assembling the fixtures' Debian images (Node.js, Go; a cold first run: a few minutes)"
bash fixtures/images.sh

step "starting the Kubernetes cluster (a cold first run builds it: about 5 minutes)"
bash test/cluster/up.sh >&2

source test/cluster/env.sh
echo "export KUBECONFIG=$KUBECONFIG_PATH"
