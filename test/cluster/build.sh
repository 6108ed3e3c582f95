#!/usr/bin/env bash
# Builds the test cluster's Kubernetes components (one multi-call binary `kube`, linked under each
# component's name) into a cache directory keyed by the pinned version. A second run with the
# binaries present does nothing. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"

if [ -x "$CLUSTER_BIN/kube" ] && [ -f "$CLUSTER_BIN/.complete" ]; then
  echo "$CLUSTER_BIN"
  exit 0
fi

mkdir -p "$CLUSTER_BIN"
pkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
ldflags="-s -w"
for p in $pkg $cpkg; do
  ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
echo "building Kubernetes $KUBE_VERSION components into $CLUSTER_BIN (cold: about 5 minutes on 2 cores, longer on a slow network)" >&2
cd "$here/build"
GOFLAGS=-mod=mod GONOSUMDB=k8s.io,sigs.k8s.io CGO_ENABLED=0 \
  go build -trimpath -ldflags "$ldflags" -o "$CLUSTER_BIN/kube.tmp" . >&2
mv "$CLUSTER_BIN/kube.tmp" "$CLUSTER_BIN/kube"
for c in etcd kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet; do
  ln -sf kube "$CLUSTER_BIN/$c"
done
touch "$CLUSTER_BIN/.complete"
echo "$CLUSTER_BIN"
