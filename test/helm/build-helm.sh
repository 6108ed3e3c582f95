#!/usr/bin/env bash
# Builds helm ($HELM_VERSION) from its Go module through the Go module proxy into a cache directory
# keyed by the version, for the Skaffold e2e suite's `manifests.helm.releases` (devloop runs
# `helm template`; no helm is installed on the test machine). A second run with the binary present
# does nothing. Prints the bin directory on stdout.
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-v3.19.0}
cache=${DEVLOOP_CLUSTER_CACHE:-$HOME/.cache/devloop-cluster}
bin=$cache/helm-$HELM_VERSION/bin

if [ -x "$bin/helm" ] && [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
echo "building helm $HELM_VERSION into $bin (cold: several minutes on 2 cores)" >&2
# `go install module@version` honours no replace directives; helm v3 has none, so it builds as released.
GOBIN="$bin.tmp" CGO_ENABLED=0 nice go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
mv "$bin.tmp/helm" "$bin/helm"
rmdir "$bin.tmp" 2>/dev/null || true
touch "$bin/.complete"
echo "$bin"
