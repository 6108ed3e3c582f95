#!/usr/bin/env bash
# Builds the test cluster's CoreDNS ($COREDNS_VERSION, the module in coredns/: CoreDNS with only the
# plugins up.sh's Corefile uses) into a cache directory keyed by the pinned version. A second run
# with the binary present does nothing. Prints the bin directory on stdout.
# A module of its own, not part of build/: CoreDNS's dependencies (client-go, grpc, prometheus, ...)
# would otherwise be resolved together with k8s.io/kubernetes and could move the versions the
# Kubernetes components are built with.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"

if [ -x "$COREDNS_BIN/coredns" ] && [ -f "$COREDNS_BIN/.complete" ]; then
  echo "$COREDNS_BIN"
  exit 0
fi
grep -q "github.com/coredns/coredns $COREDNS_VERSION\$" "$here/coredns/go.mod" ||
  { echo "coredns/go.mod does not require github.com/coredns/coredns $COREDNS_VERSION (COREDNS_VERSION in env.sh)" >&2; exit 1; }

mkdir -p "$COREDNS_BIN"
echo "building CoreDNS $COREDNS_VERSION into $COREDNS_BIN (cold: 2.5-5 minutes on 2 cores, longer on a slow network)" >&2
cd "$here/coredns"
ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$COREDNS_BIN/coredns.tmp" . >&2
mv "$COREDNS_BIN/coredns.tmp" "$COREDNS_BIN/coredns"
touch "$COREDNS_BIN/.complete"
echo "$COREDNS_BIN"
